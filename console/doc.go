// Package console is the admin console: the virtual database that answers
// PgBouncer's admin commands (https://www.pgbouncer.org/usage.html) and
// Odyssey's, so that psql, scripts, and monitoring written for PgBouncer
// (the prometheus-community pgbouncer_exporter, Datadog, Telegraf) work
// unchanged against this pooler (DESIGN §6).
//
// The console imports nothing from src/. It declares what it needs from
// the pooler as the Source interface, which src/instance implements: plain
// row structs for each SHOW, and the control verbs. Statements are parsed
// by sqlparse.
//
// # A console session
//
//  1. The pooler accepts a client whose rule routes to a storage of type
//     "local", authenticates it, sends AuthenticationOk, and calls Serve
//     with the connection (any bytes its startup reader buffered included),
//     a Session (user, role, startup parameters, cancel key) and the
//     Source.
//  2. Serve sends the ParameterStatus set a server would (server_version,
//     client_encoding UTF8, DateStyle, standard_conforming_strings on, ...:
//     drivers check some of them), BackendKeyData when the pooler issued a
//     cancel key, and ReadyForQuery.
//  3. Each Query is split into statements; each is answered in turn as
//     PostgreSQL does. Parse/Bind/Describe/Execute/Sync (the extended
//     protocol) are answered too, so pgx, JDBC and psycopg work in their
//     default modes; Describe of a SHOW returns its columns without effects.
//  4. Terminate, end of input, or SHUTDOWN ends the session.
//
// # Results
//
// Every SHOW keeps PgBouncer 1.25's column names, order and types (text 25,
// int4 23, int8 20, numeric 1700; timestamps as text "2006-01-02 15:04:05
// UTC"), transcribed in show.go from PgBouncer's admin.c and stats.c, with
// the command tag SHOW. Odyssey's extras (SHOW ERRORS, POOLS_EXTENDED,
// STORAGES, LISTEN, RULES, SERVER_PREP_STMTS, IS_PAUSED) follow Odyssey's
// sources/console.c where it has them; show.go notes where they differ.
// Values are sent in text or, when a driver asks in Bind, binary format.
// SHOW CLIENTS, SERVERS and SOCKETS take a filter: a number selects a
// connection id, a name a database (SHOW CLIENTS app). The STATS commands,
// POOLS and DATABASES take a database, USERS a user, CONFIG a key.
// SHOW DNS_HOSTS, DNS_ZONES, PEERS and PEER_POOLS are always empty: Go's
// resolver keeps no cache and this pooler has no peers.
//
// SHOW HELP is a NOTICE, as PgBouncer's. SHOW and SET of the session
// settings tools touch on every connection (client_encoding, DateStyle,
// extra_float_digits, application_name, ...) are answered as PgBouncer
// does: SHOW tells the value, SET says NOTICE "SET ignored". A SELECT of
// constants (SELECT 1) is answered as PostgreSQL would, for health checks.
// BEGIN, COMMIT and ROLLBACK are accepted and the transaction status kept
// as PostgreSQL reports it (an error in a block fails it until ROLLBACK),
// because psycopg outside autocommit mode sends BEGIN before its first
// query; nothing is transactional, each command takes effect at once.
//
// # Errors and roles
//
// Unknown input is ERROR 08P01 "invalid command '...', use SHOW HELP;" and
// the session goes on. The stat role may SHOW (but not SHOW FDS), SELECT
// constants, and SET the ignored session settings; anything else gets
// ERROR 42501 "admin access needed". Errors from the Source keep their
// SQLSTATE when they carry one (Error, or src/pgerr's); a failed RELOAD
// is F0000.
//
// # Waiting commands
//
// PAUSE, SUSPEND and WAIT_CLOSE wait inside the Source. The console does
// not read from the client meanwhile; a CancelRequest (psql's ^C), which the
// pooler passes on through Session.Cancel, ends the wait with ERROR 57014
// and, for PAUSE and SUSPEND, resumes, as PgBouncer does. A SUSPEND whose
// session ends is resumed too.
package console
