package route

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/pool"
)

// This file has the console's control verbs by database name, with
// PgBouncer's semantics (https://www.pgbouncer.org/usage.html, and
// admin.c for the error cases): PAUSE, RESUME, KILL, RECONNECT,
// WAIT_CLOSE, DISABLE and ENABLE. A database is the name clients ask for
// (Route.Database); "" means every database but the console's.

// The kinds of error a control verb returns, for errors.Is. The errors
// themselves carry PgBouncer's wording and a SQLSTATE the console shows
// as is (they have a Response method).
var (
	// ErrNoDatabase: no rule matches the database and no route serves
	// it (3D000).
	ErrNoDatabase = errors.New("no such database")
	// ErrConsoleDatabase: the database is the console's, which cannot be
	// paused, killed, reconnected, disabled or waited for (55000).
	ErrConsoleDatabase = errors.New("the console's database")
	// ErrAlreadyPaused: PAUSE while a PAUSE without database is in force
	// (55000).
	ErrAlreadyPaused = errors.New("already paused")
	// ErrNotPaused: RESUME of something not paused, or a PAUSE that a
	// RESUME ended before its servers were released (55000).
	ErrNotPaused = errors.New("not paused")
)

// controlError is a control verb's error: its kind for errors.Is, and the
// message and SQLSTATE for the console.
type controlError struct {
	kind error
	code string
	msg  string
}

func (e *controlError) Error() string { return e.msg }
func (e *controlError) Unwrap() error { return e.kind }

// Response is the ERROR the console sends.
func (e *controlError) Response() *pgproto3.ErrorResponse {
	return pgerr.Errorf(e.code, "%s", e.msg).Response()
}

func controlErr(kind error, code, format string, args ...any) error {
	return &controlError{kind: kind, code: code, msg: fmt.Sprintf(format, args...)}
}

// disabledDatabase is what a client of a disabled database gets. The text
// is PgBouncer's; the SQLSTATE is cannot_connect_now, as for a server that
// does not take connections for now, rather than PgBouncer's blanket
// 08P01, so that clients know to retry later.
func disabledDatabase(db string) *pgerr.Error {
	return pgerr.Fatalf(pgerr.CannotConnectNow, "database does not allow connections: %s", db)
}

// Pause pauses db, or with db "" every database but the console's
// (PgBouncer's PAUSE without argument): new work queues in the pools,
// servers are closed as they are released, and Pause returns once none is
// left. A route made later for a paused database starts paused. When ctx
// ends first Pause returns ctx.Err() and the pause stays in force; when a
// Resume ends it first, an ErrNotPaused error.
//
// As in PgBouncer, PAUSE of a database while the pause of all is in force
// fails (ErrAlreadyPaused), as does a second PAUSE of all; a second PAUSE
// of one database waits again.
func (r *Router) Pause(ctx context.Context, db string) error {
	r.ctl.Lock()
	r.mu.Lock()
	err := r.checkLocked("pause", db)
	if err == nil && r.pausedAll {
		err = controlErr(ErrAlreadyPaused, pgerr.ObjectNotInPrerequisite, "already paused")
	}
	if err != nil {
		r.mu.Unlock()
		r.ctl.Unlock()
		return err
	}
	if db == "" {
		r.pausedAll = true
	} else {
		r.paused = set(r.paused, db, true)
	}
	pools := r.applyLocked(db)
	r.mu.Unlock()
	pools.apply()
	r.ctl.Unlock()

	for _, p := range pools.pause {
		if err := p.WaitPaused(ctx); errors.Is(err, pool.ErrResumed) {
			return controlErr(ErrNotPaused, pgerr.ObjectNotInPrerequisite,
				"PAUSE %s ended by RESUME before its servers were released", name(db))
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Resume ends the pause of db, or with db "" the pause of all. As in
// PgBouncer, the two are separate: RESUME without database does not end
// PAUSE db, and RESUME db does not end a PAUSE without database (it fails
// with ErrNotPaused, the database not being paused itself). A KILL is
// ended the same way as a PAUSE.
func (r *Router) Resume(db string) error {
	r.ctl.Lock()
	defer r.ctl.Unlock()
	r.mu.Lock()
	err := r.checkLocked("resume", db)
	switch {
	case err != nil:
	case db == "" && !r.pausedAll:
		err = controlErr(ErrNotPaused, pgerr.ObjectNotInPrerequisite, "pooler is not paused")
	case db != "" && !r.paused[db]:
		err = controlErr(ErrNotPaused, pgerr.ObjectNotInPrerequisite, "database %s is not paused", db)
	}
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if db == "" {
		r.pausedAll = false
	} else {
		delete(r.paused, db)
	}
	pools := r.applyLocked(db)
	r.mu.Unlock()
	pools.apply()
	return nil
}

// Kill closes every server of db (db "" every database but the
// console's) now, in use or not, and pauses it until Resume, as
// PgBouncer's KILL does. A client whose server is closed under it sees
// the error and ends; dropping the other clients is the caller's part.
//
// KILL without database pauses all, so that RESUME without database
// ends it. (PgBouncer pauses each database instead, which a plain RESUME
// then does not undo.)
func (r *Router) Kill(db string) error {
	r.ctl.Lock()
	defer r.ctl.Unlock()
	r.mu.Lock()
	if err := r.checkLocked("kill", db); err != nil {
		r.mu.Unlock()
		return err
	}
	if db == "" {
		r.pausedAll = true
	} else {
		r.paused = set(r.paused, db, true)
	}
	pools := r.applyLocked(db)
	r.mu.Unlock()
	for _, p := range pools.pause {
		p.Kill()
	}
	return nil
}

// Reconnect closes each server of db (db "" every database) when it is
// next released, or now when idle, as PgBouncer's RECONNECT does; new
// servers are dialled as needed.
func (r *Router) Reconnect(db string) error {
	pools, err := r.existingPools("reconnect", db)
	if err != nil {
		return err
	}
	for _, p := range pools {
		p.Reconnect()
	}
	return nil
}

// WaitClose returns once no server of db (db "" every database) is left
// that is to close when released: after Reconnect, and after a reload
// replaced its route's rule (the servers of an obsolete route close with
// its last client). It returns ctx.Err() when ctx ends first.
func (r *Router) WaitClose(ctx context.Context, db string) error {
	pools, err := r.existingPools("wait in", db)
	if err != nil {
		return err
	}
	for _, p := range pools {
		if err := p.WaitClose(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Disable makes Match refuse new clients of db with FATAL 57P03
// "database does not allow connections: db"; connected clients carry on.
// Enable undoes it. Both need a database, as in PgBouncer.
func (r *Router) Disable(db string) error { return r.setDisabled("disable", db, true) }

// Enable lets clients connect to db again after Disable.
func (r *Router) Enable(db string) error { return r.setDisabled("enable", db, false) }

func (r *Router) setDisabled(verb, db string, disabled bool) error {
	if db == "" {
		return controlErr(ErrNoDatabase, pgerr.InvalidCatalogName, "a database is required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(verb, db); err != nil {
		return err
	}
	if disabled {
		r.disabled = set(r.disabled, db, true)
	} else {
		delete(r.disabled, db)
	}
	return nil
}

// Paused reports whether db is paused by PAUSE db or KILL db; with db ""
// it is PausedAll. A pause of all does not show here, as PgBouncer shows it
// in SHOW STATE rather than in SHOW DATABASES' paused column.
func (r *Router) Paused(db string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if db == "" {
		return r.pausedAll
	}
	return r.paused[db]
}

// PausedAll reports whether a PAUSE or KILL without database is in force.
func (r *Router) PausedAll() bool { return r.Paused("") }

// Disabled reports whether db is disabled.
func (r *Router) Disabled(db string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.disabled[db]
}

// pausedLocked reports whether the pools of db are to be paused. Called
// with r.mu held.
func (r *Router) pausedLocked(db string) bool {
	return r.pausedAll || r.paused[db]
}

// checkLocked returns the error for verb on db when db is neither matched
// by a rule nor served by a route, or is the console's. Called with r.mu
// held.
func (r *Router) checkLocked(verb, db string) error {
	if db == "" {
		return nil
	}
	known, console := classify(r.cfg.Load(), db)
	if !known { // a reload removed its rules; its routes still drain
		known = len(r.targetsLocked(db)) > 0
	}
	switch {
	case !known:
		return controlErr(ErrNoDatabase, pgerr.InvalidCatalogName, "no such database: %s", db)
	case console:
		return controlErr(ErrConsoleDatabase, pgerr.ObjectNotInPrerequisite, "cannot %s admin db: %s", verb, db)
	}
	return nil
}

// classify tells whether a rule matches database db, and whether those
// that do all route to a local storage (the console). Rules naming db come
// first; `database default` rules count only when none does.
func classify(cfg *config.Config, db string) (known, console bool) {
	for _, exact := range []bool{true, false} {
		console = true
		for _, rule := range cfg.Rules {
			if exact == rule.DatabaseDefault || (exact && rule.Database != db) {
				continue
			}
			known = true
			if s := cfg.Storages[rule.Storage]; s == nil || s.Type != "local" {
				console = false
			}
		}
		if known {
			return known, console
		}
	}
	return false, false
}

// targetsLocked returns the routes of db (db "" all), current and
// obsolete, except the console's. Called with r.mu held.
func (r *Router) targetsLocked(db string) []*Route {
	var out []*Route
	add := func(rt *Route) {
		if rt.Storage.Type != "local" && (db == "" || rt.Database == db) {
			out = append(out, rt)
		}
	}
	for _, rt := range r.routes {
		add(rt)
	}
	for rt := range r.draining {
		add(rt)
	}
	return out
}

// poolStates are pools to bring in line with their routes' pause state.
type poolStates struct {
	pause, resume []*pool.Pool
}

// apply pauses and resumes the pools, without waiting. Called with r.ctl
// held, so that verbs apply in the order they changed the state.
func (s poolStates) apply() {
	for _, p := range s.pause {
		p.StartPause()
	}
	for _, p := range s.resume {
		p.Resume()
	}
}

// applyLocked sets the pause flag of db's routes (db "" all) from the
// router's state and returns their pools for the caller to apply outside
// r.mu. Pools a route makes from now on take the flag by themselves.
// Called with r.mu held.
func (r *Router) applyLocked(db string) poolStates {
	var s poolStates
	for _, rt := range r.targetsLocked(db) {
		want := r.pausedLocked(rt.Database)
		rt.mu.Lock()
		rt.paused = want
		if want {
			s.pause = append(s.pause, rt.pools...)
		} else {
			s.resume = append(s.resume, rt.pools...)
		}
		rt.mu.Unlock()
	}
	return s
}

// existingPools checks db for verb and returns the pools made so far for
// it (db "" all).
func (r *Router) existingPools(verb, db string) ([]*pool.Pool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkLocked(verb, db); err != nil {
		return nil, err
	}
	var out []*pool.Pool
	for _, rt := range r.targetsLocked(db) {
		rt.mu.Lock()
		out = append(out, rt.pools...)
		rt.mu.Unlock()
	}
	return out, nil
}

// set sets m[k] = v, making m if needed.
func set(m map[string]bool, k string, v bool) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[k] = v
	return m
}

// name is how a verb's error names its database.
func name(db string) string {
	if db == "" {
		return "of all databases"
	}
	return db
}
