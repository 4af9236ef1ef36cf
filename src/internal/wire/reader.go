package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultBufferSize is the size of read and write buffers: 8 KiB, the size
// PostgreSQL itself uses for its socket buffers (PQ_RECV_BUFFER_SIZE).
const DefaultBufferSize = 8192

// MaxStartupPacketLen is MAX_STARTUP_PACKET_LENGTH from PostgreSQL's
// src/include/libpq/pqcomm.h.
const MaxStartupPacketLen = 10000

// DefaultMaxFrameLen bounds a client frame's body: 1 GiB, PostgreSQL's
// PQ_LARGE_MESSAGE_LIMIT (MaxAllocSize). Larger frames are a protocol violation.
const DefaultMaxFrameLen = 1<<30 - 1

// ErrFrameTooLarge is returned when a frame header announces a body longer
// than the reader's limit.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrBadLength is returned when a frame header announces a length below 4,
// which cannot even cover the length word itself.
var ErrBadLength = errors.New("invalid frame length")

// Reader reads frames from a buffered stream. It is not safe for concurrent
// use: exactly one goroutine owns a Reader at a time.
//
// A Reader of DefaultBufferSize may give its buffer back while it holds no
// data (Release) and takes one again at its next read.
type Reader struct {
	br   *bufio.Reader // nil after Release until the next read
	src  io.Reader
	size int
	max  int
}

// buffers are the read buffers of Readers that called Release: an idle
// client then holds none of its own (issue 5: 8 KiB per idle client).
var buffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, DefaultBufferSize) }}

// NewReader returns a Reader over r with a buffer of size bytes that rejects
// frames whose body exceeds maxLen bytes.
func NewReader(r io.Reader, size, maxLen int) *Reader {
	if size == DefaultBufferSize {
		// From the pool too: a client's first buffer, which its startup
		// used, would otherwise be a fresh one per connection.
		return &Reader{src: r, size: size, max: maxLen}
	}
	br := bufio.NewReaderSize(r, size)
	return &Reader{br: br, src: r, size: br.Size(), max: maxLen}
}

// buf returns the buffered reader, taking one from buffers after Release.
func (r *Reader) buf() *bufio.Reader {
	if r.br == nil {
		r.br = buffers.Get().(*bufio.Reader)
		r.br.Reset(r.src)
	}
	return r.br
}

// Release gives the read buffer back to a shared pool if nothing is
// buffered; the next read takes one again. Byte slices from Peek and Body
// are invalid after it. It does nothing to a Reader of another size.
func (r *Reader) Release() {
	if r.br != nil && r.br.Buffered() == 0 {
		r.Free()
	}
}

// Free gives the read buffer back to the shared pool, dropping what it
// holds: for a reader whose connection is done, so that the next
// connection's startup does not allocate one. It does nothing to a Reader
// of another size.
func (r *Reader) Free() {
	if r.br == nil || r.size != DefaultBufferSize {
		return
	}
	r.br.Reset(nil)
	buffers.Put(r.br)
	r.br = nil
}

// Reset discards buffered data and switches the reader to r.
func (r *Reader) Reset(src io.Reader) {
	r.src = src
	if r.br != nil {
		r.br.Reset(src)
	}
}

// Read reads raw bytes, buffered ones first: for code that takes the
// stream over from frame reading (the admin console parses its own).
func (r *Reader) Read(p []byte) (int, error) { return r.buf().Read(p) }

// SetMaxLen changes the body length limit.
func (r *Reader) SetMaxLen(n int) { r.max = n }

// Buffered reports how many bytes can be read without touching the socket.
// The relay flushes its writer when this drops to zero.
func (r *Reader) Buffered() int {
	if r.br == nil {
		return 0
	}
	return r.br.Buffered()
}

// Size is the capacity of the read buffer: the largest body Peek can return.
func (r *Reader) Size() int { return r.size }

// ReadHeader consumes the next frame header and returns the frame type and
// the length of its body (the header's length minus the length word).
func (r *Reader) ReadHeader() (typ byte, n int, err error) {
	br := r.buf()
	h, err := br.Peek(5)
	if err != nil {
		if len(h) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	typ = h[0]
	l := int32(binary.BigEndian.Uint32(h[1:5]))
	if l < 4 {
		return typ, 0, fmt.Errorf("%w: %d for message type %q", ErrBadLength, l, typ)
	}
	n = int(l) - 4
	if n > r.max {
		return typ, n, fmt.Errorf("%w: %d bytes for message type %q, limit %d", ErrFrameTooLarge, n, typ, r.max)
	}
	_, _ = br.Discard(5)
	return typ, n, nil
}

// Peek returns the next n bytes without consuming them. n must not exceed
// Size. The slice is valid until the next call on the Reader.
func (r *Reader) Peek(n int) ([]byte, error) {
	b, err := r.buf().Peek(n)
	if err != nil && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// Discard skips n bytes.
func (r *Reader) Discard(n int) error {
	_, err := r.buf().Discard(n)
	if err != nil && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Body returns the whole body of n bytes when it fits the buffer, consuming
// it. The slice is valid until the next call on the Reader. Bodies larger than
// Size are skipped and returned as nil with no error: callers only decode
// small messages.
func (r *Reader) Body(n int) ([]byte, error) {
	if n > r.size {
		return nil, r.Discard(n)
	}
	b, err := r.Peek(n)
	if err != nil {
		return nil, err
	}
	_, _ = r.buf().Discard(n)
	return b, nil
}

// CopyBody writes the next n bytes to w as they arrive, without holding a
// whole large frame in memory.
func (r *Reader) CopyBody(w io.Writer, n int) error {
	br := r.buf()
	for n > 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		chunk := min(n, br.Buffered())
		b, _ := br.Peek(chunk)
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, _ = br.Discard(chunk)
		n -= chunk
	}
	return nil
}

// ReadStartup reads an untyped startup-phase packet (StartupMessage,
// SSLRequest, GSSENCRequest, CancelRequest): a length word followed by the
// body. The returned body is valid until the next call on the Reader.
func (r *Reader) ReadStartup() ([]byte, error) {
	h, err := r.Peek(4)
	if err != nil {
		return nil, err
	}
	l := int32(binary.BigEndian.Uint32(h))
	if l < 8 || l > MaxStartupPacketLen {
		return nil, fmt.Errorf("%w: startup packet length %d", ErrBadLength, l)
	}
	_, _ = r.buf().Discard(4)
	n := int(l) - 4
	if n > r.size {
		// Only possible with a buffer smaller than the startup limit; rare.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.buf(), b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return r.Body(n)
}
