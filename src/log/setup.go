package log

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sirupsen/logrus"
)

// Output is the logger's destination: stderr or a file that can be reopened
// after rotation (SIGUSR1).
type Output struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return os.Stderr.Write(p)
	}
	return o.f.Write(p)
}

// Reopen closes and reopens the log file, for logrotate.
func (o *Output) Reopen() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.path == "" {
		return nil
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	if o.f != nil {
		_ = o.f.Close()
	}
	o.f = f
	return nil
}

var out = &Output{}

// Configure sets the standard logger's format ("text" or "json"), level and
// file ("" for stderr). It returns the output so callers can Reopen it.
func Configure(format, level, file string) (*Output, error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	l := logrus.StandardLogger()
	l.SetLevel(lvl)
	switch format {
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	}
	out.mu.Lock()
	out.path = file
	out.mu.Unlock()
	if err := out.Reopen(); err != nil {
		return nil, err
	}
	l.SetOutput(io.Writer(out))
	return out, nil
}
