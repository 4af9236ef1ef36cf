package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// DiagError is an invalid configuration. Diags holds every problem found,
// each with the source range it is about, in file order; Error renders them
// like a compiler would: file:line:col, the line, and a caret under the
// offending text.
type DiagError struct {
	Diags hcl.Diagnostics
	text  string
}

func (e *DiagError) Error() string { return e.text }

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(src, path)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// Parse validates src as the contents of filename, which names the file in
// messages and is where file() and relative paths start from.
func Parse(src []byte, filename string) (*Config, error) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	var cfg *Config
	if !diags.HasErrors() {
		dir := filepath.Dir(filename)
		d := &decoder{ctx: evalContext(dir), dir: dir}
		cfg = d.file(f.Body)
		diags = append(diags, d.diags...)
	}
	if diags.HasErrors() {
		return nil, newDiagError(diags, p.Files())
	}
	return cfg, nil
}

func newDiagError(diags hcl.Diagnostics, files map[string]*hcl.File) *DiagError {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
	var b strings.Builder
	for i, d := range diags {
		if i > 0 {
			b.WriteByte('\n')
		}
		writeDiag(&b, d, files)
	}
	return &DiagError{Diags: diags, text: strings.TrimRight(b.String(), "\n")}
}

// writeDiag renders one diagnostic as
//
//	odyssey.hcl:6:12: Invalid value; pool must be one of ...
//	    6 |     pool = "sessions"
//	      |            ^^^^^^^^^^
//
// hcl.NewDiagnosticTextWriter names only the line and marks the subject
// with ANSI colour alone, which is lost in logs and in --check output.
func writeDiag(b *strings.Builder, d *hcl.Diagnostic, files map[string]*hcl.File) {
	msg := d.Summary
	if d.Detail != "" {
		msg += "; " + d.Detail
	}
	if d.Severity == hcl.DiagWarning {
		msg = "warning: " + msg
	}
	if d.Subject == nil {
		fmt.Fprintf(b, "%s\n", msg)
		return
	}
	s := d.Subject
	fmt.Fprintf(b, "%s:%d:%d: %s\n", s.Filename, s.Start.Line, s.Start.Column, msg)
	f := files[s.Filename]
	if f == nil || s.Start.Byte < 0 || s.Start.Byte > len(f.Bytes) {
		return
	}
	src := f.Bytes
	start := s.Start.Byte
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		lineEnd = start + i
	}
	line := strings.TrimRight(string(src[lineStart:lineEnd]), "\r")
	end := min(max(s.End.Byte, start), lineEnd)
	// Keep tabs in the caret line's indent so the carets line up.
	var pad strings.Builder
	for _, r := range string(src[lineStart:start]) {
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	carets := max(utf8.RuneCount(src[start:end]), 1)
	num := fmt.Sprint(s.Start.Line)
	fmt.Fprintf(b, " %s | %s\n", num, line)
	fmt.Fprintf(b, " %s | %s%s\n", strings.Repeat(" ", len(num)), pad.String(), strings.Repeat("^", carets))
}
