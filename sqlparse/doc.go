// Package sqlparse reads SQL with PostgreSQL's own scanner and grammar
// (pg_query, https://github.com/pganalyze/pg_query_go). It is the only
// package of the module that imports pg_query, whose C parser makes the
// first build of its importers slow; it imports nothing from src/.
//
// It has two jobs.
//
// # Console statements
//
// Parse and ParseAll read the admin console's commands
// (https://www.pgbouncer.org/usage.html#admin-console). Input is split into
// statements by PostgreSQL's scanner, so comments (-- and nested /* */) may
// appear anywhere, a trailing semicolon is optional, keywords are
// case-insensitive, and names follow PostgreSQL's rule: unquoted ones are
// folded to lower case, "Quoted" ones kept as written.
//
//   - SHOW name, SET name {= | TO} value and SELECT go to PostgreSQL's
//     grammar, which knows SHOW TIME ZONE, quoted and escaped values, and
//     value lists (SET x = a, b sets "a, b").
//   - The verbs its grammar does not know go to a small grammar of one
//     optional argument: PAUSE, RESUME, DISABLE, ENABLE, RECONNECT, KILL and
//     WAIT_CLOSE [db]; KILL_CLIENT id; SUSPEND; RELOAD; SHUTDOWN
//     [WAIT_FOR_SERVERS | WAIT_FOR_CLIENTS]; and SHOW name filter (SHOW
//     CLIENTS app), which PostgreSQL's grammar refuses.
//   - BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK and ABORT, which
//     drivers outside autocommit mode (psycopg's default) send around
//     every query.
//
// SELECT: PgBouncer answers every SELECT with "invalid command". Health
// checkers and connection pools on the client side send liveness probes
// such as SELECT 1, so ParseAll accepts a SELECT whose columns are all
// constants (integers, strings, booleans, NULL, with optional aliases) and
// nothing else: no FROM, no functions. The console answers it as PostgreSQL
// would. Every other SELECT is an invalid command.
//
// Several statements in one Query: PgBouncer refuses them ("invalid
// command 'SHOW POOLS; SHOW STATS'"). ParseAll returns each, and the console
// answers each in turn as PostgreSQL does (one ReadyForQuery at the end,
// the first error ends the rest). If any statement is invalid none runs, as
// PostgreSQL parses a whole query string before running it.
//
// Anything else is a *SyntaxError whose text is PgBouncer's: invalid command
// '...', use SHOW HELP;
//
// # Classifying application SQL
//
// Classify reports what a statement may do to its session that a
// transaction-mode pooler must notice: settings to read back, prepared
// statements dropped, and state that pins a client to its server (LISTEN,
// session advisory locks, temporary objects, WITH HOLD cursors, SQL-level
// PREPARE). It is meant for the relay's hot path: a byte scan for the few
// keywords involved answers most statements without calling the scanner;
// BenchmarkClassify measures both paths.
package sqlparse
