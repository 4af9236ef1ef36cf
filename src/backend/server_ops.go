package backend

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/odyssey-go/odyssey/src/internal/sockio"
)

// terminate is the Terminate message: 'X' and a length of 4.
var terminate = []byte{'X', 0, 0, 0, 4}

// closeWriteTimeout bounds the Terminate write on connections that cannot
// be written without blocking (not a plain socket: TLS, net.Pipe).
const closeWriteTimeout = 100 * time.Millisecond

// Close says Terminate, best effort, and closes the connection. It is safe
// to call more than once and from any goroutine, also while another one is
// reading or writing the server (their calls fail): Terminate goes straight
// to the socket, not through W, and whatever W holds is dropped.
func (s *Server) Close() error {
	if !writeNow(s.Conn, terminate) {
		_ = s.Conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		_, _ = s.Conn.Write(terminate)
	}
	// The socket, not a *tls.Conn: its Close would send close_notify and
	// could wait seconds for a peer that does not read.
	err := s.socket().Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// writeNow writes b to a plain socket with one non-blocking write and
// reports whether it could try; a full send buffer or a closed connection
// just drops b.
func writeNow(conn net.Conn, b []byte) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true // closed already
	}
	_ = raw.Write(func(fd uintptr) bool {
		_, _ = syscall.Write(int(fd), b)
		return true // never wait for the socket to become writable
	})
	return true
}

// String names the server for logs and errors.
func (s *Server) String() string {
	return fmt.Sprintf("s%d (pid %d at %s)", s.ID, s.PID, s.Address)
}

// Endpoint is "network address", for logs.
func (s *Server) Endpoint() string { return s.Network + " " + s.Address }

// Alive reports whether an idle server still looks usable: its socket is
// open and it has sent nothing. An idle PostgreSQL backend says nothing
// until asked, so pending bytes (the FATAL 57P01 that pg_terminate_backend
// or a shutdown sends before closing, say) or EOF mean it is gone.
//
// One non-blocking peek at the socket (recv with MSG_PEEK|MSG_DONTWAIT): it
// never blocks and starts no goroutine. Under TLS the socket below is
// peeked: a record there (an alert, or the encrypted FATAL) means the same.
// Connections that are not sockets are reported alive unless R has
// buffered bytes. Only for a server that nobody is reading.
func (s *Server) Alive() bool {
	if s.R.Buffered() > 0 {
		return false
	}
	if s.probe == nil {
		// Built once per server so that the pool's acquire path does not
		// allocate: the raw connection and the closure would escape.
		sc, ok := s.socket().(syscall.Conn)
		if !ok {
			return true
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return false
		}
		s.probe = &probe{raw: raw}
		s.probe.peek = s.probe.check
	}
	s.probe.alive = false
	err := s.probe.raw.Read(s.probe.peek)
	return err == nil && s.probe.alive
}

// probe is Alive's reusable state; it belongs to whoever holds the server.
type probe struct {
	raw   syscall.RawConn
	peek  func(fd uintptr) bool
	alive bool
	buf   [1]byte
}

func (p *probe) check(fd uintptr) bool {
	_, err := sockio.Peek(fd, p.buf[:])
	p.alive = err == syscall.EAGAIN
	return true // never wait for readiness
}

// socket is the connection under any TLS.
func (s *Server) socket() net.Conn {
	if s.raw != nil {
		return s.raw
	}
	return s.Conn
}
