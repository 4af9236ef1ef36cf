package config

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Setting is one global setting as SHOW CONFIG lists it. Values are written
// the way odyssey.hcl takes them ("5s", "0644", "auto").
type Setting struct {
	Key        string
	Value      string
	Default    string
	Changeable bool // SET may change it while the pooler runs
}

// changeable are the settings the console's SET may change at run time;
// everything else needs a RELOAD or a restart.
var changeable = map[string]bool{
	"log_level":   true,
	"log_session": true,
	"log_query":   true,
	"log_stats":   true,
	"client_max":  true,
}

// Settings lists every global (top-level) setting, sorted by key.
func (c *Config) Settings() []Setting {
	cur, def := c.settingValues(), defaultConfig().settingValues()
	out := make([]Setting, 0, len(cur))
	for k, v := range cur {
		out = append(out, Setting{Key: k, Value: v, Default: def[k], Changeable: changeable[k]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (c *Config) settingValues() map[string]string {
	workers := "auto"
	if c.Workers > 0 {
		workers = strconv.Itoa(c.Workers)
	}
	return map[string]string{
		"workers":                   workers,
		"log_format":                c.LogFormat,
		"log_level":                 c.LogLevel,
		"log_file":                  c.LogFile,
		"log_session":               strconv.FormatBool(c.LogSession),
		"log_query":                 strconv.FormatBool(c.LogQuery),
		"log_stats":                 strconv.FormatBool(c.LogStats),
		"stats_interval":            formatDuration(c.StatsInterval),
		"client_max":                strconv.Itoa(c.ClientMax),
		"pid_file":                  c.PidFile,
		"unix_socket_dir":           c.UnixSocketDir,
		"unix_socket_mode":          fmt.Sprintf("%04o", uint32(c.UnixSocketMode.Perm())),
		"graceful_shutdown_timeout": formatDuration(c.GracefulShutdownTimeout),
		"backend_connect_timeout":   formatDuration(c.BackendConnectTimeout),
		"max_packet_size":           strconv.Itoa(c.MaxPacketSize),
		"hba_file":                  c.HBAFile,
	}
}

// formatDuration writes d the way a user would in the file: "60s" reads
// better than time.Duration's "1m0s", and it parses back to d.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return d.String()
}

// Storage is the storage block called name, or nil.
func (c *Config) Storage(name string) *Storage {
	return c.Storages[name]
}

// String names the rule as database.user, "default" standing for a
// fallback label: "app.web", "default.default".
func (r *Rule) String() string {
	d, u := r.Database, r.User
	if r.DatabaseDefault {
		d = defaultLabel
	}
	if r.UserDefault {
		u = defaultLabel
	}
	return d + "." + u
}
