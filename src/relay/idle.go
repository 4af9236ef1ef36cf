package relay

import (
	"bufio"
	"net"
	"sync"
	"syscall"

	"github.com/odyssey-go/odyssey/src/internal/sockio"
	"github.com/odyssey-go/odyssey/src/internal/wire"
)

// An idle client holds no buffers of its own (issue 5: at most 8 KiB per
// idle client; an 8 KiB read buffer, an 8 KiB write buffer and a goroutine
// stack made 18.4 KiB). Its read buffer goes back to wire's pool whenever it
// is drained and the client goroutine waits for readability without one
// (readWait); its write buffer goes back to writers after the flush that
// ends a transaction, and at the start of Run. TLS clients keep their read
// buffer: tls.Conn holds decrypted bytes of its own that a readiness wait
// on the socket below cannot see.

// writers are the client write buffers of sessions between transactions.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, wire.DefaultBufferSize) }}

// out is the buffered writer to the client, taken from writers when the
// session has none. It belongs to whoever owns the client writer (doc.go).
func (s *Session) out() *bufio.Writer {
	if s.cw == nil {
		s.cw = writers.Get().(*bufio.Writer)
		s.cw.Reset(s.lossy)
	}
	return s.cw
}

// parkWriter gives the client write buffer back to writers if it holds
// nothing. Same owner as out.
func (s *Session) parkWriter() {
	if s.cw == nil || s.cw.Buffered() > 0 {
		return
	}
	s.cw.Reset(nil)
	writers.Put(s.cw)
	s.cw = nil
}

// readHeader is cr.ReadHeader for the client goroutine. With nothing
// buffered it first gives the read buffer back and parks until the client
// socket is readable, so that a client waiting between requests holds no
// read buffer. Shed asks only a goroutine parked here to move, and one
// that wakes to the client's data stays: its frame may need more reads,
// which the move's deadline would fail.
func (s *Session) readHeader() (typ byte, n int, err error) {
	if s.readable != nil && s.cr.Buffered() == 0 {
		s.cr.Release()
		s.mu.Lock()
		s.parked = true
		s.mu.Unlock()
		err := s.readable.wait()
		s.mu.Lock()
		s.parked = false
		stay := err == nil && s.takeShedLocked()
		s.mu.Unlock()
		if stay {
			s.restoreDeadline() // Shed asked as the client spoke
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return s.cr.ReadHeader()
}

// readWait parks a goroutine until a plain socket is readable, without a
// buffer: syscall.RawConn.Read calls ready, which says "not yet" when a
// non-blocking peek finds nothing, and the runtime's netpoller parks the
// goroutine until the socket becomes readable (or its read deadline
// passes, or it is closed). The peek replaces the read that would
// otherwise have found nothing (EAGAIN) before parking: the syscall count
// per request stays the same. Only the client goroutine uses it.
type readWait struct {
	raw    syscall.RawConn
	ready  func(fd uintptr) bool // w.check, made once: no allocation per wait
	peeked bool
	buf    [1]byte
}

// newReadWait returns a readWait for conn, or nil when conn is not a plain
// TCP or unix socket (TLS, net.Pipe): those read through their own buffers.
func newReadWait(conn net.Conn) *readWait {
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn, *sockio.Conn:
	default:
		return nil
	}
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	w := &readWait{raw: raw}
	w.ready = w.check
	return w
}

// wait returns once the socket has bytes, EOF or an error to read, or with
// the error that ended the wait (deadline, closed connection).
func (w *readWait) wait() error {
	w.peeked = false
	return w.raw.Read(w.ready)
}

func (w *readWait) check(fd uintptr) bool {
	if w.peeked {
		return true // woken by the netpoller: readable
	}
	w.peeked = true
	_, err := sockio.Peek(fd, w.buf[:])
	// Bytes, EOF (0) or an error: let the read that follows see them.
	return err != syscall.EAGAIN
}
