// Command bsf runs the Bootstrapping Server Function of 3GPP TS 33.220: Ub over HTTP
// (TS 24.109), Zh towards the HSS and Zn towards NAFs (TS 29.109).
//
//	bsf -config bsf.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/bsf"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bsf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (defaults apply without one)")
	ubListen := fs.String("ub-listen", "", "override ub.listen (host:port)")
	opsListen := fs.String("ops-listen", "", "override ops.listen (host:port)")
	logLevel := fs.String("log-level", "", "override log.level (debug|info|warn|error)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	// flags → config (defaults < file < flags)
	cfg := bsf.Default()
	if *configPath != "" {
		var err error
		if cfg, err = bsf.LoadConfig(*configPath, nil); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if *ubListen != "" {
		cfg.Ub.Listen = *ubListen
	}
	if *opsListen != "" {
		cfg.Ops.Listen = *opsListen
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *check {
		fmt.Fprintln(stderr, "bsf: configuration ok")
		return 0
	}

	// → logger
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With(slog.String("component", "bsf"))
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, challenges, err := bsf.OpenStore(ctx, cfg)
	if err != nil {
		log.Error("open store", slog.String("error", err.Error()))
		return 1
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close store", slog.String("error", err.Error()))
		}
	}()

	// ====================================================================================
	// Diameter edge, part 1: the Zh client (bsf/zh.go) — TO BE FILLED IN WITH zh.go.
	// Build it from cfg.Zh (peers by priority, Origin-Host/Realm, cfg.Zh.Timeout) and the
	// logger; it implements bsf.VectorSource (FetchAV + Ready) and sets
	// b.Metrics().HSSPeerUp / ZhLatency once b exists. Close it after Run returns.
	var vectors bsf.VectorSource
	// ====================================================================================
	if vectors == nil {
		log.Error("no Zh client: this build has no bsf/zh.go yet, so the BSF cannot fetch authentication vectors")
		return 1
	}

	b, err := bsf.New(cfg, bsf.Deps{VectorSource: vectors, Store: store, Challenges: challenges, Logger: log})
	if err != nil {
		log.Error("new bsf", slog.String("error", err.Error()))
		return 1
	}

	// ====================================================================================
	// Diameter edge, part 2: the Zn server (bsf/zn.go) — TO BE FILLED IN WITH zn.go.
	// Build it from cfg.Zn (listen addresses, Origin-Host/Realm), answer every BIR with
	// b.BootstrappingInfo(ctx, bsf.ZnRequest{…}), observe b.Metrics().ZnLatency, start it
	// here and stop it when ctx is done (before the store closes).
	_ = b
	// ====================================================================================

	if err := b.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("bsf stopped", slog.String("error", err.Error()))
		return 1
	}
	log.Info("bsf stopped")
	return 0
}
