package relay

import (
	"context"
	"fmt"

	"github.com/odyssey-go/odyssey/src/backend"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// Session state that cannot move between servers: LISTEN, session advisory
// locks, temporary tables, WITH HOLD cursors and SQL-level PREPARE
// (DESIGN §5). In transaction mode a client whose transaction may have
// created such state (classify's state flag) has its server checked with
// sessionStateQuery before release; while any remains, the client is pinned
// to that server: it keeps it between transactions, as in session mode, and
// gets it back on the next attach. A later transaction that may have dropped
// the state is checked again and unpins. When a client leaves, a server that
// may hold such state is reset with DISCARD ALL before anyone else gets it.
//
// The check is lexical and therefore misses state created inside a function
// body; pool_discard = true closes that gap at the cost of a DISCARD ALL per
// release.

// sessionStateQuery counts what a session holds. Statements named by the
// relay (odyssey_...) are shared by design and not counted when sharing.
func sessionStateQuery(sharedStatements bool) string {
	prepared := "true"
	if sharedStatements {
		prepared = `name NOT LIKE 'odyssey\_%'`
	}
	return fmt.Sprintf(`SELECT (SELECT count(*) FROM pg_catalog.pg_listening_channels())
 + (SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid())
 + (SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE %s)
 + (SELECT count(*) FROM pg_catalog.pg_cursors)
 + (SELECT count(*) FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema())`, prepared)
}

// holdsState asks srv whether it holds session state.
func (s *Session) holdsState(ctx context.Context, srv *backend.Server) (bool, error) {
	rows, err := srv.Query(ctx, sessionStateQuery(s.prep))
	if err != nil {
		return false, err
	}
	return len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] != "0", nil
}

// resetState makes srv safe for another client: DISCARD ALL when it holds
// session state. Runs on whichever goroutine owns srv after its client left.
func (s *Session) resetState(ctx context.Context, srv *backend.Server) error {
	held, err := s.holdsState(ctx, srv)
	if err != nil || !held {
		return err
	}
	if err := srv.Exec(ctx, "DISCARD ALL"); err != nil {
		return err
	}
	clear(srv.Vars)
	clear(srv.Prepared)
	return nil
}

// takePinned returns the server the session is pinned to, checked alive,
// or nil. A pinned server that died takes the client's session state with
// it, so the client's session ends as it would on a direct connection.
func (s *Session) takePinned() (*backend.Server, error) {
	s.mu.Lock()
	srv := s.pinned
	s.mu.Unlock()
	if srv == nil {
		return nil, nil
	}
	if !srv.Alive() {
		s.mu.Lock()
		s.setPinnedLocked(nil)
		s.mu.Unlock()
		s.discard(srv)
		return nil, pgerr.Fatalf(pgerr.ConnectionFailure, "server connection lost (it held this session's LISTEN, locks, temporary tables or prepared statements)")
	}
	return srv, nil
}
