package backend

import (
	"strings"
	"testing"

	"github.com/odyssey-go/odyssey/integration/pgtest"
	"github.com/odyssey-go/odyssey/src/internal/scram"
)

// storedPassword reads a role's secret from pg_authid, as auth_query would.
func storedPassword(t *testing.T, user string) string {
	t.Helper()
	s := connect(t, tcpOptions(pgtest.SuperUser, pgtest.SuperPassword, "postgres"))
	rows, err := s.QueryArgs(testCtx(t), "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1", user)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rolpassword of %s: %q %v", user, rows, err)
	}
	if rows[0][0] != user {
		t.Fatalf("QueryArgs row %q, want the user's", rows[0])
	}
	return rows[0][1]
}

func TestQueryArgsNeverSplices(t *testing.T) {
	s := connect(t, tcpOptions(pgtest.SCRAMUser, pgtest.SCRAMPassword, "postgres"))
	evil := "x'; SELECT 'injected"
	rows, err := s.QueryArgs(testCtx(t), "SELECT $1::text, $2::text", evil, "")
	if err != nil || len(rows) != 1 || rows[0][0] != evil || rows[0][1] != "" {
		t.Fatalf("rows %q err %v", rows, err)
	}
	_, err = s.QueryArgs(testCtx(t), "SELECT no_such_column")
	wantCode(t, err, "42703")
	if got := one(t, s, "SELECT 1"); got != "1" || s.TxStatus != 'I' {
		t.Errorf("server unusable after a failed QueryArgs: %q %q", got, s.TxStatus)
	}
}

// TestLoginWithMD5Hash logs in to an md5 user with only pg_authid's hash.
func TestLoginWithMD5Hash(t *testing.T) {
	hash := storedPassword(t, pgtest.MD5User)
	if !strings.HasPrefix(hash, "md5") {
		t.Fatalf("%s's secret %q is not an md5 hash", pgtest.MD5User, hash[:3])
	}
	s := connect(t, tcpOptions(pgtest.MD5User, hash, "postgres"))
	if got := one(t, s, "SELECT current_user"); got != pgtest.MD5User {
		t.Errorf("current_user %q", got)
	}
}

// TestLoginWithSCRAMKeys is SCRAM pass-through against PostgreSQL: the
// keys come from the stored secret plus a ClientKey, never the password.
func TestLoginWithSCRAMKeys(t *testing.T) {
	sec, ok := scram.ParseSecret(storedPassword(t, pgtest.SCRAMUser))
	if !ok {
		t.Fatal("SCRAM user's secret does not parse")
	}
	// What a client's proof reveals to the pooler: its ClientKey.
	keys := scram.NewKeys(pgtest.SCRAMPassword, sec.Salt, sec.Iterations)
	if keys.Secret.String() != sec.String() {
		t.Fatalf("derived secret differs from PostgreSQL's")
	}
	s := connect(t, Options{Network: "tcp", Address: cluster.Addr(), User: pgtest.SCRAMUser, Database: "postgres",
		SCRAM: &scram.Keys{Secret: *sec, ClientKey: keys.ClientKey}})
	if got := one(t, s, "SELECT current_user"); got != pgtest.SCRAMUser {
		t.Errorf("current_user %q", got)
	}

	wrong := scram.NewKeys("not the password", sec.Salt, sec.Iterations)
	_, err := Connect(testCtx(t), Options{Network: "tcp", Address: cluster.Addr(), User: pgtest.SCRAMUser, Database: "postgres",
		SCRAM: &scram.Keys{Secret: *sec, ClientKey: wrong.ClientKey}})
	wantCode(t, err, "28P01")

	other := scram.NewKeys(pgtest.SCRAMPassword, []byte("another salt"), sec.Iterations)
	_, err = Connect(testCtx(t), Options{Network: "tcp", Address: cluster.Addr(), User: pgtest.SCRAMUser, Database: "postgres", SCRAM: other})
	if err == nil || !strings.Contains(err.Error(), "salt") {
		t.Errorf("keys under another salt: %v, want an error that names the salt", err)
	}
}
