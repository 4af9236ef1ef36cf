package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
	"testing"
)

// copyBytes is how much COPY data goes each way.
const copyBytes = 100 << 20

// lineSource generates deterministic COPY text lines until at least limit
// bytes, hashing what it hands out.
type lineSource struct {
	limit int64
	sent  int64
	lines int
	chunk []byte
	off   int
	sum   hash.Hash
	fail  error // returned instead of EOF when set
}

func newLineSource(limit int64) *lineSource {
	return &lineSource{limit: limit, sum: sha256.New()}
}

// appendLine writes line i: its number, then 90 letters that depend on i,
// with a two-byte UTF-8 character in every 16th line.
func appendLine(b []byte, i int) []byte {
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ' ')
	for j := 0; j < 90; j++ {
		b = append(b, byte('a'+(i*7+j*13)%26))
	}
	if i%16 == 0 {
		b = append(b, "é"...)
	}
	return append(b, '\n')
}

func (s *lineSource) Read(p []byte) (int, error) {
	if s.off == len(s.chunk) {
		if s.sent >= s.limit {
			if s.fail != nil {
				return 0, s.fail
			}
			return 0, io.EOF
		}
		s.chunk, s.off = s.chunk[:0], 0
		for len(s.chunk) < 64<<10 && s.sent+int64(len(s.chunk)) < s.limit {
			s.chunk = appendLine(s.chunk, s.lines)
			s.lines++
		}
		s.sum.Write(s.chunk)
		s.sent += int64(len(s.chunk))
	}
	n := copy(p, s.chunk[s.off:])
	s.off += n
	return n, nil
}

// countingHash hashes and counts what is written to it.
type countingHash struct {
	hash.Hash
	n int64
}

func (h *countingHash) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.Hash.Write(p)
}

// TestCopyLarge: 100 MB in with COPY FROM STDIN and back out with COPY TO
// STDOUT through a transaction-mode pool, byte for byte.
func TestCopyLarge(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_copy", mode: "transaction", size: 1})
	ctx := testCtx(t)
	adminExec(t, "DROP TABLE IF EXISTS copy_big; CREATE TABLE copy_big (id bigserial, line text NOT NULL)")
	c := p.conn(t, "")

	src := newLineSource(copyBytes)
	tag, err := c.CopyFrom(ctx, src, "COPY copy_big (line) FROM STDIN")
	if err != nil {
		t.Fatalf("COPY FROM STDIN after %d bytes: %v", src.sent, err)
	}
	if tag.RowsAffected() != int64(src.lines) {
		t.Fatalf("COPY FROM: %q, want %d rows", tag, src.lines)
	}
	if c.TxStatus() != 'I' {
		t.Fatalf("status %q after COPY FROM", c.TxStatus())
	}

	out := &countingHash{Hash: sha256.New()}
	tag, err = c.CopyTo(ctx, out, "COPY (SELECT line FROM copy_big ORDER BY id) TO STDOUT")
	if err != nil {
		t.Fatalf("COPY TO STDOUT after %d bytes: %v", out.n, err)
	}
	if tag.RowsAffected() != int64(src.lines) {
		t.Fatalf("COPY TO: %q, want %d rows", tag, src.lines)
	}
	in, back := hex.EncodeToString(src.sum.Sum(nil)), hex.EncodeToString(out.Sum(nil))
	if out.n != src.sent || in != back {
		t.Fatalf("COPY round trip: sent %d bytes sha256 %s, got back %d bytes sha256 %s", src.sent, in, out.n, back)
	}

	// The single server went back to the pool.
	d := p.conn(t, "")
	if v := one(t, ctx, d, "SELECT count(*) FROM copy_big"); v != strconv.Itoa(src.lines) {
		t.Fatalf("another client counts %s rows", v)
	}
}

// TestCopyErrors: COPY that fails (bad data, a client-side abort, an error
// while copying out) leaves the session usable and the server reusable.
func TestCopyErrors(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_copy_err", mode: "transaction", size: 1})
	ctx := testCtx(t)
	adminExec(t, "DROP TABLE IF EXISTS copy_err; CREATE TABLE copy_err (v int)")
	c := p.conn(t, "")

	_, err := c.CopyFrom(ctx, strings.NewReader("1\n2\nx\n4\n"), "COPY copy_err FROM STDIN")
	wantCode(t, "COPY FROM with bad data", err, "22P02")
	if v := one(t, ctx, c, "SELECT 'after bad data'"); v != "after bad data" {
		t.Fatal(v)
	}

	src := newLineSource(1 << 20)
	src.fail = errors.New("client gives up")
	adminExec(t, "DROP TABLE IF EXISTS copy_abort; CREATE TABLE copy_abort (line text)")
	_, err = c.CopyFrom(ctx, src, "COPY copy_abort FROM STDIN")
	wantCode(t, "COPY FROM aborted by the client (CopyFail)", err, "57014")
	if v := one(t, ctx, c, "SELECT count(*) FROM copy_abort"); v != "0" {
		t.Fatalf("aborted COPY left %s rows", v)
	}

	var buf bytes.Buffer
	_, err = c.CopyTo(ctx, &buf, "COPY (SELECT 10 / (5 - g) FROM generate_series(1, 10) g) TO STDOUT")
	wantCode(t, "COPY TO with an error midway", err, "22012")

	// COPY inside a transaction, then the transaction goes on.
	if _, err := simple(ctx, c, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyFrom(ctx, strings.NewReader("5\n6\n"), "COPY copy_err FROM STDIN"); err != nil {
		t.Fatal(err)
	}
	if c.TxStatus() != 'T' {
		t.Fatalf("status %q after COPY in a transaction, want T", c.TxStatus())
	}
	if _, err := simple(ctx, c, "COMMIT"); err != nil {
		t.Fatal(err)
	}

	d := p.conn(t, "")
	if v := one(t, ctx, d, "SELECT sum(v) FROM copy_err"); v != "11" {
		t.Fatalf("rows after the COPY errors: sum %s, want 11", v)
	}
	if d.TxStatus() != 'I' {
		t.Fatalf("status %q", d.TxStatus())
	}
}
