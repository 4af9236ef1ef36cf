// Package route turns rules into routes.
//
// A rule is one `database "d" { user "u" { ... } }` block of the
// configuration. A Route is the runtime object for one matched rule and the
// (database, user) a client asked for: it owns the server pools for that
// pair, one per endpoint of the rule's storage, and the route's client count
// and counters. A `database default` rule therefore serves every client
// database with its own route and pools, as in Odyssey.
//
// Matching follows Odyssey: the exact (database, user) rule first, then
// (database, default), then (default, user), then (default, default). When
// nothing matches, a client gets FATAL 3D000 if no database block covers its
// database, or FATAL 28000 if one does but has no rule for its user.
//
// Where the servers of a route log in: the database is the rule's
// storage_db or else the client's database, the user is storage_user or
// else the client's user, and the password is storage_password, or else the
// rule's password when that is plain text (an "md5..." or "SCRAM-SHA-256$..."
// hash cannot be used to log in). An endpoint without a host, or whose host
// starts with "/", is a unix socket directory (unix_socket_dir when empty),
// as in libpq.
//
// Several endpoints: Pool returns the first endpoint's pool. Choosing among
// endpoints by target_session_attrs, and failing over, is not done yet;
// Pools lists them all.
//
// TLS to servers: Open (and Reload) read the TLS files of every storage
// that encrypts into one tlsconf.Client per storage, which its routes'
// dial options share. A reload fails, changing nothing, when one cannot be
// read. A storage whose TLS settings did not change keeps its Client,
// which adopts the files just read: routes that carry on use them for new
// server connections.
//
// Reload: Router.Reload swaps in a new configuration. For each live route
// the rule that now matches its (database, user) is found:
//
//   - same rule and storage (source positions aside): the route and its
//     pools carry on unchanged;
//   - only pool limits (pool_size, min_pool_size, pool_timeout, pool_ttl,
//     server_lifetime) or client_max differ: a new Route with the new rule
//     takes over the pools, whose limits change in place (pool.SetOptions),
//     and the client count; the old Route forwards to it;
//   - anything else, or no rule any more: the route becomes obsolete. Its
//     clients carry on with it, new clients get a new route, and its pools
//     close when its last client leaves.
//
// Console control (control.go), by the database name clients ask for, with
// PgBouncer's semantics (https://www.pgbouncer.org/usage.html):
//
//   - Pause and Kill pause db, or with "" every database but the console's
//     (the "pause of all"); the two kinds of pause are separate, and Resume
//     ends one kind at a time, as PgBouncer's RESUME does. A paused route's
//     pools are paused, and so are pools and routes made later for the
//     database (pool.Options.Paused).
//   - Disable makes Match refuse the database with FATAL 57P03.
//   - Reconnect and WaitClose act on the pools made so far, of current
//     routes and of obsolete ones still draining; the servers of an
//     obsolete route count as close_needed (pool.Retire).
//   - The state is kept by name in the Router, so a reload keeps it.
//   - Errors say what PgBouncer's console says and carry a SQLSTATE; their
//     kinds (ErrNoDatabase, ...) work with errors.Is.
//
// Views: Routes lists the routes, Route.ExistingPools their pools without
// making any, and pool.Pool's Stats and Servers what each pool holds.
//
// Concurrency: Router and Route are safe for concurrent use. A Route's Rule,
// Storage, Database, User and ID never change after it is made.
package route
