package relay

import (
	"bufio"
	"context"
	"net"
	"testing"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/internal/sockio"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/log"
	"github.com/odyssey-go/odyssey/src/stats"
)

// BenchmarkForward measures a Session's steady state: a client pipelines
// batches of simple queries through it in transaction mode, a scripted
// server over loopback TCP answers each with CommandComplete and
// ReadyForQuery. ns/query is the relay's cost per query and its answer,
// syscalls included; allocs/op must stay 0 (server goroutines are reused,
// workers.go; idle buffers come from pools, idle.go).
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
	}{{"pipelined", 32}, {"pingpong", 1}} {
		b.Run(bc.name, func(b *testing.B) { benchmarkForward(b, bc.batch) })
	}
}

func benchmarkForward(b *testing.B, batch int) {
	srvConn, stop := scriptedServer(b)
	defer stop()
	srv := &backend.Server{
		ID:       1,
		Conn:     srvConn,
		R:        wire.NewReader(srvConn, wire.DefaultBufferSize, wire.DefaultMaxFrameLen),
		W:        bufio.NewWriterSize(srvConn, wire.DefaultBufferSize),
		TxStatus: 'I',
		Params:   map[string]string{},
		Vars:     map[string]string{},
		Prepared: map[string]struct{}{},
	}
	pool := &onePool{srv: make(chan *backend.Server, 1)}
	pool.srv <- srv

	client, relayEnd := tcpPair(b)
	defer client.Close()
	relayEnd = sockio.Wrap(relayEnd) // as the instance wraps a client's socket
	// The instance's context: log lines would carry the client's fields.
	ctx := log.WithClient(context.Background(), log.Client{ID: "c1", User: "bench", DB: "bench", Route: "bench.bench"})
	sess := New(ctx, relayEnd, wire.NewReader(relayEnd, wire.DefaultBufferSize, wire.DefaultMaxFrameLen),
		pool, benchOptions(), nil)
	done := make(chan error, 1)
	go func() { done <- sess.Run() }()

	query := wire.AppendFrame(nil, 'Q', []byte("SELECT 1\x00"))
	var req []byte
	for range batch {
		req = append(req, query...)
	}
	r := wire.NewReader(client, wire.DefaultBufferSize, wire.DefaultMaxFrameLen)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := client.Write(req); err != nil {
			b.Fatal(err)
		}
		for ready := 0; ready < batch; {
			typ, n, err := r.ReadHeader()
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Discard(n); err != nil {
				b.Fatal(err)
			}
			if typ == 'Z' {
				ready++
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/query")
	_, _ = client.Write([]byte{'X', 0, 0, 0, 4})
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// onePool hands out its one server.
type onePool struct{ srv chan *backend.Server }

func (p *onePool) Acquire(ctx context.Context) (*backend.Server, error) {
	select {
	case s := <-p.srv:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (p *onePool) Release(s *backend.Server) { p.srv <- s }
func (p *onePool) Discard(s *backend.Server) { _ = s.Conn.Close() }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(tb testing.TB) (net.Conn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		tb.Fatal(a.err)
	}
	return c, a.c
}

// scriptedServer answers every Query with CommandComplete and
// ReadyForQuery 'I', flushing when its input is drained. It returns the
// pooler's end of the connection.
func scriptedServer(tb testing.TB) (net.Conn, func()) {
	tb.Helper()
	pooler, server := tcpPair(tb)
	pooler = sockio.Wrap(pooler) // as backend wraps a server's socket
	answer := wire.AppendFrame(nil, 'C', []byte("SELECT 1\x00"))
	answer = wire.AppendFrame(answer, 'Z', []byte{'I'})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := wire.NewReader(server, wire.DefaultBufferSize, wire.DefaultMaxFrameLen)
		w := bufio.NewWriterSize(server, wire.DefaultBufferSize)
		for {
			typ, n, err := r.ReadHeader()
			if err != nil {
				return
			}
			if err := r.Discard(n); err != nil {
				return
			}
			if typ == 'Q' {
				_, _ = w.Write(answer)
			}
			if r.Buffered() == 0 && w.Flush() != nil {
				return
			}
		}
	}()
	return pooler, func() {
		_ = server.Close()
		_ = pooler.Close()
		<-done
	}
}

// benchOptions are the relay settings the benchmark runs with, traffic
// figures included.
func benchOptions() Options {
	return Options{Mode: TransactionMode, Stats: new(stats.Counters), ClientID: 1}
}
