// Package config loads odyssey.hcl: HCL native syntax, names from Odyssey's
// configuration, every error an hcl.Diagnostic that names file:line:col.
//
// Decisions:
//   - Durations are strings ("15s", "500ms", "0"): gohcl would read a bare 5
//     as five nanoseconds, so a bare number is an error that says how to
//     write it.
//   - env("NAME") and file("path") work in any expression, so secrets need
//     not live in the file. file() is relative to the config's directory.
//     env() of an unset variable is null: the setting keeps its default, and
//     coalesce(env("X"), "fallback") picks the fallback.
//   - Labels may be bare identifiers; `default` as a database or user label
//     is the fallback rule. Rule matching order lives in src/route.
//   - A Config is immutable once returned; a reload builds a new one.
package config
