package relay

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/stats"
	"github.com/sirupsen/logrus"
)

// Mode is a pool mode: when a server may leave its client.
type Mode int

const (
	// SessionMode keeps the server until the client disconnects.
	SessionMode Mode = iota
	// TransactionMode releases the server at the end of each transaction.
	TransactionMode
	// StatementMode releases the server after each statement and refuses
	// multi-statement transactions.
	StatementMode
)

// cleanupTimeout bounds how long a server may take to become clean after its
// client left (cancel, rollback, settings read-back) before it is closed.
const cleanupTimeout = 10 * time.Second

// Pool is what the relay needs from a server pool.
type Pool interface {
	Acquire(ctx context.Context) (*backend.Server, error)
	Release(*backend.Server)
	Discard(*backend.Server)
}

// Options are a route's relay settings.
type Options struct {
	Mode     Mode
	Cancel   bool // pool_cancel: cancel the query of a client that left
	Rollback bool // pool_rollback: roll back the transaction of a client that left
	Discard  bool // pool_discard: DISCARD ALL before a server goes back to the pool
	// ClientIdleTimeout closes a client idle outside a transaction
	// (pool_client_idle_timeout); IdleInTransactionTimeout one idle inside a
	// transaction (pool_idle_in_transaction_timeout). 0: no limit.
	ClientIdleTimeout        time.Duration
	IdleInTransactionTimeout time.Duration
	// ForwardErrors forwards PostgreSQL's error when a server cannot be had
	// (client_fwd_error); otherwise the client sees 08006.
	ForwardErrors bool
	// PreparedStatements keeps protocol-level named prepared statements
	// working across servers (pool_reserve_prepared_statement); only in
	// transaction and statement modes. See prepared.go.
	PreparedStatements bool
	// Stats receives the session's traffic figures, once per transaction
	// (stats.go); nil keeps them for Session.Counters.
	Stats *stats.Counters
	// ClientID is the client's id, set in backend.Server.Client while a
	// server is linked to it.
	ClientID uint64
}

// Session relays one client. Create it with New, optionally Login, then Run.
type Session struct {
	opts  Options
	pool  Pool
	conn  net.Conn
	cr    *wire.Reader
	cw    *bufio.Writer // nil while parked (idle.go); use out()
	lossy *lossyConn
	// readable waits for the client socket without a read buffer; nil
	// for TLS and other non-socket connections (idle.go).
	readable *readWait
	ctx      context.Context
	cancel   func(ctx context.Context, srv *backend.Server) error

	// vars are the client's session settings. They belong to whoever holds
	// the attach: the client goroutine while unattached, the server goroutine
	// while it detaches.
	vars map[string]string

	// prep says whether statements are renamed (prepared.go); stmts maps
	// the client's statement names, made at the first Parse. done receives
	// one value when a server goroutine exits; running says whether one is
	// outstanding. All four belong to the client goroutine.
	prep, running bool
	stmts         map[string]*preparedStmt
	done          chan struct{}
	// end receives the session's result when it runs under Go (shed.go);
	// set before it starts.
	end func(error)

	cancels sync.WaitGroup // cancel requests in flight to the attached server

	mu             sync.Mutex
	written        sync.Cond // signalled when writing drops
	server         *backend.Server
	pending        int  // requests still owed a ReadyForQuery
	inBatch        bool // extended-protocol messages sent since the last Sync
	copyIn         bool // the server is in COPY FROM STDIN (CopyInResponse seen)
	clientCopy     bool // the client is sending COPY data
	writing        bool // the client goroutine is using server.W
	parked         bool // the client goroutine waits for the client to speak (idle.go)
	shed           bool // Shed asked the client goroutine to move (shed.go)
	shedDone       bool // it has moved since the client's last transaction
	syncsSinceExec int  // Syncs sent since the last Execute or Query
	txStatus       byte
	gone           bool            // the client will send nothing more
	goneFlag       atomic.Bool     // gone, readable without mu on the per-frame path
	broken         bool            // the server's stream is in an unknown state
	varsDirty      bool            // a query may have changed settings
	preparedDirty  bool            // the server's prepared statements are not known
	stateDirty     bool            // a query may have created or dropped session state (pin.go)
	pinned         *backend.Server // kept between transactions while it holds session state
	queue          []expectation
	qhead          int
	stop           *pgerr.Error // set by Terminate: end the session when idle
	idleSince      time.Time    // when armIdle last ran

	// Traffic figures (stats.go), guarded by mu: what has not been flushed
	// to opts.Stats, what Counters reports without it (made at the first
	// transaction: with opts.Stats, never), and when the request being
	// answered and the current transaction reached a server (zero: none).
	batch      stats.Batch
	unreported *stats.Snapshot
	reqStart   time.Time
	xactStart  time.Time
	// info is what Info reads without mu.
	info info
}

// New returns a Session for a client connection whose startup is done. r and
// the buffered writer w must be the ones the startup used, so that no bytes
// are lost. vars are the client's startup settings.
func New(ctx context.Context, conn net.Conn, r *wire.Reader, pool Pool, opts Options, vars map[string]string) *Session {
	lc := &lossyConn{Conn: conn}
	s := &Session{
		opts:     opts,
		pool:     pool,
		conn:     conn,
		cr:       r,
		lossy:    lc,
		readable: newReadWait(conn),
		ctx:      ctx,
		vars:     vars,
		done:     make(chan struct{}, 1),
		txStatus: 'I',
		cancel: func(ctx context.Context, srv *backend.Server) error {
			return srv.Cancel(ctx)
		},
		batch: stats.NewBatch(opts.Stats),
	}
	s.info.connected = time.Now()
	if s.vars == nil {
		s.vars = map[string]string{}
	}
	s.written.L = &s.mu
	s.prep = opts.PreparedStatements && opts.Mode != SessionMode
	return s
}

// Writer is the buffered writer to the client. It may be used by the caller
// only before Run and after Run returns.
func (s *Session) Writer() *bufio.Writer { return s.out() }

// Close closes the client connection; Run then cleans up and returns.
func (s *Session) Close() { _ = s.conn.Close() }

// TxStatus is the client's transaction status as of the last ReadyForQuery.
func (s *Session) TxStatus() byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txStatus
}

// Login returns the ParameterStatus set the client should see and, in
// session mode, the server's process id. In session mode it attaches a
// server with the client's settings applied, which stays attached. In the
// other modes it answers from what an earlier login with the same settings
// got from the pool (see hellos.go), so that a client can log in while
// every server is busy; only the first login with given settings attaches
// a server, which goes straight back to the pool. Errors are *pgerr.Error,
// FATAL, ready to send. The map must not be modified.
func (s *Session) Login() (params map[string]string, pid uint32, err error) {
	hellos, _ := s.pool.(helloCache)
	var key string
	if hellos != nil && s.opts.Mode != SessionMode {
		key = settingsKey(s.vars)
		if params, ok := hellos.Params(key); ok {
			return params, 0, nil
		}
	}
	if _, err := s.attach(false); err != nil {
		return nil, 0, s.loginError(err)
	}
	s.mu.Lock()
	srv := s.server
	s.mu.Unlock()
	params = make(map[string]string, len(srv.Params))
	for k, v := range srv.Params {
		params[k] = v
	}
	if s.opts.Mode == SessionMode {
		return params, srv.PID, nil
	}
	s.mu.Lock()
	s.setServerLocked(nil)
	s.mu.Unlock()
	s.release(srv)
	if hellos != nil {
		hellos.LearnParams(key, params)
	}
	return params, 0, nil
}

// Run relays until the client leaves or a fatal error, then cleans up the
// attached server. It returns nil when the client left normally.
func (s *Session) Run() error {
	s.begin()
	return s.conclude(s.serveClient())
}

// begin starts what Run runs: the server goroutine of a server attached at
// login, and the idle timeouts.
func (s *Session) begin() {
	s.mu.Lock()
	srv := s.server
	s.mu.Unlock()
	if srv != nil {
		s.startServer(srv)
	} else {
		s.parkWriter() // the caller has flushed the login answers
	}
	s.armIdle()
}

// conclude cleans up after serveClient returned err and returns Run's
// result.
func (s *Session) conclude(err error) error {
	s.finish()
	s.cr.Free() // nothing reads the client any more
	s.flushStats()
	if isClosed(err) {
		return nil
	}
	return err
}

// serveClient is the client goroutine's loop.
func (s *Session) serveClient() error {
	for {
		typ, n, err := s.readHeader()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if s.takeShed() {
					return errShed
				}
				if s.busy() {
					// A deadline armed for an idle moment that has passed.
					_ = s.conn.SetReadDeadline(time.Time{})
					continue
				}
				if stop := s.stopping(); stop != nil {
					return stop
				}
				if s.stopRequested() && s.rearmAfterStop() {
					// Shutting down, but the client is inside a transaction:
					// let it finish; the ReadyForQuery that ends it stops it.
					continue
				}
			}
			return s.clientReadError(err)
		}
		if typ == 'X' {
			return nil
		}
		if err := s.forward(typ, n); err != nil {
			return err
		}
	}
}

func (s *Session) timeouts() bool {
	return s.opts.ClientIdleTimeout > 0 || s.opts.IdleInTransactionTimeout > 0
}

// armIdle sets the client's read deadline for the idle timeouts. It is
// called when the client has nothing outstanding: by the server goroutine
// after the ReadyForQuery that settles the client, and once at the start.
func (s *Session) armIdle() {
	s.mu.Lock()
	s.idleSince = time.Now()
	s.mu.Unlock()
	s.setIdleDeadline()
}

// setIdleDeadline sets the read deadline armIdle describes, counted from
// when the client went idle; without timeouts it leaves the deadline be.
func (s *Session) setIdleDeadline() {
	s.mu.Lock()
	inTx := s.txStatus != 'I'
	stop := s.stop != nil
	since := s.idleSince
	s.mu.Unlock()
	if stop && !inTx {
		_ = s.conn.SetReadDeadline(time.Now())
		return
	}
	if !s.timeouts() {
		return
	}
	d := s.opts.ClientIdleTimeout
	if inTx {
		d = s.opts.IdleInTransactionTimeout
	}
	if d > 0 {
		_ = s.conn.SetReadDeadline(since.Add(d))
	} else {
		_ = s.conn.SetReadDeadline(time.Time{})
	}
}

// Terminate asks the session to end with pe (sent to the client) as soon as
// the client is idle between transactions: at once if it is idle now,
// otherwise after the ReadyForQuery that ends its transaction. Safe to call
// from any goroutine.
func (s *Session) Terminate(pe *pgerr.Error) {
	s.mu.Lock()
	if s.stop == nil {
		s.stop = pe
	}
	s.mu.Unlock()
	_ = s.conn.SetReadDeadline(time.Now())
}

func (s *Session) stopping() *pgerr.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txStatus != 'I' || (s.server != nil && s.opts.Mode != SessionMode) {
		return nil
	}
	return s.stop
}

// rearmAfterStop runs when Terminate woke a client that is inside a
// transaction: it restores the idle-in-transaction deadline armed when the
// client went idle and reports false if that deadline has already passed.
func (s *Session) rearmAfterStop() bool {
	s.mu.Lock()
	since := s.idleSince
	s.mu.Unlock()
	d := s.opts.IdleInTransactionTimeout
	if d == 0 {
		_ = s.conn.SetReadDeadline(time.Time{})
		return true
	}
	due := since.Add(d)
	if !time.Now().Before(due) {
		return false
	}
	_ = s.conn.SetReadDeadline(due)
	return true
}

func (s *Session) stopRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop != nil
}

func (s *Session) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending > 0 || s.inBatch || s.copyIn || s.clientCopy
}

func (s *Session) clientReadError(err error) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		if errors.Is(err, wire.ErrFrameTooLarge) || errors.Is(err, wire.ErrBadLength) {
			return pgerr.Fatalf(pgerr.ProtocolViolation, "invalid message: %v", err)
		}
		return err
	}
	if s.TxStatus() != 'I' {
		return pgerr.Fatalf(pgerr.IdleInTransactionTimeout, "terminating connection due to idle-in-transaction timeout")
	}
	return pgerr.Fatalf(pgerr.IdleSessionTimeout, "terminating connection due to idle-session timeout")
}

// forward sends one client frame, whose header has been read, to the
// attached server, attaching one first if needed.
func (s *Session) forward(typ byte, n int) error {
	var kind sqlKind
	if typ == 'Q' || typ == 'P' {
		kind = s.peekClassify(typ, n)
	}
	var attached time.Time // when a server came, if one had to
	s.mu.Lock()
	if s.server == nil {
		s.mu.Unlock()
		var err error
		if attached, err = s.attach(true); err != nil {
			return s.refuse(typ, n, err)
		}
		s.mu.Lock()
	}
	srv := s.server
	s.requestLocked(attached)
	s.varsDirty = s.varsDirty || kind.settings
	s.stateDirty = s.stateDirty || kind.state
	if kind.statements && s.prep {
		s.preparedDirty = true
		clear(s.stmts) // DISCARD ALL / DEALLOCATE ALL; a single DEALLOCATE is rare
		s.notePrepared()
	}
	s.batch.Received += uint64(n) + 5
	switch typ {
	case 'Q':
		s.expectReady()
		s.syncsSinceExec = 0
	case 'F':
		s.expectReady()
	case 'S':
		s.inBatch = false
		// PostgreSQL ignores Sync during COPY FROM STDIN.
		if !s.clientCopy {
			s.expectReady()
			s.syncsSinceExec++
		}
	case 'E':
		s.inBatch = true
		s.syncsSinceExec = 0
	case 'P':
		s.inBatch = true
		s.batch.ClientParses++
		s.batch.ServerParses++
	case 'B':
		s.inBatch = true
		s.batch.Binds++
	case 'd', 'c', 'f':
		if !s.clientCopy {
			// The Syncs sent after the Execute that started this COPY
			// reached the server in copy-in mode and were ignored.
			s.pending -= s.syncsSinceExec
			s.syncsSinceExec = 0
			s.clientCopy = true
		}
		if typ != 'd' {
			s.clientCopy = false
		}
	default:
		// Describe, Close, Flush, and anything PostgreSQL would reject:
		// all wait for a Sync.
		s.inBatch = true
	}
	// The server may answer, and the server goroutine release it, while
	// this goroutine is still inside W (bufio updates its bookkeeping after
	// the write syscall returns; COPY data can be answered by an error at
	// any time). The release waits until writing drops.
	s.writing = true
	s.mu.Unlock()
	if s.timeouts() {
		_ = s.conn.SetReadDeadline(time.Time{})
	}

	handled, err := false, error(nil)
	if s.prep && (typ == 'P' || typ == 'B' || typ == 'D' || typ == 'C') {
		handled, err = s.writePrepared(srv, typ, n)
	}
	if !handled && err == nil {
		_ = wire.WriteHeader(srv.W, typ, n)
		err = s.cr.CopyBody(srv.W, n)
	}
	if err == nil && s.cr.Buffered() == 0 {
		err = srv.W.Flush()
	}
	s.mu.Lock()
	s.writing = false
	s.written.Broadcast()
	s.mu.Unlock()
	if err != nil {
		return s.forwardFailed(err)
	}
	return nil
}

// expectReady counts a request that PostgreSQL answers with ReadyForQuery.
// s.mu must be held.
func (s *Session) expectReady() {
	s.pending++
	if s.prep {
		s.expect('Z', "")
	}
}

// forwardFailed handles an error in the middle of a frame: either the client
// went away mid-frame or the server socket failed. Either way the server has
// seen part of a frame and cannot be reused.
func (s *Session) forwardFailed(err error) error {
	s.mu.Lock()
	s.broken = true
	s.mu.Unlock()
	return err
}

// peekClassify looks at the SQL text of a Query or Parse frame.
func (s *Session) peekClassify(typ byte, n int) sqlKind {
	b, err := s.cr.Peek(min(n, s.cr.Size()))
	if err != nil {
		return sqlKind{}
	}
	if n > len(b) {
		// Only the first buffer's worth is visible without holding the whole
		// query in memory: assume the rest changes settings and session
		// state (one check each at release).
		return sqlKind{settings: true, statements: classify(b).statements, state: true}
	}
	if typ == 'P' {
		// Parse: statement name, then the query, both NUL-terminated.
		for i, c := range b {
			if c == 0 {
				b = b[i+1:]
				break
			}
		}
	}
	return classify(b)
}

// refuse answers a request that cannot get a server: the request (and for
// the extended protocol everything up to its Sync) is skipped, and the client
// gets the error and ReadyForQuery, so its session continues.
func (s *Session) refuse(typ byte, n int, err error) error {
	pe := s.clientError(err)
	log.G(s.ctx).WithError(err).Warn("no server for client request")
	if pe.Fatal() {
		return pe
	}
	if err := s.cr.Discard(n); err != nil {
		return err
	}
	if typ != 'Q' && typ != 'S' && typ != 'F' {
		for {
			typ, n, err := s.cr.ReadHeader()
			if err != nil {
				return err
			}
			if typ == 'X' {
				return nil
			}
			if err := s.cr.Discard(n); err != nil {
				return err
			}
			if typ == 'S' {
				break
			}
		}
	}
	w := s.out()
	_, _ = w.Write(pe.AppendFrame(nil))
	_, _ = w.Write(readyForQuery('I'))
	s.armIdle()
	err = w.Flush()
	s.parkWriter() // no server is attached: the client goroutine owns it
	return err
}

// clientError maps an error from getting a server to what the client sees.
func (s *Session) clientError(err error) *pgerr.Error {
	if pe, ok := pgerr.As(err); ok {
		if pe.Code == pgerr.TooManyConnections || s.opts.ForwardErrors {
			return &pgerr.Error{Severity: "ERROR", Code: pe.Code, Message: pe.Message, Detail: pe.Detail, Hint: pe.Hint}
		}
	}
	return pgerr.Errorf(pgerr.ConnectionFailure, "server connection failed").WithDetail("%v", err)
}

// loginError is clientError as a FATAL: a client that cannot get a server
// at login has no session to continue.
func (s *Session) loginError(err error) *pgerr.Error {
	c := *s.clientError(err)
	c.Severity = "FATAL"
	return &c
}

// attach acquires a server, makes its settings the client's, and makes it
// the session's server. It runs on the client goroutine. It returns when
// the pool handed the server over, zero when the client was pinned to it.
func (s *Session) attach(start bool) (time.Time, error) {
	if s.running {
		<-s.done
		s.running = false
	}
	srv, err := s.takePinned()
	if err != nil {
		return time.Time{}, err
	}
	var came time.Time
	var wait time.Duration
	if srv == nil {
		srv, came, wait, err = s.acquire()
		if err != nil {
			return time.Time{}, err
		}
	}
	if err := applySettings(s.ctx, srv, s.vars); err != nil {
		s.mu.Lock()
		pinned := s.pinned == srv // holds session state: never for another client
		s.mu.Unlock()
		s.unpin(srv)
		if _, ok := pgerr.As(err); ok && srv.TxStatus == 'I' && !pinned {
			s.release(srv)
		} else {
			s.discard(srv)
		}
		return time.Time{}, err
	}
	srv.Client.Store(s.opts.ClientID)
	s.mu.Lock()
	s.setServerLocked(srv)
	s.pending, s.inBatch, s.copyIn, s.clientCopy, s.syncsSinceExec = 0, false, false, false, 0
	s.txStatus = 'I'
	s.reqStart, s.xactStart = time.Time{}, time.Time{}
	s.batch.Assigned(wait)
	s.mu.Unlock()
	if log.Enabled(logrus.DebugLevel) {
		log.G(s.ctx).WithField("server", srv.ID).Debug("attached")
	}
	if start {
		s.startServer(srv)
	}
	return came, nil
}

func (s *Session) startServer(srv *backend.Server) {
	if s.running {
		return
	}
	s.running = true
	goServe(s, srv) // workers.go
}

// finish runs on the client goroutine once the client has gone: it hands the
// attached server to the server goroutine for cleanup and waits for it.
func (s *Session) finish() {
	s.mu.Lock()
	s.gone = true
	s.goneFlag.Store(true)
	srv := s.server
	cancelling := srv != nil && s.pending > 0 && s.opts.Cancel
	if cancelling {
		// Counted with gone set: settle, which waits for cancels once it
		// sees gone, never waits while a count starts from zero.
		s.cancels.Add(1)
	}
	s.mu.Unlock()
	if srv != nil && !s.running {
		// Attached at login in session mode but Run never started it.
		s.startServer(srv)
	}
	if srv != nil {
		// Wake the server goroutine: it now owns the server's writer too.
		wake := time.Now()
		if cancelling {
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			if err := s.cancel(ctx, srv); err != nil {
				log.G(s.ctx).WithError(err).Debug("cancel on client exit")
			} else {
				// The cancelled query's ReadyForQuery wakes it, and it
				// may be resetting the server by now: only bound the wait.
				wake = wake.Add(cleanupTimeout)
			}
			cancel()
			s.cancels.Done()
		}
		// Only while it is attached: once serveServer has detached it, the
		// server may already be back in the pool, serving another client.
		s.mu.Lock()
		if s.server == srv {
			_ = srv.Conn.SetReadDeadline(wake)
		}
		s.mu.Unlock()
	}
	if s.running {
		<-s.done
		s.running = false
	}
	// A pinned server not attached right now is idle and ours to reset.
	s.mu.Lock()
	pinned := s.pinned
	s.setPinnedLocked(nil)
	s.mu.Unlock()
	if pinned != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := pinned.Exec(ctx, "DISCARD ALL"); err != nil {
			s.discard(pinned)
			return
		}
		clear(pinned.Vars)
		clear(pinned.Prepared)
		s.release(pinned)
	}
}

// Cancel forwards a cancel request to the server running this client's
// query, if one is running and the client has not gone (finish cancels
// then). The server is not released until the request has been delivered,
// so it can never cancel another client's query.
func (s *Session) Cancel(ctx context.Context) error {
	s.mu.Lock()
	srv := s.server
	if srv == nil || s.pending == 0 || s.gone {
		s.mu.Unlock()
		return nil
	}
	s.cancels.Add(1)
	s.mu.Unlock()
	defer s.cancels.Done()
	return s.cancel(ctx, srv)
}

// serveServer is the server goroutine: it forwards the server's frames to
// the client until the server is released, discarded, or cleaned up after
// the client left.
func (s *Session) serveServer(srv *backend.Server) {
	clean := s.relayServer(srv)
	s.mu.Lock()
	if s.server == srv {
		s.setServerLocked(nil)
	}
	gone := s.gone
	s.mu.Unlock()
	if gone {
		// finish may have set a deadline to wake this goroutine after it
		// had stopped reading; detached, no one sets it again.
		_ = srv.Conn.SetReadDeadline(time.Time{})
	}
	if !clean {
		s.unpin(srv)
		s.discard(srv)
		return
	}
	// Let any cancel request to this server land before another client
	// can get it; PostgreSQL ignores a cancel that arrives while idle.
	s.cancels.Wait()
	s.mu.Lock()
	// Still pinned after the client left: finish resets it once this
	// goroutine is done (settle unpins what it has reset itself).
	keep := s.pinned == srv
	s.mu.Unlock()
	if srv.R.Buffered() > 0 {
		log.G(s.ctx).WithField("server", srv.ID).Warn("server sent data after ReadyForQuery; closing it")
		s.unpin(srv)
		s.discard(srv)
		return
	}
	if keep {
		// Pinned: the session gets it back on its next attach, and it
		// stays linked to this client meanwhile.
		return
	}
	s.release(srv)
}

func (s *Session) unpin(srv *backend.Server) {
	s.mu.Lock()
	if s.pinned == srv {
		s.setPinnedLocked(nil)
	}
	s.mu.Unlock()
}

// relayServer forwards frames and reports whether srv ended clean.
func (s *Session) relayServer(srv *backend.Server) (clean bool) {
	var cleanupBy time.Time // set once the client has gone
	rollbackSent := false
	var out uint64 // bytes to the client not yet added to the batch
	// flushing is a transaction's figures on their way to the route's
	// counters: here, not in Session, which every idle client holds.
	var flushing stats.Batch
	defer func() {
		s.mu.Lock()
		s.batch.Sent += out
		s.mu.Unlock()
	}()
	for {
		typ, n, err := srv.R.ReadHeader()
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) || !s.isGone() {
				s.serverFailed(srv, err)
				return false
			}
			if cleanupBy.IsZero() {
				cleanupBy = time.Now().Add(cleanupTimeout)
			} else if time.Now().After(cleanupBy) {
				log.G(s.ctx).WithField("server", srv.ID).Warn("server did not become idle after its client left; closing it")
				return false
			}
			_ = srv.Conn.SetReadDeadline(cleanupBy)
			if done, ok := s.settle(srv, &rollbackSent); done {
				_ = srv.Conn.SetReadDeadline(time.Time{})
				return ok
			}
			continue
		}
		switch typ {
		case 'Z':
			body, err := srv.R.Body(n)
			if err != nil || len(body) != 1 {
				s.serverFailed(srv, err)
				return false
			}
			status := body[0]
			srv.TxStatus = status
			now := time.Now()
			s.mu.Lock()
			if s.pending > 0 {
				s.pending--
			}
			s.txStatus = status
			if s.prep {
				s.readyForQueryExpected()
			}
			idle := s.pending == 0 && !s.inBatch && !s.copyIn
			gone := s.gone
			if idle {
				s.shedDone = false // a new idle period (shed.go)
			}
			release := idle && status == 'I' && s.opts.Mode != SessionMode && !gone
			violation := idle && status != 'I' && s.opts.Mode == StatementMode && !gone
			if release {
				s.setServerLocked(nil)
				for s.writing {
					s.written.Wait()
				}
			}
			flush := false
			if !gone {
				s.batch.Sent += out + uint64(n) + 5
				s.readyLocked(now, status)
				// Once per transaction, and once per pipeline of them.
				if flush = idle && s.batch.Xacts > 0; flush {
					s.takeBatchLocked(&flushing)
				}
			}
			out = 0
			s.mu.Unlock()
			if flush {
				flushing.Flush() // before the client sees the answer
			}
			if violation {
				// Do not let the client see 'T': statement mode cannot keep
				// a server across statements.
				pe := pgerr.Fatalf(pgerr.FeatureNotSupported, "transaction blocks not allowed in statement pooling mode")
				_, _ = s.out().Write(pe.AppendFrame(nil))
				_ = s.out().Flush()
				_ = s.conn.Close()
				continue
			}
			if !gone {
				_ = wire.WriteHeader(s.out(), 'Z', 1)
				_ = s.out().WriteByte(status)
			}
			if release || srv.R.Buffered() == 0 {
				_ = s.out().Flush()
			}
			if release {
				// Until the client's next request attaches a server, its
				// write buffer is idle; the client goroutine will not write
				// before this goroutine is done (attach waits on s.done).
				s.parkWriter()
			}
			if idle && !gone && (s.timeouts() || s.stopRequested()) {
				s.armIdle()
			}
			if release {
				return s.afterTransaction(srv)
			}
			if gone && idle {
				if cleanupBy.IsZero() {
					// Cleanup starts here when the cancelled query's
					// answer, not finish's deadline, woke this goroutine:
					// bound what settle sends, such as a ROLLBACK.
					cleanupBy = time.Now().Add(cleanupTimeout)
				}
				_ = srv.Conn.SetReadDeadline(cleanupBy)
				if done, ok := s.settle(srv, &rollbackSent); done {
					_ = srv.Conn.SetReadDeadline(time.Time{})
					return ok
				}
			}
			continue
		case '1', '3': // ParseComplete, CloseComplete
			if s.prep {
				s.mu.Lock()
				drop := s.answered(typ)
				s.mu.Unlock()
				if drop {
					if err := srv.R.Discard(n); err != nil {
						s.serverFailed(srv, err)
						return false
					}
					continue
				}
			}
		case 'G', 'W': // CopyInResponse, CopyBothResponse
			s.setCopyIn(true)
		case 'C', 'E': // CommandComplete, ErrorResponse end a COPY
			s.setCopyIn(false)
		case 'S': // ParameterStatus
			if n <= srv.R.Size() {
				body, err := srv.R.Peek(n)
				if err == nil {
					srv.NoteParameterStatus(body)
				}
			}
			s.forgetIfUnasked() // hellos.go
		}
		if s.goneFlag.Load() {
			// Answers to the pooler's own cleanup (ROLLBACK, Sync) are not
			// the client's business, even if its socket is still open.
			if err := srv.R.Discard(n); err != nil {
				s.serverFailed(srv, err)
				return false
			}
			continue
		}
		if err := wire.WriteHeader(s.out(), typ, n); err != nil {
			return false
		}
		if err := srv.R.CopyBody(s.out(), n); err != nil {
			s.serverFailed(srv, err)
			return false
		}
		out += uint64(n) + 5
		if srv.R.Buffered() == 0 {
			_ = s.out().Flush()
		}
	}
}

func (s *Session) isGone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

func (s *Session) setCopyIn(v bool) {
	s.mu.Lock()
	s.copyIn = v
	s.mu.Unlock()
}

// afterTransaction runs on the server goroutine after a release decision:
// it reads back settings the client may have changed. The client goroutine
// waits for this goroutine before attaching again, so s.vars is ours here.
func (s *Session) afterTransaction(srv *backend.Server) bool {
	s.mu.Lock()
	dirty, prepDirty, stateDirty := s.varsDirty, s.preparedDirty, s.stateDirty
	s.varsDirty, s.preparedDirty, s.stateDirty = false, false, false
	s.mu.Unlock()
	if !dirty && !prepDirty && !stateDirty && !s.opts.Discard {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if dirty {
		// The client keeps what it SET, whichever server it gets next.
		if err := readSettings(ctx, srv); err != nil {
			log.G(s.ctx).WithError(err).WithField("server", srv.ID).Warn("read back session settings")
			return false
		}
		clear(s.vars)
		for k, v := range srv.Vars {
			s.vars[k] = v
		}
	}
	if s.opts.Discard {
		// pool_discard: nothing the client left (temporary tables, SQL
		// PREPARE, advisory locks, LISTEN, settings) reaches the next one.
		if err := srv.Exec(ctx, "DISCARD ALL"); err != nil {
			log.G(s.ctx).WithError(err).WithField("server", srv.ID).Warn("DISCARD ALL on release")
			return false
		}
		clear(srv.Vars)
		clear(srv.Prepared)
		return true
	}
	if prepDirty {
		if err := readPrepared(ctx, srv); err != nil {
			log.G(s.ctx).WithError(err).WithField("server", srv.ID).Warn("read back prepared statements")
			return false
		}
	}
	if stateDirty {
		held, err := s.holdsState(ctx, srv)
		if err != nil {
			log.G(s.ctx).WithError(err).WithField("server", srv.ID).Warn("check session state")
			return false
		}
		s.mu.Lock()
		if held {
			s.setPinnedLocked(srv)
		} else if s.pinned == srv {
			s.setPinnedLocked(nil)
		}
		s.mu.Unlock()
	}
	return true
}

// settle takes one step towards a clean server after the client left. It
// runs on the server goroutine, which by now also owns srv.W. It returns
// done when the server is finished with, and whether it is clean.
func (s *Session) settle(srv *backend.Server, rollbackSent *bool) (done, clean bool) {
	s.mu.Lock()
	broken, pending, status := s.broken, s.pending, s.txStatus
	copyIn, inBatch := s.copyIn, s.inBatch
	if copyIn && !s.clientCopy {
		pending -= s.syncsSinceExec
		s.syncsSinceExec = 0
	}
	s.mu.Unlock()
	if broken {
		return true, false
	}
	if pending > 0 && !copyIn {
		if !s.opts.Cancel {
			return true, false
		}
		return false, false // wait for the (cancelled) query to finish
	}
	// Send nothing while a cancel request is in flight: the postmaster
	// signals the backend twice (its process, then its process group), and
	// a late signal cancels whatever runs next, such as the reset below.
	s.cancels.Wait()
	switch {
	case copyIn:
		// CopyFail ends COPY FROM STDIN with an error; the Sync closes an
		// extended-protocol COPY and is answered in the simple one too.
		msg := "client disconnected during COPY"
		_ = wire.WriteHeader(srv.W, 'f', len(msg)+1)
		_, _ = srv.W.WriteString(msg)
		_ = srv.W.WriteByte(0)
		_ = wire.WriteHeader(srv.W, 'S', 0)
		s.mu.Lock()
		s.pending = pending + 1
		s.inBatch = false
		s.mu.Unlock()
		return srv.W.Flush() != nil, false
	case inBatch:
		_ = wire.WriteHeader(srv.W, 'S', 0)
		s.mu.Lock()
		s.pending++
		s.inBatch = false
		s.mu.Unlock()
		return srv.W.Flush() != nil, false
	case status != 'I':
		if !s.opts.Rollback || *rollbackSent {
			return true, false
		}
		*rollbackSent = true
		q := "ROLLBACK"
		_ = wire.WriteHeader(srv.W, 'Q', len(q)+1)
		_, _ = srv.W.WriteString(q)
		_ = srv.W.WriteByte(0)
		s.mu.Lock()
		s.pending++
		s.mu.Unlock()
		return srv.W.Flush() != nil, false
	}
	// Idle, nothing outstanding: reset what the client left behind.
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if s.opts.Discard {
		if err := srv.Exec(ctx, "DISCARD ALL"); err != nil {
			return true, false
		}
		clear(srv.Vars)
		clear(srv.Prepared)
		return true, true
	}
	s.mu.Lock()
	dirty := s.varsDirty
	mayHoldState := s.opts.Mode == SessionMode || s.stateDirty || s.pinned == srv
	s.mu.Unlock()
	if mayHoldState {
		if err := s.resetState(ctx, srv); err != nil {
			return true, false
		}
		s.unpin(srv)
	}
	if dirty {
		if err := readSettings(ctx, srv); err != nil {
			return true, false
		}
	}
	return true, true
}

// serverFailed handles a server that broke while attached: the client loses
// its session, as it would if PostgreSQL had closed the connection itself.
func (s *Session) serverFailed(srv *backend.Server, err error) {
	s.mu.Lock()
	s.broken = true
	gone := s.gone
	s.mu.Unlock()
	if gone {
		return
	}
	log.G(s.ctx).WithError(err).WithField("server", srv.ID).Info("server connection lost")
	pe := pgerr.Fatalf(pgerr.ConnectionFailure, "server connection lost")
	if !isClosed(err) {
		_, _ = s.out().Write(pe.AppendFrame(nil))
	}
	_ = s.out().Flush()
	_ = s.conn.Close()
}

func cut0(b []byte) (before, after []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

func readyForQuery(status byte) []byte {
	return []byte{'Z', 0, 0, 0, 5, status}
}

// lossyConn is the client socket under the client writer. A write error is
// remembered and the socket closed, so that the reader goroutine notices,
// and later writes are dropped: the server goroutine must keep consuming the
// server's frames whole even when its client is gone.
type lossyConn struct {
	net.Conn
	failed bool // only touched by whoever owns the writer
}

func (c *lossyConn) Write(p []byte) (int, error) {
	if c.failed {
		return len(p), nil
	}
	if _, err := c.Conn.Write(p); err != nil {
		c.failed = true
		_ = c.Conn.Close()
	}
	return len(p), nil
}

func isClosed(err error) bool {
	if err == nil {
		return true
	}
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) && !ne.Timeout()
}
