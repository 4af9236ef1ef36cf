package wire

import (
	"bufio"
	"encoding/binary"
)

// WriteHeader writes a frame header for a body of n bytes to w. It writes
// byte by byte so that nothing escapes to the heap on the hot path.
func WriteHeader(w *bufio.Writer, typ byte, n int) error {
	l := uint32(n + 4)
	_ = w.WriteByte(typ)
	_ = w.WriteByte(byte(l >> 24))
	_ = w.WriteByte(byte(l >> 16))
	_ = w.WriteByte(byte(l >> 8))
	return w.WriteByte(byte(l))
}

// AppendFrame appends a whole frame to dst.
func AppendFrame(dst []byte, typ byte, body []byte) []byte {
	dst = append(dst, typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(body)+4))
	return append(dst, body...)
}
