package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func frame(typ byte, body []byte) []byte { return AppendFrame(nil, typ, body) }

func TestReadHeaderAndForward(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*DefaultBufferSize+17)
	in := append(frame('Q', []byte("select 1\x00")), frame('d', big)...)
	in = append(in, frame('S', nil)...)
	r := NewReader(bytes.NewReader(in), DefaultBufferSize, DefaultMaxFrameLen)
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	for {
		typ, n, err := r.ReadHeader()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteHeader(w, typ, n); err != nil {
			t.Fatal(err)
		}
		if err := r.CopyBody(w, n); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if !bytes.Equal(out.Bytes(), in) {
		t.Fatal("forwarded frames differ from input")
	}
}

func TestReadHeaderLimits(t *testing.T) {
	r := NewReader(bytes.NewReader(frame('Q', make([]byte, 100))), DefaultBufferSize, 50)
	if _, _, err := r.ReadHeader(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	r = NewReader(bytes.NewReader([]byte{'Q', 0, 0, 0, 3}), DefaultBufferSize, 50)
	if _, _, err := r.ReadHeader(); !errors.Is(err, ErrBadLength) {
		t.Fatalf("got %v, want ErrBadLength", err)
	}
	r = NewReader(bytes.NewReader([]byte{'Q', 0, 0}), DefaultBufferSize, 50)
	if _, _, err := r.ReadHeader(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want ErrUnexpectedEOF", err)
	}
}

func TestReadStartup(t *testing.T) {
	body := make([]byte, MaxStartupPacketLen-4)
	pkt := binary.BigEndian.AppendUint32(nil, MaxStartupPacketLen)
	pkt = append(pkt, body...)
	r := NewReader(bytes.NewReader(pkt), DefaultBufferSize, DefaultMaxFrameLen)
	b, err := r.ReadStartup()
	if err != nil || len(b) != len(body) {
		t.Fatalf("max-size startup packet: %d bytes, %v", len(b), err)
	}
	for _, l := range []uint32{3, 7, MaxStartupPacketLen + 1, 1 << 31} {
		r := NewReader(bytes.NewReader(binary.BigEndian.AppendUint32(nil, l)), DefaultBufferSize, DefaultMaxFrameLen)
		if _, err := r.ReadStartup(); !errors.Is(err, ErrBadLength) {
			t.Errorf("length %d: got %v, want ErrBadLength", l, err)
		}
	}
}

// BenchmarkForward measures forwarding a small frame, the relay's steady
// state: it must not allocate.
func BenchmarkForward(b *testing.B) {
	msg := frame('D', []byte("\x00\x01\x00\x00\x00\x01\x31"))
	src := bytes.NewReader(nil)
	r := NewReader(src, DefaultBufferSize, DefaultMaxFrameLen)
	w := bufio.NewWriter(io.Discard)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		src.Reset(msg)
		r.Reset(src)
		typ, n, err := r.ReadHeader()
		if err != nil {
			b.Fatal(err)
		}
		_ = WriteHeader(w, typ, n)
		if err := r.CopyBody(w, n); err != nil {
			b.Fatal(err)
		}
	}
	w.Flush()
}

func FuzzReader(f *testing.F) {
	f.Add(frame('Q', []byte("select 1\x00")))
	f.Add([]byte{'Q', 0, 0, 0, 2})
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 64, 1<<20)
		if _, err := r.ReadStartup(); err != nil {
			r.Reset(bytes.NewReader(in))
		}
		w := bufio.NewWriter(io.Discard)
		for i := 0; i < 1000; i++ {
			typ, n, err := r.ReadHeader()
			if err != nil {
				return
			}
			_ = WriteHeader(w, typ, n)
			if n <= r.Size() && n%2 == 0 {
				if _, err := r.Body(n); err != nil {
					return
				}
				continue
			}
			if err := r.CopyBody(w, n); err != nil {
				return
			}
		}
	})
}

// TestRelease: a Reader gives its buffer back only when it holds nothing,
// and reading goes on without losing a byte either way.
func TestRelease(t *testing.T) {
	var in bytes.Buffer
	in.Write(AppendFrame(nil, 'Q', []byte("SELECT 1\x00")))
	in.Write(AppendFrame(nil, 'S', nil))
	r := NewReader(&in, DefaultBufferSize, DefaultMaxFrameLen)
	typ, n, err := r.ReadHeader()
	if err != nil || typ != 'Q' {
		t.Fatalf("first header: %q %v", typ, err)
	}
	r.Release() // the body and the next frame are buffered: kept
	if r.br == nil {
		t.Fatal("Release gave back a buffer that held data")
	}
	if b, err := r.Body(n); err != nil || string(b) != "SELECT 1\x00" {
		t.Fatalf("body after Release with data buffered: %q %v", b, err)
	}
	if typ, n, err = r.ReadHeader(); err != nil || typ != 'S' || n != 0 {
		t.Fatalf("second header: %q %d %v", typ, n, err)
	}
	r.Release() // empty: given back
	if r.br != nil {
		t.Fatal("Release kept an empty buffer")
	}
	if r.Buffered() != 0 || r.Size() != DefaultBufferSize {
		t.Fatalf("released reader: buffered %d, size %d", r.Buffered(), r.Size())
	}
	in.Write(AppendFrame(nil, 'X', nil))
	if typ, _, err = r.ReadHeader(); err != nil || typ != 'X' {
		t.Fatalf("header after Release: %q %v", typ, err)
	}
	if _, _, err = r.ReadHeader(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of input after Release: %v", err)
	}
}

func TestFree(t *testing.T) {
	var in bytes.Buffer
	in.Write(AppendFrame(nil, 'Q', []byte("SELECT 1\x00")))
	r := NewReader(&in, DefaultBufferSize, DefaultMaxFrameLen)
	if typ, _, err := r.ReadHeader(); err != nil || typ != 'Q' {
		t.Fatalf("header: %q %v", typ, err)
	}
	r.Free() // the body is buffered: dropped
	if r.br != nil || r.Buffered() != 0 {
		t.Fatal("Free kept a buffer that held data")
	}
	in.Write(AppendFrame(nil, 'X', nil))
	if typ, _, err := r.ReadHeader(); err != nil || typ != 'X' {
		t.Fatalf("header after Free: %q %v", typ, err)
	}
	other := NewReader(&in, 64, DefaultMaxFrameLen)
	other.Free()
	if other.br == nil {
		t.Fatal("Free gave a buffer of another size to the pool")
	}
}
