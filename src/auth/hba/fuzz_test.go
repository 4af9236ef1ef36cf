package hba

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse arbitrary files: it must return a File or errors
// naming a line, never panic, and Check on what it returns must either
// allow or wrap ErrRejected. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("local all all trust\nhost all all 127.0.0.1/32 reject\n"))
	conns := []Conn{
		{Local: true, Database: "postgres", User: "postgres"},
		{Addr: netip.MustParseAddr("127.0.0.1"), Database: "app", User: "app"},
		{Addr: netip.MustParseAddr("::ffff:10.1.2.3"), SSL: true, Database: "all", User: "+x"},
		{Addr: netip.MustParseAddr("2001:db8::1"), Database: "", User: ""},
	}
	// @files resolve in an empty directory, so relative ones are missing;
	// absolute ones may read any regular file.
	name := filepath.Join(f.TempDir(), "pg_hba.conf")
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(name, data)
		if (file == nil) == (err == nil) {
			t.Fatalf("Parse returned file %v and error %v", file, err)
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != name || pe.Line < 1 {
				t.Fatalf("error %v does not name a line of %s", err, name)
			}
			return
		}
		for _, c := range conns {
			if err := file.Check(c); err != nil && !errors.Is(err, ErrRejected) {
				t.Fatalf("Check(%+v) = %v, not ErrRejected", c, err)
			}
		}
	})
}
