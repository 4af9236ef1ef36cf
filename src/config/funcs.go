package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxFileFunc bounds what file() reads: it is meant for a password or a
// certificate, and a mistyped path (a log, /dev/zero) must not eat memory.
const maxFileFunc = 1 << 20

// evalContext is what expressions in the file may call. There are no
// variables: a config is a plain value, computed once.
func evalContext(dir string) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env":       envFunc,
		"file":      fileFunc(dir),
		"coalesce":  coalesceFunc,
		"tonumber":  stdlib.MakeToFunc(cty.Number),
		"tostring":  stdlib.MakeToFunc(cty.String),
		"tobool":    stdlib.MakeToFunc(cty.Bool),
		"lower":     stdlib.LowerFunc,
		"upper":     stdlib.UpperFunc,
		"trimspace": stdlib.TrimSpaceFunc,
	}}
}

// envFunc is env("NAME"): the variable's value, "" when it is unset, so that
// `env("X") != "" ? env("X") : "fallback"` and coalesce(env("X"), "fallback")
// both work.
var envFunc = function.New(&function.Spec{
	Description: "The value of an environment variable, or \"\" when it is unset.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(os.Getenv(args[0].AsString())), nil
	},
})

// fileFunc is file("path"): the file's text without trailing newlines, a
// relative path taken from the config file's directory.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "The contents of a text file without trailing newlines; relative paths start at the config file's directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := readSmall(p)
			if err != nil {
				return cty.NilVal, err
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("%s is not UTF-8 text", p)
			}
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
		},
	})
}

// readSmall reads a regular file of at most maxFileFunc bytes. It checks the
// type before opening: opening a FIFO would block the load.
func readSmall(path string) ([]byte, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileFunc+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileFunc {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileFunc)
	}
	return b, nil
}

// coalesceFunc is Terraform's coalesce for strings: the first argument that
// is neither null nor "". cty's own coalesce skips only nulls, which would
// make coalesce(env("X"), "fallback") return "" for an unset X.
var coalesceFunc = function.New(&function.Spec{
	Description: "The first argument that is neither null nor an empty string.",
	VarParam:    &function.Parameter{Name: "vals", Type: cty.String, AllowNull: true},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for _, a := range args {
			if !a.IsNull() && a.AsString() != "" {
				return a, nil
			}
		}
		return cty.NilVal, errors.New("every argument is null or empty")
	},
})
