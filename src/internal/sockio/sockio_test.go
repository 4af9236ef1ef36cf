package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// pair returns a connected loopback TCP pair: a is wrapped, b is not.
func pair(t *testing.T, network string) (a, b net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	a = Wrap(c)
	if _, ok := a.(*Conn); !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn", c, a)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestRoundTrip(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			a, b := pair(t, network)
			// More than any socket buffer, so that Write meets EAGAIN
			// and waits for the slow reader below.
			want := make([]byte, 8<<20)
			for i := range want {
				want[i] = byte(i * 7)
			}
			got := make(chan []byte, 1)
			go func() {
				var buf bytes.Buffer
				time.Sleep(50 * time.Millisecond)
				_, _ = io.Copy(&buf, b)
				got <- buf.Bytes()
			}()
			n, err := a.Write(want)
			if err != nil || n != len(want) {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
			}
			if err := a.(*Conn).Conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if g := <-got; !bytes.Equal(g, want) {
				t.Fatalf("peer read %d bytes, not the %d written", len(g), len(want))
			}

			// And back, read in small pieces.
			go func() { _, _ = b.Write(want[:100000]); b.Close() }()
			var back bytes.Buffer
			p := make([]byte, 777)
			for {
				n, err := a.Read(p)
				back.Write(p[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					t.Fatal("Read returned 0 bytes and no error")
				}
			}
			if !bytes.Equal(back.Bytes(), want[:100000]) {
				t.Fatalf("read %d bytes, not the 100000 written", back.Len())
			}
		})
	}
}

func TestErrorsAsNetConn(t *testing.T) {
	a, b := pair(t, "tcp")
	buf := make([]byte, 10)

	_ = a.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := a.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline = %v, want a timeout with os.ErrDeadlineExceeded", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Read error %#v is not a read OpError", err)
	}

	// A deadline that passes while Read waits wakes it.
	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := a.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read waiting past its deadline = %v", err)
	}
	_ = a.SetReadDeadline(time.Time{})

	// The peer resets the connection: writes fail with the errno.
	_ = b.(*net.TCPConn).SetLinger(0)
	b.Close()
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		_, werr = a.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	var errno syscall.Errno
	if !errors.As(werr, &errno) || (errno != syscall.ECONNRESET && errno != syscall.EPIPE) {
		t.Fatalf("Write to a reset peer = %v, want ECONNRESET or EPIPE", werr)
	}

	a.Close()
	if _, err := a.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
	}
	if _, err := a.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
	}
}

func TestWrapLeavesOtherConns(t *testing.T) {
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if w := Wrap(p); w != p {
		t.Fatalf("Wrap(net.Pipe) = %T, want it unchanged", w)
	}
}

func TestPeek(t *testing.T) {
	a, b := pair(t, "tcp")
	raw, err := a.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	peek := func() (n int, errno syscall.Errno) {
		var one [1]byte
		_ = raw.Control(func(fd uintptr) { n, errno = Peek(fd, one[:]) })
		return
	}
	if _, errno := peek(); errno != syscall.EAGAIN {
		t.Fatalf("Peek on a quiet socket = %v, want EAGAIN", errno)
	}
	_, _ = b.Write([]byte("hi"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, errno := peek()
		if errno == 0 && n == 1 {
			break
		}
		if errno != syscall.EAGAIN || time.Now().After(deadline) {
			t.Fatalf("Peek after a write = %d, %v", n, errno)
		}
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("Read after Peek = %q, %v: Peek consumed bytes", buf, err)
	}
	b.Close()
	for {
		n, errno := peek()
		if errno == 0 && n == 0 {
			break // EOF
		}
		if errno != syscall.EAGAIN || time.Now().After(deadline) {
			t.Fatalf("Peek after the peer closed = %d, %v, want 0 (EOF)", n, errno)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNoAllocations: the relay's 0 allocs/op depends on it.
func TestNoAllocations(t *testing.T) {
	a, b := pair(t, "tcp")
	msg := []byte("Q\x00\x00\x00\x0dselect 1\x00")
	in := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, in); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(a, in); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per Write and Read, want 0", allocs)
	}
}

// TestConcurrentWrites: whole writes from several goroutines arrive whole,
// as with a net.Conn (run with -race).
func TestConcurrentWrites(t *testing.T) {
	a, b := pair(t, "tcp")
	const writers, each, size = 4, 200, 1000
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			msg := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range each {
				if _, err := a.Write(msg); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	got := make([]byte, writers*each*size)
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(b, got); read <- err }()
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(got); i += size {
		if !bytes.Equal(got[i:i+size], bytes.Repeat(got[i:i+1], size)) {
			t.Fatalf("write at offset %d was interleaved with another", i)
		}
	}
}
