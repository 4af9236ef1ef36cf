// Package sockio reads and writes non-blocking sockets without telling Go's
// scheduler that a system call may block.
//
// A net.Conn's Read and Write go through syscall.Syscall, which puts the
// goroutine's P in the "in syscall" state. A write to a loopback socket does
// the receiver's TCP work and wakes it, so it often lasts longer than one
// tick of the runtime's sysmon (20 µs): sysmon then hands the P to another
// thread (a futex wake), the writer finds its P gone on return and sleeps,
// and sysmon keeps itself at 20 µs ticks because it retook something.
// perf's sched_switch trace under pgbench (issue 5) put 40-50% of the
// pooler's context switches there. Net sockets are always non-blocking, so
// read(2) and write(2) on them never block: sockio makes them with
// syscall.RawSyscall inside the socket's syscall.RawConn, which still waits
// for readiness in the netpoller, honours deadlines and Close, and keeps
// the runtime's fd locking.
//
// Go's net sockets are non-blocking from creation; nothing may make one
// blocking (os.File.Fd on what net.TCPConn.File returns would), or a raw
// read would hold its thread and P until data came.
//
// Each direction keeps its call's state in the Conn, so that no closure is
// allocated per call, under a mutex of its own: a Conn may be used from
// several goroutines as any net.Conn may, and concurrent Reads (or Writes)
// take turns. The relay has one reader and one writer at a time, so the
// mutexes are never contended there.
package sockio

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a TCP or unix socket whose Read and Write are raw system calls.
type Conn struct {
	net.Conn
	raw syscall.RawConn

	// Read's state: the buffer, what the call read, its error.
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	readFn func(fd uintptr) bool

	// Write's state.
	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(fd uintptr) bool
}

// Wrap returns c as a *Conn when it is a *net.TCPConn or *net.UnixConn, and
// c itself otherwise (a TLS connection, net.Pipe).
func Wrap(c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return c
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return c
	}
	sc := &Conn{Conn: c, raw: raw}
	sc.readFn = sc.read
	sc.writeFn = sc.write
	return sc
}

// SyscallConn returns the socket's raw connection, as the wrapped
// connection's does.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.raw, nil }

// Read reads into p as net.Conn's Read does: at least one byte, or io.EOF,
// or an error.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.raw.Read(c.readFn)
	n, errno := c.rn, c.rerr
	c.rbuf = nil
	c.rmu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) read(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		switch errno {
		case 0:
			c.rn = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the netpoller
		}
		c.rerr = errno
		return true
	}
}

// Write writes all of p, as net.Conn's Write does.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.raw.Write(c.writeFn)
	n, errno := c.wn, c.werr
	c.wbuf = nil
	c.wmu.Unlock()
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		rest := c.wbuf[c.wn:]
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch errno {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the send buffer is full: wait in the netpoller
		default:
			c.werr = errno
			return true
		}
	}
	return true
}

// opError wraps err as net.Conn's methods do, so that callers see the same
// errors: net.ErrClosed, os.ErrDeadlineExceeded and the like are still
// matched by errors.Is. The RawConn's own errors come wrapped as a
// "raw-read" or "raw-write" OpError already; they are rewrapped.
func (c *Conn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Peek copies the socket's next bytes into b without consuming them or
// waiting (recv with MSG_PEEK|MSG_DONTWAIT), as a raw system call like
// Conn's; for a function run by a RawConn's Read or Control. It returns the
// byte count, 0 at EOF, or the error: EAGAIN when nothing has arrived.
func Peek(fd uintptr, b []byte) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}
