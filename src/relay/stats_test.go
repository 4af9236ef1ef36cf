package relay

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/pool"
	"github.com/odyssey-go/odyssey/src/stats"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

// testCtx bounds one test; a hung exchange fails it instead of the run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// watchedPool is a real pool of servers logged in to the test cluster;
// it remembers the servers it handed out, so tests can look at them.
type watchedPool struct {
	*pool.Pool
	mu   sync.Mutex
	seen map[uint64]*backend.Server
}

func newPool(t *testing.T, size int) *watchedPool {
	t.Helper()
	p := pool.New(pool.Options{Size: size, Dial: func(ctx context.Context) (*backend.Server, error) {
		return backend.Connect(ctx, backend.Options{Network: "tcp", Address: cluster.Addr(),
			User: cluster.User, Password: cluster.Password, Database: "postgres"})
	}})
	t.Cleanup(p.Close)
	return &watchedPool{Pool: p, seen: map[uint64]*backend.Server{}}
}

func (p *watchedPool) Acquire(ctx context.Context) (*backend.Server, error) {
	srv, err := p.Pool.Acquire(ctx)
	if err == nil {
		p.mu.Lock()
		p.seen[srv.ID] = srv
		p.mu.Unlock()
	}
	return srv, err
}

func (p *watchedPool) server(id uint64) *backend.Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[id]
}

// countingConn counts the bytes a client sends and receives.
type countingConn struct {
	net.Conn
	read, written atomic.Uint64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(uint64(n))
	return n, err
}

// testClient is a pgconn client served by a Session, as the instance would
// serve it: startup read, Login, the handshake written, then Run.
type testClient struct {
	sess *Session
	pg   *pgconn.PgConn
	wire *countingConn
	// bytes on the client's socket once logged in: the start of what the
	// session counts
	read0, written0 uint64
	done            chan error
}

func startClient(t *testing.T, p Pool, opts Options) *testClient {
	t.Helper()
	return startSession(t, p, opts, false)
}

// startSession is startClient, with the session run by Go instead of Run
// when async.
func startSession(t *testing.T, p Pool, opts Options, async bool) *testClient {
	t.Helper()
	ctx := testCtx(t)
	clientEnd, relayEnd := tcpPair(t)
	tc := &testClient{wire: &countingConn{Conn: clientEnd}, done: make(chan error, 1)}
	sessions := make(chan *Session, 1)
	go func() {
		running := false
		defer func() {
			if !running {
				relayEnd.Close()
			}
		}()
		r := wire.NewReader(relayEnd, wire.DefaultBufferSize, wire.DefaultMaxFrameLen)
		if _, err := r.ReadStartup(); err != nil {
			close(sessions)
			tc.done <- err
			return
		}
		sess := New(ctx, relayEnd, r, p, opts, nil)
		params, pid, err := sess.Login()
		if err != nil {
			close(sessions)
			tc.done <- err
			return
		}
		buf, _ := (&pgproto3.AuthenticationOk{}).Encode(nil)
		for k, v := range params {
			buf, _ = (&pgproto3.ParameterStatus{Name: k, Value: v}).Encode(buf)
		}
		buf, _ = (&pgproto3.BackendKeyData{ProcessID: pid, SecretKey: []byte{0, 0, 0, 1}}).Encode(buf)
		buf, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(buf)
		w := sess.Writer()
		if _, err := w.Write(buf); err != nil || w.Flush() != nil {
			close(sessions)
			tc.done <- err
			return
		}
		sessions <- sess
		if async {
			running = true
			sess.Go(func(err error) {
				relayEnd.Close()
				tc.done <- err
			})
			return
		}
		tc.done <- sess.Run()
	}()
	cfg, err := pgconn.ParseConfig("host=127.0.0.1 port=1 user=" + cluster.User + " dbname=postgres sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return tc.wire, nil }
	tc.pg, err = pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect through the session: %v (session: %v)", err, <-tc.done)
	}
	tc.sess = <-sessions
	tc.read0, tc.written0 = tc.wire.read.Load(), tc.wire.written.Load()
	t.Cleanup(func() { tc.close(t) })
	return tc
}

// close ends the client and waits for its session; idempotent.
func (tc *testClient) close(t *testing.T) {
	t.Helper()
	if tc.pg.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = tc.pg.Close(ctx)
	select {
	case err := <-tc.done:
		if err != nil {
			t.Errorf("session ended with %v", err)
		}
	case <-ctx.Done():
		t.Error("session did not end after the client left")
	}
}

// exec runs simple-protocol SQL and fails the test on error.
func (tc *testClient) exec(t *testing.T, sql string) {
	t.Helper()
	if _, err := tc.pg.Exec(testCtx(t), sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// bytes returns what the client sent and received since it logged in.
func (tc *testClient) bytes() (sent, received uint64) {
	return tc.wire.written.Load() - tc.written0, tc.wire.read.Load() - tc.read0
}

// eventually polls cond for up to ten seconds: for state that changes just
// after the client has its answer (the release of a server).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not within 10s", what)
}

func queryFrame(sql string) uint64 { return uint64(1 + 4 + len(sql) + 1) }

func TestStatsSimpleQueries(t *testing.T) {
	p := newPool(t, 2)
	var c stats.Counters
	tc := startClient(t, p, Options{Mode: TransactionMode, Stats: &c, ClientID: 7})
	const n = 5
	for range n {
		tc.exec(t, "SELECT 1")
	}
	got := c.Snapshot()
	sent, received := tc.bytes()
	if got.Queries != n || got.Xacts != n {
		t.Errorf("%d queries, %d transactions; want %d of each", got.Queries, got.Xacts, n)
	}
	// One server per transaction, and one for the login.
	if got.ServerAssignments != n+1 {
		t.Errorf("%d server assignments, want %d", got.ServerAssignments, n+1)
	}
	if got.Received != sent || sent != n*queryFrame("SELECT 1") {
		t.Errorf("received %d bytes from the client; it sent %d, want %d", got.Received, sent, n*queryFrame("SELECT 1"))
	}
	if got.Sent != received {
		t.Errorf("sent %d bytes to the client; it received %d", got.Sent, received)
	}
	if got.QueryTime <= 0 || got.XactTime != got.QueryTime {
		t.Errorf("query time %v, transaction time %v: want equal and positive for single-statement transactions", got.QueryTime, got.XactTime)
	}
	q, x := c.QueryTimes.Load(), c.XactTimes.Load()
	if q.Count() != n || x.Count() != n {
		t.Errorf("histograms hold %d queries, %d transactions; want %d", q.Count(), x.Count(), n)
	}
	if got.ClientParses != 0 || got.ServerParses != 0 || got.Binds != 0 {
		t.Errorf("simple protocol counted parses or binds: %+v", got)
	}
	info := tc.sess.Info()
	if info.State != StateIdle || info.Server != 0 || info.RequestTime.IsZero() || info.ConnectTime.After(info.RequestTime) {
		t.Errorf("between transactions: %+v", info)
	}
}

func TestStatsExtendedBatchAndPipeline(t *testing.T) {
	p := newPool(t, 2)
	var c stats.Counters
	tc := startClient(t, p, Options{Mode: TransactionMode, Stats: &c})
	before := c.Snapshot()
	if _, err := tc.pg.ExecParams(testCtx(t), "SELECT $1::int", [][]byte{[]byte("1")}, nil, nil, nil).Close(); err != nil {
		t.Fatal(err)
	}
	got := c.Snapshot().Sub(before)
	want := stats.Snapshot{ServerAssignments: 2, Xacts: 1, Queries: 1, ClientParses: 1, ServerParses: 1, Binds: 1}
	got.Received, got.Sent, got.XactTime, got.QueryTime, got.WaitTime = 0, 0, 0, 0, 0
	if got != want {
		t.Errorf("Parse/Bind/Describe/Execute/Sync: %+v\nwant %+v", got, want)
	}

	// Two Sync-terminated batches in one flight: two queries, two
	// implicit transactions, one server assignment.
	before = c.Snapshot()
	pl := tc.pg.StartPipeline(testCtx(t))
	pl.SendQueryParams("SELECT 1", nil, nil, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryParams("SELECT 2", nil, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		r, err := pl.GetResults()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		if rr, ok := r.(*pgconn.ResultReader); ok {
			if _, err := rr.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	got = c.Snapshot().Sub(before)
	if got.Queries != 2 || got.Xacts != 2 || got.ServerAssignments != 1 || got.Binds != 2 || got.ClientParses != 2 {
		t.Errorf("pipeline of two batches: %+v", got)
	}
	sent, received := tc.bytes()
	if total := c.Snapshot(); total.Received != sent || total.Sent != received {
		t.Errorf("bytes: counted %d in, %d out; the client sent %d, received %d", total.Received, total.Sent, sent, received)
	}
}

func TestStatsTransactionBlock(t *testing.T) {
	p := newPool(t, 2)
	var c stats.Counters
	const id = 42
	tc := startClient(t, p, Options{Mode: TransactionMode, Stats: &c, ClientID: id})
	tc.exec(t, "SELECT 1") // flushes the login's assignment
	before := c.Snapshot()
	tc.exec(t, "BEGIN")
	for range 3 {
		tc.exec(t, "SELECT 1")
	}
	info := tc.sess.Info()
	if info.State != StateActive || info.Server == 0 {
		t.Fatalf("inside a transaction: %+v, want active with a server", info)
	}
	srv := p.server(info.Server)
	if srv == nil || srv.Client.Load() != id {
		t.Fatalf("the attached server does not point at client %d", id)
	}
	if mid := c.Snapshot().Sub(before); mid.Queries != 0 {
		t.Errorf("figures flushed inside a transaction: %+v, want them at its end", mid)
	}
	tc.exec(t, "COMMIT")
	got := c.Snapshot().Sub(before)
	if got.Queries != 5 || got.Xacts != 1 || got.ServerAssignments != 1 {
		t.Errorf("BEGIN, 3 statements, COMMIT: %d queries, %d transactions, %d assignments; want 5, 1, 1",
			got.Queries, got.Xacts, got.ServerAssignments)
	}
	if got.XactTime < got.QueryTime {
		t.Errorf("transaction time %v is less than its queries' %v", got.XactTime, got.QueryTime)
	}
	if info := tc.sess.Info(); info.State != StateIdle || info.Server != 0 {
		t.Errorf("after COMMIT: %+v, want idle without a server", info)
	}
	eventually(t, "server unlinked after release", func() bool { return srv.Client.Load() == 0 })
}

func TestStatsPreparedStatements(t *testing.T) {
	p := newPool(t, 2)
	var c stats.Counters
	opts := Options{Mode: TransactionMode, Stats: &c, PreparedStatements: true}
	a := startClient(t, p, opts)
	b := startClient(t, p, opts)

	before := c.Snapshot()
	if _, err := a.pg.Prepare(testCtx(t), "s1", "SELECT $1::int", nil); err != nil {
		t.Fatal(err)
	}
	got := c.Snapshot().Sub(before)
	if got.ClientParses != 1 || got.ServerParses != 1 || got.Binds != 0 || got.Queries != 1 {
		t.Errorf("Prepare: %+v, want one client parse, one server parse, one query", got)
	}
	if n := a.sess.Info().Prepared; n != 1 {
		t.Errorf("client has %d prepared statements, want 1", n)
	}

	// b holds the server a prepared on (the only one so far, once a's
	// session has given it back), so a's next transaction lands on a new
	// server, where the relay must prepare the statement itself.
	eventually(t, "a's server back in the pool", func() bool { return p.Stats().Idle == 1 })
	b.exec(t, "BEGIN")
	before = c.Snapshot()
	for i := range 2 {
		rr := a.pg.ExecPrepared(testCtx(t), "s1", [][]byte{[]byte(strconv.Itoa(i))}, nil, nil)
		if _, err := rr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got = c.Snapshot().Sub(before)
	if got.ClientParses != 0 || got.ServerParses != 1 || got.Binds != 2 || got.Queries != 2 || got.ServerAssignments != 2 {
		t.Errorf("two executions on a server without the statement: %+v\nwant 0 client parses, 1 server parse, 2 binds, 2 queries, 2 assignments", got)
	}
	b.exec(t, "COMMIT")

	if err := a.pg.Deallocate(testCtx(t), "s1"); err != nil {
		t.Fatal(err)
	}
	if n := a.sess.Info().Prepared; n != 0 {
		t.Errorf("after Close: %d prepared statements, want 0", n)
	}
}

func TestInfoWaiting(t *testing.T) {
	p := newPool(t, 1)
	var c stats.Counters
	opts := Options{Mode: TransactionMode, Stats: &c}
	holder := startClient(t, p, opts)
	waiter := startClient(t, p, opts)
	holder.exec(t, "BEGIN")

	before := c.Snapshot()
	result := make(chan error, 1)
	go func() {
		_, err := waiter.pg.Exec(context.Background(), "SELECT 1").ReadAll()
		result <- err
	}()
	eventually(t, "client waiting for the only server", func() bool { return waiter.sess.Info().State == StateWaiting })
	time.Sleep(2 * time.Millisecond)
	info := waiter.sess.Info()
	// The holder keeps its transaction open, so the wait cannot have ended.
	if info.State != StateWaiting || info.Wait < 2*time.Millisecond || info.Server != 0 {
		t.Fatalf("waiting client: %+v", info)
	}
	if h := holder.sess.Info(); h.State != StateActive {
		t.Fatalf("client holding the server: %+v, want active", h)
	}
	holder.exec(t, "COMMIT")
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting client never got the server")
	}
	if info := waiter.sess.Info(); info.State != StateIdle || info.Wait != 0 {
		t.Errorf("after its query: %+v, want idle", info)
	}
	got := c.Snapshot().Sub(before)
	// The holder's transaction (and login) and the waiter's query.
	if got.Xacts != 2 || got.WaitTime < 2*time.Millisecond {
		t.Errorf("%d transactions, wait time %v; want 2 and at least the 2ms observed", got.Xacts, got.WaitTime)
	}
}

func TestInfoSessionModeAndPinning(t *testing.T) {
	p := newPool(t, 2)
	var c stats.Counters
	const id = 9
	s := startClient(t, p, Options{Mode: SessionMode, Stats: &c, ClientID: id})
	info := s.sess.Info()
	if info.State != StateActive || info.Server == 0 || p.server(info.Server).Client.Load() != id {
		t.Fatalf("session mode, idle: %+v, want active with its server linked", info)
	}
	sessionServer := p.server(info.Server)
	s.exec(t, "SELECT 1")
	s.exec(t, "BEGIN")
	s.exec(t, "SELECT 1")
	s.exec(t, "COMMIT")
	got := c.Snapshot()
	if got.Queries != 4 || got.Xacts != 2 || got.ServerAssignments != 1 {
		t.Errorf("session mode: %d queries, %d transactions, %d assignments; want 4, 2, 1", got.Queries, got.Xacts, got.ServerAssignments)
	}

	// Transaction mode: an advisory lock pins the client to its server.
	tx := startClient(t, p, Options{Mode: TransactionMode, Stats: &c, ClientID: id + 1})
	tx.exec(t, "SELECT pg_advisory_lock(1)")
	eventually(t, "client pinned", func() bool { return tx.sess.Info().Pinned })
	info = tx.sess.Info()
	if info.State != StateIdle || info.Server == 0 || p.server(info.Server).Client.Load() != id+1 {
		t.Fatalf("pinned between transactions: %+v, want idle, its server shown and linked", info)
	}
	pinned := p.server(info.Server)
	tx.exec(t, "SELECT pg_advisory_unlock(1)")
	eventually(t, "client unpinned", func() bool { i := tx.sess.Info(); return !i.Pinned && i.Server == 0 })
	eventually(t, "server unlinked", func() bool { return pinned.Client.Load() == 0 })

	s.close(t)
	eventually(t, "session-mode server unlinked", func() bool { return sessionServer.Client.Load() == 0 })
}

func TestCountersWithoutStats(t *testing.T) {
	p := newPool(t, 1)
	tc := startClient(t, p, Options{Mode: TransactionMode})
	for range 3 {
		tc.exec(t, "SELECT 1")
	}
	sent, received := tc.bytes()
	tc.close(t)
	got := tc.sess.Counters()
	if got.Queries != 3 || got.Xacts != 3 || got.ServerAssignments != 4 || got.Received != sent || got.Sent != received {
		t.Errorf("without Options.Stats: %+v (client sent %d, received %d)", got, sent, received)
	}
}

// TestIdleClientHoldsNoWriter: once a transaction-mode client's server is
// released, its write buffer has gone back to the pool (idle.go), and the
// next query takes one again.
func TestIdleClientHoldsNoWriter(t *testing.T) {
	p := newPool(t, 1)
	tc := startClient(t, p, Options{Mode: TransactionMode})
	for i := range 3 {
		tc.exec(t, "SELECT 1")
		// The server goroutine parks the writer before it gives the
		// server back to the pool, under the pool's lock, which Stats
		// takes: reading cw after seeing the server idle is ordered after
		// the park.
		eventually(t, fmt.Sprintf("server back in the pool after query %d", i+1), func() bool { return p.Stats().Idle == 1 })
		if tc.sess.cw != nil {
			t.Fatalf("write buffer held after query %d", i+1)
		}
	}
}

// TestSessionSize: every idle client holds a Session, which the allocator
// rounds up to its size class; 640 bytes is the class it fits now (issue
// 5: memory per idle client). Growing past it costs every client the next
// class, 704 or more: move per-transaction state to the goroutine that
// uses it instead.
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 640 {
		t.Errorf("Session is %d bytes, over its 640-byte size class", n)
	}
}
