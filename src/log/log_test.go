package log

import (
	"context"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestGCarriesTheClientsFields(t *testing.T) {
	ctx := context.Background()
	if G(ctx) != L {
		t.Fatal("G without a client is not L")
	}
	ctx = WithClient(ctx, Client{ID: "c1"})
	ctx = WithClient(ctx, Client{ID: "c1", User: "alice", DB: "app", Route: "app.alice"})
	want := logrus.Fields{"client": "c1", "user": "alice", "db": "app", "route": "app.alice"}
	got := G(ctx).Data
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("fields %v, want %v", got, want)
		}
	}
	if f := G(WithClient(context.Background(), Client{ID: "c2"})).Data; len(f) != 1 || f["client"] != "c2" {
		t.Fatalf("empty fields kept: %v", f)
	}
}

func TestEnabled(t *testing.T) {
	defer L.Logger.SetLevel(L.Logger.GetLevel())
	L.Logger.SetLevel(logrus.InfoLevel)
	if Enabled(logrus.DebugLevel) || !Enabled(logrus.InfoLevel) {
		t.Fatal("Enabled does not follow the logger's level")
	}
	L.Logger.SetLevel(logrus.DebugLevel)
	if !Enabled(logrus.DebugLevel) {
		t.Fatal("Enabled does not follow the logger's level")
	}
}
