package pgtest

import (
	"fmt"
	"io"
	"os/exec"
	"syscall"
)

// watchdog is a small shell process that stops the cluster and removes its
// directory when the test binary goes away without calling Stop.
//
// It blocks reading a pipe whose only write end this process holds (Go opens
// it close-on-exec, so initdb and the server do not inherit it). Stop writes
// "done" and the watchdog exits; if this process dies first, for any reason
// including SIGKILL, the kernel closes the write end, the read sees EOF, and
// the watchdog cleans up. It runs in a session of its own so that a Ctrl-C
// aimed at go test does not stop it before it has done its job.
type watchdog struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

func startWatchdog(c *Cluster) (*watchdog, error) {
	stop := shellJoin(c.argv("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", pgctlWait, "stop"))
	script := `read line; [ "$line" = done ] && exit 0; cd / || exit 1; ` +
		stop + ` >/dev/null 2>&1; rm -rf ` + shellQuote(c.Dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("pgtest: watchdog: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, in: in}, nil
}

// dismiss tells the watchdog that Stop has done the work, and reaps it.
func (w *watchdog) dismiss() {
	_, _ = io.WriteString(w.in, "done\n")
	_ = w.in.Close()
	_ = w.cmd.Wait()
}
