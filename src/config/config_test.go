package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
listen {
  host = "127.0.0.1"
  port = 0
}
storage "postgres" {
  type = "remote"
  host = "127.0.0.1"
}
database default {
  user default {
    storage = "postgres"
  }
}
`

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), "odyssey.hcl")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules[0]
	if !r.DatabaseDefault || !r.UserDefault || r.Pool != PoolTransaction || r.PoolSize != 20 ||
		r.PoolTTL != time.Minute || r.ServerLifetime != time.Hour || !r.PoolCancel || !r.PoolRollback || r.Authentication != "none" {
		t.Fatalf("rule defaults: %+v", r)
	}
	if cfg.ClientMax != 10000 || cfg.GracefulShutdownTimeout != 30*time.Second || cfg.Listen[0].ClientLoginTimeout != 15*time.Second {
		t.Fatalf("global defaults: %+v", cfg)
	}
	if ep := cfg.Storages["postgres"].Endpoints; len(ep) != 1 || ep[0] != (Endpoint{"127.0.0.1", 5432}) {
		t.Fatalf("endpoints %v", ep)
	}
}

func TestFunctionsAndEndpoints(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ODY_TEST_USER", "app")
	src := `
listen {
  host = "127.0.0.1"
  port = 6432
}
storage "pg" {
  host = "a:5433, b"
  port = 5434
}
storage "local" { type = "local" }
database "app" {
  user "alice" {
    storage = "pg"
    storage_user = env("ODY_TEST_USER")
    storage_password = file("pw")
    pool = "session"
    pool_timeout = "1500ms"
  }
}
database console {
  user default {
    storage = "local"
    role = "stat"
    pool = "session"
  }
}
`
	cfg, err := Parse([]byte(src), filepath.Join(dir, "odyssey.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules[0]
	if r.StorageUser != "app" || r.StoragePassword != "s3cret" || r.PoolTimeout != 1500*time.Millisecond || r.Database != "app" || r.User != "alice" {
		t.Fatalf("rule %+v", r)
	}
	want := []Endpoint{{"a", 5433}, {"b", 5434}}
	got := cfg.Storages["pg"].Endpoints
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("endpoints %v, want %v", got, want)
	}
	if cfg.Rules[1].Role != "stat" || !cfg.Rules[1].UserDefault {
		t.Fatalf("console rule %+v", cfg.Rules[1])
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
		line            int
	}{
		{"unknown key", minimal + "bogus = 1\n", `An argument named "bogus" is not expected here`, strings.Count(minimal, "\n") + 1},
		{"bare duration", `listen { port = 0 }
storage "pg" { host = "h" }
database default {
user default {
  storage = "pg"
  pool_ttl = 5
}
}`, `pool_ttl must be a duration string`, 6},
		{"unknown storage", `listen { port = 0 }
database default {
user default {
  storage = "nope"
}
}`, `storage "nope" is not defined`, 4},
		{"bad pool mode", `listen { port = 0 }
storage "pg" { host = "h" }
database default {
user default {
  storage = "pg"
  pool = "sessions"
}
}`, `pool must be one of session, transaction, statement`, 6},
		{"md5 without password", `listen { port = 0 }
storage "pg" { host = "h" }
database default {
user default {
  storage = "pg"
  authentication = "md5"
}
}`, `needs password or auth_query`, 6},
		{"role on remote", `listen { port = 0 }
storage "pg" { host = "h" }
database default {
user default {
  storage = "pg"
  role = "admin"
}
}`, `role is only allowed`, 6},
		{"duplicate rule", `listen { port = 0 }
storage "pg" { host = "h" }
database "a" {
  user "b" { storage = "pg" }
  user "b" { storage = "pg" }
}`, `defined twice`, 5},
		{"wrong type", `listen { port = "x" }`, `Unsuitable value type`, 1},
		{"min over size", `listen { port = 0 }
storage "pg" { host = "h" }
database default {
user default {
  storage = "pg"
  pool_size = 2
  min_pool_size = 3
}
}`, `min_pool_size 3 exceeds pool_size 2`, 7},
		{"no listen", `storage "pg" { host = "h" }`, `No listen block`, 1},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.src), "odyssey.hcl")
		var de *DiagError
		if !errors.As(err, &de) {
			t.Errorf("%s: got %v, want a DiagError", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q does not mention %q", c.name, err, c.want)
		}
		found := false
		for _, d := range de.Diags {
			if d.Subject != nil && d.Subject.Start.Line == c.line && d.Subject.Filename == "odyssey.hcl" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no diagnostic points at odyssey.hcl line %d: %v", c.name, c.line, err)
		}
	}
}

// TestShippedConfigs keeps odyssey.hcl and examples/ valid.
func TestShippedConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.hcl")
	files = append(files, "../../odyssey.hcl")
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if len(files) < 2 {
		t.Fatalf("expected odyssey.hcl and examples, found %v", files)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("listen {\n port = 0\n}\ndatabase default {\n user default {\n storage = \"x\"\n pool_ttl = \"1h\"\n }\n}\n"))
	f.Add([]byte(`storage "a" { host = "h:1,h:2," }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, _ = Parse(src, "fuzz.hcl")
	})
}
