package route

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/pgerr"
)

// controlConf has a named database, a catch-all and the console.
func controlConf() *config.Config {
	return conf(rule("app", "*"), rule("*", "*"),
		rule("console", "*", func(r *config.Rule) { r.Storage = "local" }))
}

// wantControlError checks a control verb's error: its kind, and the
// message and SQLSTATE the console would show.
func wantControlError(t *testing.T, what string, err, kind error, code, msg string) {
	t.Helper()
	var r interface {
		Response() *pgproto3.ErrorResponse
	}
	if !errors.Is(err, kind) || !errors.As(err, &r) {
		t.Fatalf("%s: %v, want %v with a SQLSTATE", what, err, kind)
	}
	if resp := r.Response(); resp.Code != code || resp.Message != msg || resp.Severity != "ERROR" {
		t.Fatalf("%s: ERROR %s %q, want %s %q", what, resp.Code, resp.Message, code, msg)
	}
}

func TestControlErrors(t *testing.T) {
	ctx := context.Background()
	only := newRouter(t, conf(rule("app", "*"),
		rule("console", "*", func(r *config.Rule) { r.Storage = "local" })))
	wantControlError(t, "PAUSE of an unknown database", only.Pause(ctx, "nosuch"),
		ErrNoDatabase, pgerr.InvalidCatalogName, "no such database: nosuch")
	for verb, err := range map[string]error{
		"pause":     only.Pause(ctx, "console"),
		"kill":      only.Kill("console"),
		"reconnect": only.Reconnect("console"),
		"disable":   only.Disable("console"),
		"enable":    only.Enable("console"),
		"wait in":   only.WaitClose(ctx, "console"),
	} {
		wantControlError(t, verb+" console", err, ErrConsoleDatabase,
			pgerr.ObjectNotInPrerequisite, "cannot "+verb+" admin db: console")
	}
	wantControlError(t, "RESUME of a database not paused", only.Resume("app"),
		ErrNotPaused, pgerr.ObjectNotInPrerequisite, "database app is not paused")
	wantControlError(t, "RESUME with nothing paused", only.Resume(""),
		ErrNotPaused, pgerr.ObjectNotInPrerequisite, "pooler is not paused")
	wantControlError(t, "DISABLE without database", only.Disable(""),
		ErrNoDatabase, pgerr.InvalidCatalogName, "a database is required")

	// Under a `database default` rule every name is a database.
	r := newRouter(t, controlConf())
	if err := r.Pause(ctx, "anything"); err != nil {
		t.Fatalf("PAUSE of a database the default rule serves: %v", err)
	}
	if err := r.Pause(ctx, ""); err != nil {
		t.Fatalf("PAUSE of all with one database paused: %v", err)
	}
	wantControlError(t, "PAUSE while all are paused", r.Pause(ctx, "app"),
		ErrAlreadyPaused, pgerr.ObjectNotInPrerequisite, "already paused")
	wantControlError(t, "second PAUSE of all", r.Pause(ctx, ""),
		ErrAlreadyPaused, pgerr.ObjectNotInPrerequisite, "already paused")
}

// The pause of all and the pause of a database are separate, as in
// PgBouncer; routes and pools made later follow them.
func TestPauseState(t *testing.T) {
	ctx := context.Background()
	r := newRouter(t, controlConf())
	other := mustMatch(t, r, "other", "bob").Pool() // made before any pause
	if err := r.Pause(ctx, "app"); err != nil {     // no servers: returns at once
		t.Fatal(err)
	}
	if !r.Paused("app") || r.Paused("other") || r.PausedAll() {
		t.Fatal("PAUSE app: wrong state")
	}
	app := mustMatch(t, r, "app", "alice")
	for i, p := range app.Pools() {
		if !p.Paused() {
			t.Fatalf("pool %d of a route made after PAUSE app is not paused", i)
		}
	}
	if other.Paused() {
		t.Fatal("PAUSE app paused another database")
	}

	if err := r.Pause(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if !other.Paused() || !r.PausedAll() || r.Paused("other") {
		t.Fatal("PAUSE of all: wrong state")
	}
	if !mustMatch(t, r, "new", "carol").Pool().Paused() {
		t.Fatal("route made during a PAUSE of all not paused")
	}
	if c := mustMatch(t, r, "console", "admin"); c.Pools() != nil {
		t.Fatal("the console got pools")
	}

	if err := r.Resume(""); err != nil {
		t.Fatal(err)
	}
	if other.Paused() || !app.Pool().Paused() || !r.Paused("app") {
		t.Fatal("RESUME of all must leave PAUSE app in force and resume the rest")
	}
	if err := r.Resume("app"); err != nil {
		t.Fatal(err)
	}
	if app.Pool().Paused() || r.Paused("app") {
		t.Fatal("RESUME app left it paused")
	}

	if err := r.Kill(""); err != nil {
		t.Fatal(err)
	}
	if !r.PausedAll() || !other.Paused() || !app.Pool().Paused() {
		t.Fatal("KILL of all must pause all")
	}
	if err := r.Resume(""); err != nil {
		t.Fatalf("RESUME after KILL: %v", err)
	}
	if other.Paused() || app.Pool().Paused() {
		t.Fatal("RESUME after KILL left pools paused")
	}
}

func TestDisable(t *testing.T) {
	r := newRouter(t, controlConf())
	connected := mustMatch(t, r, "app", "alice")
	if err := r.Disable("app"); err != nil {
		t.Fatal(err)
	}
	if !r.Disabled("app") || r.Disabled("other") {
		t.Fatal("Disabled state wrong")
	}
	_, err := r.Match("app", "bob")
	wantCode(t, "Match of a disabled database", err, pgerr.CannotConnectNow)
	if pe, _ := pgerr.As(err); pe.Message != "database does not allow connections: app" {
		t.Fatalf("message %q", pe.Message)
	}
	mustMatch(t, r, "other", "bob")
	mustMatch(t, r, "console", "admin")
	if err := connected.AddClient(); err != nil {
		t.Fatalf("a client already matched must carry on: %v", err)
	}
	connected.RemoveClient()
	if err := r.Enable("app"); err != nil {
		t.Fatal(err)
	}
	mustMatch(t, r, "app", "bob")
}

// A reload keeps PAUSE and DISABLE: routes that carry on, routes rebuilt
// with new limits and routes made for a changed rule all stay paused.
func TestReloadKeepsControlState(t *testing.T) {
	ctx := context.Background()
	c := controlConf()
	r := newRouter(t, c)
	app := mustMatch(t, r, "app", "alice")
	if err := r.Pause(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := r.Disable("other"); err != nil {
		t.Fatal(err)
	}
	r.Reload(reparsed(c, func(n *config.Config) { n.Rules[0].PoolSize = 3 }))
	if cur := mustMatch(t, r, "app", "alice"); cur == app || !cur.Pool().Paused() {
		t.Fatal("route rebuilt with new limits lost the pause")
	}
	r.Reload(reparsed(c, func(n *config.Config) { n.Rules[0].Pool = config.PoolSession }))
	if cur := mustMatch(t, r, "app", "alice"); !cur.Pool().Paused() {
		t.Fatal("route of a changed rule lost the pause")
	}
	if !r.Paused("app") || !r.Disabled("other") {
		t.Fatal("RELOAD dropped the console's state")
	}
	_, err := r.Match("other", "bob")
	wantCode(t, "disabled database after RELOAD", err, pgerr.CannotConnectNow)
}
