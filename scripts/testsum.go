//go:build ignore

// testsum reads `go test -json` events on stdin (several runs may be
// concatenated) and prints what plain `go test` would: one line per package,
// and the full output of tests and packages that failed. It ends with
//
//	tests: N passed, N failed, N skipped
//
// counting top-level tests (fuzz targets run on their seeds count as tests),
// and exits 1 when any test, package or build failed. With an argument, the
// last line is also written to that file.
//
//	go test -json ./... | go run scripts/testsum.go [FILE]
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output and build-fail events
	FailedBuild string
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()

	var passed, failed, skipped, brokenPkgs int
	// Output is held per test and per package until we know whether it
	// failed; passing tests stay quiet, as in plain `go test`.
	testOut := map[string][]string{} // package + "\x00" + test
	pkgOut := map[string][]string{}
	key := func(e *event) string { return e.Package + "\x00" + e.Test }
	topLevel := func(name string) bool { return !strings.Contains(name, "/") }

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for in.Scan() {
		line := in.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event (go command diagnostics that reached stdout).
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		switch {
		case e.Action == "build-output":
			fmt.Fprint(out, e.Output)
		case e.Action == "build-fail":
			brokenPkgs++
		case e.Action == "output" && e.Test != "":
			testOut[key(&e)] = append(testOut[key(&e)], e.Output)
		case e.Action == "output":
			pkgOut[e.Package] = append(pkgOut[e.Package], e.Output)
		case e.Test != "" && (e.Action == "pass" || e.Action == "skip" || e.Action == "fail"):
			if e.Action == "fail" {
				if i := strings.LastIndex(e.Test, "/"); i >= 0 {
					// A subtest's output is printed with its parent's,
					// which fails too, in the order it was written.
					parent := e.Package + "\x00" + e.Test[:i]
					testOut[parent] = append(testOut[parent], testOut[key(&e)]...)
				} else {
					for _, s := range testOut[key(&e)] {
						fmt.Fprint(out, s)
					}
				}
			}
			delete(testOut, key(&e))
			if topLevel(e.Test) {
				switch e.Action {
				case "pass":
					passed++
				case "skip":
					skipped++
				case "fail":
					failed++
				}
			}
		case e.Test == "" && (e.Action == "pass" || e.Action == "skip"):
			// The last package line is "ok  pkg 1.2s" or "?  pkg [no test files]".
			lines := pkgOut[e.Package]
			for i := len(lines) - 1; i >= 0; i-- {
				if strings.HasPrefix(lines[i], "ok") || strings.HasPrefix(lines[i], "?") {
					fmt.Fprint(out, lines[i])
					break
				}
			}
			delete(pkgOut, e.Package)
		case e.Test == "" && e.Action == "fail":
			brokenPkgs++
			// A panic or timeout leaves tests without an end event: their
			// output explains the failure.
			for k, lines := range testOut {
				if test, ok := strings.CutPrefix(k, e.Package+"\x00"); ok {
					if topLevel(test) {
						failed++
					}
					for _, s := range lines {
						fmt.Fprint(out, s)
					}
					delete(testOut, k)
				}
			}
			for _, s := range pkgOut[e.Package] {
				fmt.Fprint(out, s)
			}
			delete(pkgOut, e.Package)
		}
		out.Flush()
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(out, "testsum: reading go test output:", err)
		brokenPkgs++
	}
	total := fmt.Sprintf("tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	fmt.Fprint(out, total)
	if len(os.Args) > 1 {
		if err := os.WriteFile(os.Args[1], []byte(total), 0o644); err != nil {
			fmt.Fprintln(out, "testsum:", err)
			brokenPkgs++
		}
	}
	if failed > 0 || brokenPkgs > 0 {
		out.Flush()
		os.Exit(1)
	}
}
