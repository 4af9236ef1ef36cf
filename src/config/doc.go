// Package config loads odyssey.hcl into a validated, immutable Config.
//
// The file is HCL native syntax with names taken from Odyssey's
// configuration (DESIGN §4). Load and Parse either return a Config that the
// rest of the pooler may trust without further checks, or a *DiagError
// holding every problem found, each an hcl.Diagnostic whose Subject is the
// offending value (or the block header when a setting is missing), rendered
// as file:line:col, the source line and a caret.
//
// Decisions:
//
//   - The schema is explicit hcl.BodySchema values decoded with
//     Body.Content, not gohcl struct tags: hcl then rejects unknown keys
//     and blocks with "Did you mean ...?", while our typed getters keep the
//     default for absent or null values and point every message at the
//     value's own range. A config is read once per load or reload, so none
//     of this is on a hot path.
//   - Durations are strings ("15s", "500ms", "1h30m") or "0". gohcl would
//     decode a bare 5 as five nanoseconds, and people expect seconds, so a
//     number is an error that shows how to write the value.
//   - Block labels may be quoted or bare identifiers: `database default`
//     and `database "default"` are the same. The label default is the
//     fallback rule (Rule.DatabaseDefault/UserDefault, with the name left
//     empty), so a database literally called "default" cannot get its own
//     rule, as in Odyssey. The order rules are matched in lives in
//     src/route; Rules keeps file order only for messages and SHOW RULES.
//   - Expressions may call env("NAME") ("" when unset), file("path")
//     (relative to the config file's directory, trailing newlines removed,
//     at most 1 MiB), coalesce (first non-empty string, like Terraform's),
//     tonumber, tostring, tobool, lower, upper and trimspace. There are no
//     variables. Secrets thus stay out of the file.
//   - Relative paths in settings (log_file, pid_file, hba_file,
//     unix_socket_dir, tls_*_file) are taken from the config file's
//     directory, like file(), so a config means the same whatever the
//     pooler's working directory. Parse does not look at those files:
//     whoever uses them reports a missing one; a config stays checkable on
//     a machine other than the one it is for.
//   - Blocks are decoded in dependency order (globals, storages, LDAP
//     endpoints, listens, rules), so their order in the file is free.
//   - A Config is never changed after Parse returns it, so goroutines may
//     share it without locks: a reload builds a new one and the instance
//     swaps it in whole.
package config
