// Command bsf runs the Bootstrapping Server Function of 3GPP TS 33.220: Ub over HTTP
// (TS 24.109), Zh towards the HSS and Zn towards NAFs (TS 29.109).
//
//	bsf [-config bsf.yaml] [-check] [-ub-listen ADDR] [-ops-listen ADDR] [-log-level LEVEL]
//	    [-zn-open[=false]] [-zn-tls-cert cert.pem -zn-tls-key key.pem [-zn-tls-ca ca.pem]]
//	    [-zh-tls-ca ca.pem] [-zh-tls-cert cert.pem -zh-tls-key key.pem]
//	bsf healthcheck URL [--timeout D]
//
// Precedence: defaults < file < flags; a flag given on the command line overrides the file
// even when its value is empty or false (zn.open, zn.tls, zh.tls). The healthcheck
// subcommand GETs URL (e.g. http://127.0.0.1:9091/readyz) and exits 0 on a 2xx status, 1
// with a one-line reason otherwise, 2 on a usage error: the compose healthcheck of an image
// without a shell.
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
	"time"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/bsf"
	"github.com/opengba/opengba/internal/config"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run stops gracefully on SIGINT or SIGTERM: HTTP shutdown, DPR to every NAF and to the HSS.
func run(args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stderr)
}

func runContext(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		err := config.Healthcheck(ctx, args[1:])
		if err != nil {
			fmt.Fprintln(stderr, "bsf:", err)
		}
		return config.HealthcheckStatus(err)
	}
	fs := flag.NewFlagSet("bsf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (defaults apply without one)")
	ubListen := fs.String("ub-listen", "", "override ub.listen (host:port)")
	opsListen := fs.String("ops-listen", "", "override ops.listen (host:port)")
	logLevel := fs.String("log-level", "", "override log.level (debug|info|warn|error)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	znOpen := fs.Bool("zn-open", false, "override zn.open: accept a Zn CER from any Origin-Host (BIRs are still checked against zn.nafs)")
	fs.String("zn-tls-cert", "", "override zn.tls.cert_file: PEM certificate, serve Zn over TLS")
	fs.String("zn-tls-key", "", "override zn.tls.key_file: PEM private key of the Zn certificate")
	fs.String("zn-tls-ca", "", "override zn.tls.ca_file: PEM CA bundle, require NAF client certificates it signed")
	fs.String("zh-tls-ca", "", "override zh.tls.ca_file: PEM CA bundle verifying the HSS certificates (turns Zh TLS on)")
	fs.String("zh-tls-cert", "", "override zh.tls.cert_file: PEM client certificate towards the HSS")
	fs.String("zh-tls-key", "", "override zh.tls.key_file: PEM private key of the Zh client certificate")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bsf: unexpected argument %q (flags only, or: bsf healthcheck URL)\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

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
	for name, dst := range map[string]*string{
		"zn-tls-cert": &cfg.Zn.TLS.CertFile, "zn-tls-key": &cfg.Zn.TLS.KeyFile, "zn-tls-ca": &cfg.Zn.TLS.CAFile,
		"zh-tls-cert": &cfg.Zh.TLS.CertFile, "zh-tls-key": &cfg.Zh.TLS.KeyFile, "zh-tls-ca": &cfg.Zh.TLS.CAFile,
	} {
		if set[name] {
			*dst = fs.Lookup(name).Value.String()
		}
	}
	if set["zn-open"] {
		cfg.Zn.Open = *znOpen
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// The TLS files are loaded here, so that -check reports a bad one.
	znTLS, err := bsf.ZnTLSConfig(cfg.Zn.TLS.CertFile, cfg.Zn.TLS.KeyFile, cfg.Zn.TLS.CAFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	zhTLS, err := bsf.ZhTLSConfig(cfg.Zh.TLS.CertFile, cfg.Zh.TLS.KeyFile, cfg.Zh.TLS.CAFile)
	if err != nil {
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

	// Diameter edge, part 1: the Zh client towards the HSSs (it connects in the background;
	// /readyz reports when a peer is up). Closed last, after the Zn server: DPR to the HSS.
	zh, err := bsf.NewZhClient(cfg.Zh, bsf.ZhOptions{Logger: log, Now: cfg.Now, TLS: zhTLS})
	if err != nil {
		log.Error("zh client", slog.String("error", err.Error()))
		return 1
	}
	defer func() {
		if err := zh.Close(); err != nil {
			log.Warn("zh: disconnect", slog.String("error", err.Error()))
		}
	}()

	b, err := bsf.New(cfg, bsf.Deps{VectorSource: zh, Store: store, Challenges: challenges, Logger: log})
	if err != nil {
		log.Error("new bsf", slog.String("error", err.Error()))
		return 1
	}
	zh.SetMetrics(b.Metrics())

	// Diameter edge, part 2: the Zn server for the NAFs, stopped (DPR to every NAF) after Ub
	// and before the HSS link and the store.
	zn, err := bsf.NewZnServer(b, bsf.ZnOptions{Logger: log, TLS: znTLS})
	if err != nil {
		log.Error("zn server", slog.String("error", err.Error()))
		return 1
	}
	if err := zn.Start(); err != nil {
		log.Error("zn server", slog.String("error", err.Error()))
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := zn.Shutdown(sctx); err != nil {
			log.Warn("zn: shutdown", slog.String("error", err.Error()))
		}
	}()
	// A Zn listener that fails stops the BSF as well.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case err := <-zn.Err():
			cancel(err)
		case <-ctx.Done():
		}
	}()

	err = b.Run(ctx)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("bsf stopped", slog.String("error", err.Error()))
		return 1
	}
	log.Info("bsf stopped")
	return 0
}
