package instance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/console"
	"github.com/odyssey-go/odyssey/src/auth"
	"github.com/odyssey-go/odyssey/src/auth/hba"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/internal/tlsconf"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/route"
)

// Version names the pooler in --version, SHOW VERSION and the log.
const Version = "Odyssey-Go 0.1.0"

// Instance is a running pooler: its listeners, router and client sessions.
type Instance struct {
	cfg    atomic.Pointer[config.Config]
	router *route.Router

	ctx    context.Context // cancelled by Close: aborts waits for servers
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners []net.Listener
	closing   bool

	accepting sync.WaitGroup // accept loops
	clients   sync.WaitGroup // frontend goroutines

	nextClientID atomic.Uint64
	cancelKeys   keyRegistry
	sessions     sessionRegistry

	errs      errorCounts   // refused logins by SQLSTATE, for SHOW ERRORS
	stats     statsKeeper   // per-database averages over stats_interval
	suspended atomic.Bool   // the console's SUSPEND is in force
	done      chan struct{} // closed by Close
	once      sync.Once

	// OnReload, when set, runs with a newly loaded configuration before
	// ReloadFile applies it (the binary reconfigures logging there).
	OnReload func(*config.Config)

	auth *auth.Authenticator
	hba  atomic.Pointer[hba.File] // nil: no hba_file, everyone may try

	// listenTLS is the TLS setup of each listen block, by its position in
	// the configuration; Reload stores new ones. served maps the blocks
	// that Start serves to theirs; it is written before the accept loops
	// start and only read afterwards.
	listenTLS []*listenTLS
	served    map[*config.Listen]*listenTLS
}

// New builds an instance from a validated configuration. Nothing listens
// until Start.
func New(cfg *config.Config) (*Instance, error) {
	if cfg == nil {
		return nil, errors.New("nil config")
	}
	hbaFile, err := loadHBA(cfg)
	if err != nil {
		return nil, err
	}
	sec, err := loadListenTLS(cfg)
	if err != nil {
		return nil, err
	}
	router, err := route.Open(cfg)
	if err != nil {
		return nil, err
	}
	i := &Instance{router: router}
	for _, s := range sec {
		h := new(listenTLS)
		h.Store(s)
		i.listenTLS = append(i.listenTLS, h)
	}
	i.cfg.Store(cfg)
	i.hba.Store(hbaFile)
	i.auth = auth.New(auth.NewSecretCache(i.authQueryServer, auth.DefaultSecretTTL), auth.DefaultVerifiers())
	i.ctx, i.cancel = context.WithCancel(context.Background())
	i.done = make(chan struct{})
	i.cancelKeys.keys = map[cancelKey]canceler{}
	i.sessions.m = map[uint64]*clientRecord{}
	if cfg.Workers > 0 {
		runtime.GOMAXPROCS(cfg.Workers)
	}
	return i, nil
}

// Config returns the configuration in force.
func (i *Instance) Config() *config.Config { return i.cfg.Load() }

// Router returns the instance's router.
func (i *Instance) Router() *route.Router { return i.router }

// Start opens every listen block's sockets and starts accepting.
func (i *Instance) Start() error {
	cfg := i.cfg.Load()
	i.served = make(map[*config.Listen]*listenTLS, len(cfg.Listen))
	for k, ln := range cfg.Listen {
		if k < len(i.listenTLS) {
			i.served[ln] = i.listenTLS[k]
		}
	}
	for _, ln := range cfg.Listen {
		addrs, err := listenAddrs(cfg, ln)
		if err != nil {
			i.Close()
			return err
		}
		for _, a := range addrs {
			l, err := listen(a.network, a.address, cfg.UnixSocketMode)
			if err != nil {
				i.Close()
				return fmt.Errorf("listen on %s %s: %w", a.network, a.address, err)
			}
			i.mu.Lock()
			i.listeners = append(i.listeners, l)
			i.mu.Unlock()
			log.L.WithField("addr", l.Addr().String()).Info("listening")
			i.accepting.Add(1)
			go i.accept(l, ln)
		}
	}
	go i.statsLoop()
	go i.shedLoop()
	return nil
}

type listenAddr struct{ network, address string }

func listenAddrs(cfg *config.Config, ln *config.Listen) ([]listenAddr, error) {
	var out []listenAddr
	if ln.Host != "" {
		host := ln.Host
		if host == "*" {
			host = ""
		}
		out = append(out, listenAddr{"tcp", net.JoinHostPort(host, strconv.Itoa(ln.Port))})
	}
	if cfg.UnixSocketDir != "" {
		out = append(out, listenAddr{"unix", filepath.Join(cfg.UnixSocketDir, fmt.Sprintf(".s.PGSQL.%d", ln.Port))})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("listen block at %s has neither host nor unix_socket_dir", ln.Range)
	}
	return out, nil
}

// clientListenConfig turns TCP keepalive on for clients with Odyssey's
// defaults: the first probe after 15 s idle, then the system's interval and
// probe count (75 s and 9 on Linux, Odyssey's too). Go's own default would
// set those two as well: two more setsockopt calls for every client.
var clientListenConfig = net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
	Enable: true, Idle: 15 * time.Second, Interval: -1, Count: -1,
}}

func listen(network, address string, mode os.FileMode) (net.Listener, error) {
	if network == "unix" {
		// A socket file left by a previous run would make bind fail.
		if fi, err := os.Stat(address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(address)
		}
	}
	l, err := clientListenConfig.Listen(context.Background(), network, address)
	if err != nil {
		return nil, err
	}
	if network == "unix" && mode != 0 {
		if err := os.Chmod(address, mode); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Addrs returns the bound addresses, in listen block order.
func (i *Instance) Addrs() []net.Addr {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]net.Addr, 0, len(i.listeners))
	for _, l := range i.listeners {
		out = append(out, l.Addr())
	}
	return out
}

func (i *Instance) accept(l net.Listener, ln *config.Listen) {
	defer i.accepting.Done()
	var delay time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.L.WithError(err).Warn("accept")
			time.Sleep(delay)
			continue
		}
		delay = 0
		cfg := i.cfg.Load()
		if cfg.ClientMax > 0 && i.router.TotalClients() >= cfg.ClientMax {
			// Checked again, race-free, by the route; this early check
			// spares the startup exchange.
			go refuseFast(conn, pgerr.Fatalf(pgerr.TooManyConnections, "too many clients already"))
			continue
		}
		i.clients.Add(1)
		go func() {
			defer i.clients.Done()
			if c := i.frontend(i.ctx, conn, ln, cfg); c != nil {
				i.relayClient(c)
			}
		}()
	}
}

func refuseFast(conn net.Conn, pe *pgerr.Error) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write(pe.AppendFrame(nil))
}

// Reload swaps in a new configuration: new clients follow the new rules,
// routes whose rule did not change keep their pools, the others drain.
// Listen blocks are not re-bound; a change there needs a restart.
func (i *Instance) Reload(cfg *config.Config) error {
	hbaFile, err := loadHBA(cfg)
	if err != nil {
		return err
	}
	old := i.cfg.Load()
	// Certificates are read first, so that a reload whose files cannot be
	// read changes nothing. They apply to the listen block in the same
	// position; a changed number of blocks needs a restart.
	var sec []*tlsconf.Server
	if len(cfg.Listen) == len(i.listenTLS) {
		if sec, err = loadListenTLS(cfg); err != nil {
			return err
		}
	}
	if !sameListen(old.Listen, cfg.Listen) || old.UnixSocketDir != cfg.UnixSocketDir {
		log.L.Warn("listen settings changed: restart the pooler to apply them")
	}
	if err := i.router.Reload(cfg); err != nil {
		return err
	}
	for k, s := range sec {
		i.listenTLS[k].Store(s)
	}
	i.cfg.Store(cfg)
	i.hba.Store(hbaFile)
	if cfg.Workers > 0 {
		runtime.GOMAXPROCS(cfg.Workers)
	}
	log.L.WithField("config", cfg.Path).Info("configuration reloaded")
	return nil
}

func sameListen(a, b []*config.Listen) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		x, y := *a[k], *b[k]
		x.Range, y.Range = y.Range, x.Range
		// TLS settings are applied by Reload.
		x.TLS, x.TLSCertFile, x.TLSKeyFile, x.TLSCAFile, x.TLSProtocols = y.TLS, y.TLSCertFile, y.TLSKeyFile, y.TLSCAFile, y.TLSProtocols
		if x != y {
			return false
		}
	}
	return true
}

// Shutdown stops accepting, ends every client session between transactions
// (FATAL 57P01), and waits for them until ctx is done; then it closes what
// is left.
func (i *Instance) Shutdown(ctx context.Context) error {
	i.stopAccepting()
	pe := pgerr.Fatalf(pgerr.AdminShutdown, "terminating connection due to administrator command")
	i.sessions.each(func(c *clientRecord) { c.terminate(pe) })
	done := make(chan struct{})
	go func() {
		i.clients.Wait()
		close(done)
	}()
	select {
	case <-done:
		i.Close()
		return nil
	case <-ctx.Done():
		i.Close()
		return ctx.Err()
	}
}

func (i *Instance) stopAccepting() {
	i.mu.Lock()
	ls := i.listeners
	i.listeners = nil
	i.closing = true
	i.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	i.accepting.Wait()
}

// Close stops everything now: listeners, clients, pools.
func (i *Instance) Close() {
	i.stopAccepting()
	i.cancel()
	i.sessions.each(func(c *clientRecord) { c.close() })
	i.clients.Wait()
	i.router.Close()
	i.once.Do(func() { close(i.done) })
}

// relaying reports whether any client other than a console's is logged in.
func (i *Instance) relaying() bool {
	for _, c := range i.sessions.list() {
		if c.sess != nil {
			return true
		}
	}
	return false
}

// Done is closed once Close has finished, also when the console's
// SHUTDOWN called it.
func (i *Instance) Done() <-chan struct{} { return i.done }

// ReloadFile reads the configuration file again and applies it (SIGHUP,
// the console's RELOAD). A file that does not load changes nothing and the
// error, with file:line:col, says why.
func (i *Instance) ReloadFile() error {
	path := i.Config().Path
	if path == "" {
		return errors.New("the configuration was not read from a file")
	}
	next, err := config.Load(path)
	if err != nil {
		return err
	}
	if i.OnReload != nil {
		i.OnReload(next)
	}
	return i.Reload(next)
}

// shutdownFromConsole carries out the console's SHUTDOWN: at once, once
// every server is released (WAIT_FOR_SERVERS: a pause of everything), or
// once every client but the consoles' has left (WAIT_FOR_CLIENTS). New
// clients are refused from the start.
func (i *Instance) shutdownFromConsole(mode console.ShutdownMode) {
	log.L.WithField("mode", mode.String()).Info("SHUTDOWN from the console")
	i.stopAccepting()
	switch mode {
	case console.ShutdownWaitForServers:
		if err := i.pauseAll(); err != nil {
			log.L.WithError(err).Warn("SHUTDOWN WAIT_FOR_SERVERS")
		}
	case console.ShutdownWaitForClients:
		for i.relaying() {
			select {
			case <-i.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	i.Close()
}

// shuttingDown reports whether Shutdown or Close has begun.
func (i *Instance) shuttingDown() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.closing
}
