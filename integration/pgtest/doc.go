// Package pgtest starts a throwaway PostgreSQL for tests.
//
// Start runs initdb and pg_ctl from the OS packages (found with
// pg_config --bindir or under /usr/lib/postgresql/*/bin, highest version) in
// a temporary directory, listening on a free port of 127.0.0.1 and on a unix
// socket in that directory. PostgreSQL refuses to run as root, so when the
// tests run as root the directory is given to the postgres OS user and the
// binaries run through runuser (or su). The cluster is tuned for tests
// (fsync, synchronous_commit and full_page_writes off) and has one role per
// password authentication method, see the *User and *Password constants and
// the pg_hba.conf that Start writes:
//
//	local all all                     trust
//	host  all cleartext_user 127.0.0.1/32 password
//	host  all md5_user       127.0.0.1/32 md5
//	host  all all            127.0.0.1/32 scram-sha-256
//	host  all all            ::1/128      scram-sha-256
//
// ODYSSEY_TEST_PG points the tests at an existing server instead: a libpq
// keyword/value string ("host=... port=... user=... password=..."), a
// postgres:// URL, or "host port". Its user must be able to create roles;
// the test roles are created (or their passwords reset) when missing, and
// that server's own pg_hba.conf decides how they authenticate.
//
// A test package starts one cluster for all its tests:
//
//	var cluster *pgtest.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }
//
// Every cluster has a watchdog process that stops PostgreSQL and removes the
// directory if the test binary dies without calling Stop (a panic, a
// go test -timeout, a signal), so crashed runs do not leave servers behind.
package pgtest
