package backend

import (
	"net"
	"testing"

	"github.com/odyssey-go/odyssey/src/internal/wire"
)

// TestAliveDoesNotAllocate keeps the pool's acquire path allocation-free.
func TestAliveDoesNotAllocate(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			var b [1]byte
			_, _ = c.Read(b[:])
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := &Server{Conn: conn, R: wire.NewReader(conn, wire.DefaultBufferSize, wire.DefaultMaxFrameLen)}
	if !s.Alive() {
		t.Fatal("fresh connection reported dead")
	}
	if n := testing.AllocsPerRun(100, func() { s.Alive() }); n != 0 {
		t.Fatalf("Alive allocates %.1f times per call", n)
	}
}
