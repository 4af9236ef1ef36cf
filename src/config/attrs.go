package config

import (
	"fmt"
	"math"
	"math/big"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// decoder collects every diagnostic of one Parse, so that an operator sees
// all mistakes at once rather than one per --check.
type decoder struct {
	ctx   *hcl.EvalContext
	dir   string // the config file's directory; relative paths start here
	diags hcl.Diagnostics
}

func (d *decoder) errorf(r hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  r.Ptr(),
	})
}

// block reads one block's attributes. Every getter leaves its destination
// (which holds the default) untouched when the attribute is absent, null or
// unusable; an unusable value becomes a diagnostic pointing at the value.
type block struct {
	d     *decoder
	attrs hcl.Attributes
	def   hcl.Range // the block header, for errors about the block as a whole
}

func (d *decoder) block(attrs hcl.Attributes, def hcl.Range) *block {
	return &block{d: d, attrs: attrs, def: def}
}

// has reports whether the attribute is written in the block.
func (b *block) has(name string) bool {
	_, ok := b.attrs[name]
	return ok
}

// rng is where a message about the attribute should point: its value, or the
// block header when it is absent.
func (b *block) rng(name string) hcl.Range {
	if a, ok := b.attrs[name]; ok {
		return a.Expr.Range()
	}
	return b.def
}

// value evaluates the attribute and converts it to ty (cty.DynamicPseudoType:
// no conversion).
func (b *block) value(name string, ty cty.Type) (cty.Value, bool) {
	a, ok := b.attrs[name]
	if !ok {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(b.d.ctx)
	b.d.diags = append(b.d.diags, diags...)
	if diags.HasErrors() || v.IsNull() {
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		b.d.errorf(a.Expr.Range(), "Unknown value", "The value of %s cannot be known when the configuration is read.", name)
		return cty.NilVal, false
	}
	return b.convert(name, v, ty)
}

func (b *block) convert(name string, v cty.Value, ty cty.Type) (cty.Value, bool) {
	if ty == cty.DynamicPseudoType {
		return v, true
	}
	cv, err := convert.Convert(v, ty)
	if err != nil {
		a := b.attrs[name]
		b.d.diags = append(b.d.diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Unsuitable value type",
			Detail:      fmt.Sprintf("Inappropriate value for %s: %s.", name, err),
			Subject:     a.Expr.Range().Ptr(),
			Expression:  a.Expr,
			EvalContext: b.d.ctx,
		})
		return cty.NilVal, false
	}
	return cv, !cv.IsNull()
}

func (b *block) str(name string, dst *string) {
	if v, ok := b.value(name, cty.String); ok {
		*dst = v.AsString()
	}
}

// path reads a file or directory name; a relative one is taken from the
// config file's directory, like file().
func (b *block) path(name string, dst *string) {
	var p string
	b.str(name, &p)
	if p == "" {
		return
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(b.d.dir, p)
	}
	*dst = p
}

// integer reads a whole number that fits in 32 bits: every count and port in
// the schema is far below that, and larger values are typos.
func (b *block) integer(name string, dst *int) {
	v, ok := b.value(name, cty.Number)
	if !ok {
		return
	}
	f := v.AsBigFloat()
	n, acc := f.Int64()
	if !f.IsInt() || acc != big.Exact || n < math.MinInt32 || n > math.MaxInt32 {
		b.d.errorf(b.rng(name), "Invalid number", "%s must be a whole number below 2^31, not %s.", name, f.Text('g', 10))
		return
	}
	*dst = int(n)
}

func (b *block) boolean(name string, dst *bool) {
	if v, ok := b.value(name, cty.Bool); ok {
		*dst = v.True()
	}
}

func (b *block) strs(name string, dst *[]string) {
	v, ok := b.value(name, cty.List(cty.String))
	if !ok {
		return
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			b.d.errorf(b.rng(name), "Invalid value", "%s must not contain null.", name)
			return
		}
		out = append(out, e.AsString())
	}
	*dst = out
}

// enum reads a string that must be one of allowed.
func (b *block) enum(name string, dst *string, allowed ...string) {
	v, ok := b.value(name, cty.String)
	if !ok {
		return
	}
	s := v.AsString()
	if contains(allowed, s) {
		*dst = s
		return
	}
	b.d.errorf(b.rng(name), "Invalid value", "%s must be one of %s, not %q.%s", name, quoteList(allowed), s, didYouMean(s, allowed))
}

// duration reads a duration written as a string with a unit ("15s",
// "500ms", "1h30m") or "0". A bare number is refused: gohcl and most users'
// intuition disagree on its unit, so the message shows how to write it.
func (b *block) duration(name string, dst *time.Duration, example string) {
	v, ok := b.value(name, cty.DynamicPseudoType)
	if !ok {
		return
	}
	if v.Type() == cty.Number {
		b.d.errorf(b.rng(name), "Duration needs a unit",
			"%s must be a string such as %q: durations are written with a unit (ms, s, m, h), and \"0\" turns the limit off.", name, example)
		return
	}
	if v, ok = b.convert(name, v, cty.String); !ok {
		return
	}
	s := strings.TrimSpace(v.AsString())
	if s == "0" {
		*dst = 0
		return
	}
	t, err := time.ParseDuration(s)
	if err != nil || t < 0 {
		b.d.errorf(b.rng(name), "Invalid duration",
			"%s must be a duration such as %q (units ms, s, m, h; \"0\" turns the limit off), not %q.", name, example, s)
		return
	}
	*dst = t
}

// mode reads a unix file mode written as an octal string ("0644").
func (b *block) mode(name string, dst *uint32) {
	v, ok := b.value(name, cty.String)
	if !ok {
		return
	}
	s := v.AsString()
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		b.d.errorf(b.rng(name), "Invalid file mode", "%s must be an octal string such as \"0644\", not %q.", name, s)
		return
	}
	*dst = uint32(m)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// didYouMean suggests the closest of names to a misspelt given, with the
// same threshold hcl uses for attribute names.
func didYouMean(given string, names []string) string {
	best, dist := "", 3
	for _, n := range names {
		if d := levenshtein.Distance(given, n, nil); d < dist {
			best, dist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
