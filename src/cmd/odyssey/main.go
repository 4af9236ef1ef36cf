// Command odyssey is the Odyssey for Go connection pooler.
//
//	odyssey [--check] [--version] [CONFIG]
//
// CONFIG defaults to ./odyssey.hcl. --check validates the file and exits
// non-zero with file:line:col diagnostics when it is wrong. The process runs
// in the foreground. Signals: SIGHUP reloads the configuration, SIGTERM shuts
// down gracefully (clients finish their transactions, up to
// graceful_shutdown_timeout), SIGINT shuts down at once, SIGUSR1 reopens the
// log file.
//
// ODYSSEY_PPROF=host:port serves Go's profiles (net/http/pprof, under
// /debug/pprof/) on that address; `make bench` uses it with BENCH_PROFILE=1.
// Profiles expose memory contents: it is off unless set, and belongs on a
// loopback address.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/odyssey-go/odyssey/src/config"
	"github.com/odyssey-go/odyssey/src/instance"
	"github.com/odyssey-go/odyssey/src/log"
)

// Version is reported by --version and SHOW VERSION.
const Version = instance.Version

func main() { os.Exit(run()) }

func run() int {
	check := flag.Bool("check", false, "validate the configuration and exit")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: odyssey [--check] [--version] [CONFIG]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *version {
		fmt.Println(Version)
		return 0
	}
	if flag.NArg() > 1 {
		flag.Usage()
		return 2
	}
	path := "odyssey.hcl"
	if flag.NArg() == 1 {
		path = flag.Arg(0)
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *check {
		fmt.Printf("%s: configuration is valid\n", path)
		return 0
	}
	logOut, err := log.Configure(cfg.LogFormat, cfg.LogLevel, cfg.LogFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.L.WithError(err).Error("write pid file")
			return 1
		}
		defer os.Remove(cfg.PidFile)
	}

	if addr := os.Getenv("ODYSSEY_PPROF"); addr != "" {
		if err := servePprof(addr); err != nil {
			log.L.WithError(err).Error("ODYSSEY_PPROF")
			return 1
		}
		log.L.WithField("addr", addr).Info("serving pprof (ODYSSEY_PPROF)")
	}

	inst, err := instance.New(cfg)
	if err == nil {
		err = inst.Start()
	}
	if err != nil {
		log.L.WithError(err).Error("start")
		return 1
	}
	log.L.WithField("version", Version).Info("started")

	inst.OnReload = func(next *config.Config) {
		if _, err := log.Configure(next.LogFormat, next.LogLevel, next.LogFile); err != nil {
			log.L.WithError(err).Error("reload logging")
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	for {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-inst.Done():
			log.L.Info("shut down from the console")
			return 0
		}
		switch sig {
		case syscall.SIGHUP:
			if err := inst.ReloadFile(); err != nil {
				log.L.WithField("config", path).Errorf("reload failed, keeping the running configuration:\n%v", err)
			}
		case syscall.SIGUSR1:
			if err := logOut.Reopen(); err != nil {
				log.L.WithError(err).Error("reopen log file")
			}
		case syscall.SIGTERM:
			log.L.Info("SIGTERM: graceful shutdown")
			ctx, cancel := context.WithTimeout(context.Background(), inst.Config().GracefulShutdownTimeout)
			err := inst.Shutdown(ctx)
			cancel()
			if err != nil {
				log.L.WithError(err).Warn("graceful shutdown timed out; closed remaining clients")
			}
			return 0
		case syscall.SIGINT:
			log.L.Info("SIGINT: fast shutdown")
			inst.Close()
			return 0
		}
	}
}

// servePprof serves the net/http/pprof handlers on addr until the process
// exits. It uses a mux of its own: importing net/http/pprof also registers
// them on http.DefaultServeMux, which must therefore never be served.
func servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = http.Serve(ln, mux) }() // lives as long as the process
	return nil
}
