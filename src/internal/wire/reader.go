package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
type Reader struct {
	br  *bufio.Reader
	max int
}

// NewReader returns a Reader over r with a buffer of size bytes that rejects
// frames whose body exceeds maxLen bytes.
func NewReader(r io.Reader, size, maxLen int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size), max: maxLen}
}

// Reset discards buffered data and switches the reader to r.
func (r *Reader) Reset(src io.Reader) { r.br.Reset(src) }

// Read reads raw bytes, buffered ones first: for code that takes the
// stream over from frame reading (the admin console parses its own).
func (r *Reader) Read(p []byte) (int, error) { return r.br.Read(p) }

// SetMaxLen changes the body length limit.
func (r *Reader) SetMaxLen(n int) { r.max = n }

// Buffered reports how many bytes can be read without touching the socket.
// The relay flushes its writer when this drops to zero.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Size is the capacity of the read buffer: the largest body Peek can return.
func (r *Reader) Size() int { return r.br.Size() }

// ReadHeader consumes the next frame header and returns the frame type and
// the length of its body (the header's length minus the length word).
func (r *Reader) ReadHeader() (typ byte, n int, err error) {
	h, err := r.br.Peek(5)
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
	_, _ = r.br.Discard(5)
	return typ, n, nil
}

// Peek returns the next n bytes without consuming them. n must not exceed
// Size. The slice is valid until the next call on the Reader.
func (r *Reader) Peek(n int) ([]byte, error) {
	b, err := r.br.Peek(n)
	if err != nil && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// Discard skips n bytes.
func (r *Reader) Discard(n int) error {
	_, err := r.br.Discard(n)
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
	if n > r.br.Size() {
		return nil, r.Discard(n)
	}
	b, err := r.Peek(n)
	if err != nil {
		return nil, err
	}
	_, _ = r.br.Discard(n)
	return b, nil
}

// CopyBody writes the next n bytes to w as they arrive, without holding a
// whole large frame in memory.
func (r *Reader) CopyBody(w io.Writer, n int) error {
	for n > 0 {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		chunk := min(n, r.br.Buffered())
		b, _ := r.br.Peek(chunk)
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, _ = r.br.Discard(chunk)
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
	_, _ = r.br.Discard(4)
	n := int(l) - 4
	if n > r.br.Size() {
		// Only possible with a buffer smaller than the startup limit; rare.
		b := make([]byte, n)
		if _, err := io.ReadFull(r.br, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return r.Body(n)
}
