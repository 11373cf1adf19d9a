// Command hss-sim runs the OpenGBA HSS simulator (Zh reference point of 3GPP TS 29.109)
// and manages its subscribers.
//
//	hss-sim serve [--config FILE] [--db PATH] [--log-level LEVEL]
//	hss-sim subscribers import FILE [--dry-run] [--skip-existing] [--format auto|csv|yaml] [--config FILE] [--db PATH]
//	hss-sim subscribers list [--limit N] [--after IMPI] [--all] [--config FILE] [--db PATH]
//	hss-sim healthcheck URL [--timeout D]
//
// Without --config the file named by $HSS_SIM_CONFIG is read, else the built-in defaults
// apply. Flags override the file. Exit status: 0 success, 1 some import rows failed,
// 2 usage, configuration or runtime error. With --skip-existing an IMPI already in the
// store is reported as skipped (the stored subscriber is kept) and does not fail the
// import. healthcheck GETs URL (e.g. http://127.0.0.1:8080/healthz) and exits 0 on a 2xx
// status, 1 with a one-line reason otherwise (2 on a usage error): the compose healthcheck
// of an image without a shell.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/internal/config"
)

const (
	exitOK     = 0
	exitRows   = 1
	exitFailed = 2
)

func main() {
	// gin's mode is process-wide; set it once, here.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

const usage = `usage:
  hss-sim serve [--config FILE] [--db PATH] [--log-level LEVEL]
  hss-sim subscribers import FILE [--dry-run] [--skip-existing] [--format auto|csv|yaml] [--config FILE] [--db PATH]
  hss-sim subscribers list [--limit N] [--after IMPI] [--all] [--config FILE] [--db PATH]
  hss-sim healthcheck URL [--timeout D]
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitFailed
	}
	switch {
	case args[0] == "serve":
		return cmdServe(ctx, args[1:], stderr, env, nil)
	case args[0] == "subscribers" && len(args) > 1 && args[1] == "import":
		return cmdImport(ctx, args[2:], stdout, stderr, env)
	case args[0] == "subscribers" && len(args) > 1 && args[1] == "list":
		return cmdList(ctx, args[2:], stdout, stderr, env)
	case args[0] == "healthcheck":
		err := config.Healthcheck(ctx, args[1:])
		if err != nil {
			fmt.Fprintln(stderr, "hss-sim:", err)
		}
		return config.HealthcheckStatus(err)
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprint(stderr, usage)
	return exitFailed
}

// common holds the flags every command has.
type common struct {
	config, db, logLevel string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "configuration file (default $HSS_SIM_CONFIG, else built-in defaults)")
	fs.StringVar(&c.db, "db", "", "SQLite database path (overrides store.path)")
	fs.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error (overrides log.level)")
}

// load builds the configuration: defaults < file < flags.
func (c *common) load(env func(string) (string, bool)) (hsssim.Config, error) {
	path := c.config
	if path == "" {
		path, _ = env("HSS_SIM_CONFIG")
	}
	cfg := hsssim.Default()
	if path != "" {
		var err error
		if cfg, err = hsssim.LoadConfig(path, env); err != nil {
			return cfg, err
		}
	}
	if c.db != "" {
		cfg.Store.Backend, cfg.Store.Path = hsssim.BackendSQLite, c.db
	}
	if c.logLevel != "" {
		cfg.Log.Level = c.logLevel
	}
	return cfg, cfg.Validate()
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by Config.Validate
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("component", "hss-sim")
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer, env func(string) (string, bool), ready func(serveAddrs)) int {
	fs := newFlagSet("serve", stderr)
	var c common
	c.register(fs)
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 0 {
		fmt.Fprint(stderr, usage)
		return exitFailed
	}
	cfg, err := c.load(env)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	log := newLogger(stderr, cfg.Log.Level)
	if err := serve(ctx, cfg, log, ready); err != nil {
		log.Error("hss-sim stopped", "error", err.Error())
		return exitFailed
	}
	return exitOK
}

// serveAddrs are the addresses serve listens on.
type serveAddrs struct {
	// API is the provisioning API (and /healthz, /metrics).
	API net.Addr
	// Zh are the Zh Diameter listeners.
	Zh []hsssim.ZhListener
}

// serve runs the provisioning listener (API, /healthz, /metrics) and the Zh Diameter server
// (TS 29.109) until ctx ends, then sends DPR to the Zh peers (RFC 6733 §5.4) and stops.
// ready, if set, is called with the listen addresses once both accept connections.
func serve(ctx context.Context, cfg hsssim.Config, log *slog.Logger, ready func(serveAddrs)) (err error) {
	store, err := hsssim.OpenStore(ctx, cfg.Store, cfg.SQN, cfg.Now)
	if err != nil {
		return err
	}
	defer func() {
		// Close writes the exact SQN_HE values back, so a clean restart skips nothing.
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api, err := hsssim.NewProvisioningAPI(hsssim.APIOptions{
		Store: store, Config: cfg.Provisioning, Logger: log, Registry: reg, Now: cfg.Now,
	})
	if err != nil {
		return err
	}
	zh, err := hsssim.NewZhServer(hsssim.ZhServerOptions{
		Store: store, Config: cfg.Diameter, Logger: log.With("if", "zh"), Registry: reg, Now: cfg.Now,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Provisioning.Listen)
	if err != nil {
		return fmt.Errorf("provisioning listener: %w", err)
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("provisioning API listening", "addr", ln.Addr().String(), "store", cfg.Store.Backend)

	if err := zh.Start(); err != nil {
		_ = srv.Close()
		return err
	}
	addrs := serveAddrs{API: ln.Addr(), Zh: zh.Listeners()}
	for _, l := range addrs.Zh {
		log.Info("Zh Diameter listening", "if", "zh", "transport", l.Transport, "addr", l.Addr.String(),
			"origin_host", cfg.Diameter.OriginHost, "open", cfg.Diameter.Open)
	}

	if ready != nil {
		ready(addrs)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("provisioning listener: %w", err)
	case err := <-zh.Err():
		runErr = err
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Zh first: the peers get a DPR (REBOOTING) and the requests in flight finish before
	// the store is closed.
	if zerr := zh.Shutdown(sctx); zerr != nil {
		log.Warn("Zh shutdown", "if", "zh", "error", zerr.Error())
	}
	if err := srv.Shutdown(sctx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("provisioning shutdown: %w", err))
	}
	return runErr
}

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs := newFlagSet("subscribers import", stderr)
	var c common
	c.register(fs)
	dryRun := fs.Bool("dry-run", false, "validate and check for duplicates without writing")
	skipExisting := fs.Bool("skip-existing", false, "skip (and keep) IMPIs already in the store instead of failing them")
	format := fs.String("format", "auto", "auto, csv or yaml")
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 1 {
		fmt.Fprint(stderr, usage)
		return exitFailed
	}
	opts := hsssim.ImportOptions{DryRun: *dryRun, SkipExisting: *skipExisting}
	switch *format {
	case "auto":
	case "csv":
		opts.Format = hsssim.FormatCSV
	case "yaml", "yml":
		opts.Format = hsssim.FormatYAML
	default:
		fmt.Fprintf(stderr, "hss-sim: --format: want auto, csv or yaml\n")
		return exitFailed
	}
	cfg, err := c.load(env)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	opts.Now = cfg.Now
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "hss-sim:", err)
		return exitFailed
	}
	defer f.Close()
	store, err := hsssim.OpenStore(ctx, cfg.Store, cfg.SQN, cfg.Now)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer store.Close()
	start := time.Now()
	rep, err := hsssim.Import(ctx, store, f, pos[0], opts)
	for _, re := range rep.Errors {
		fmt.Fprintln(stdout, re.Error())
	}
	if rep.Failed > len(rep.Errors) {
		fmt.Fprintf(stdout, "(%d more errors not shown)\n", rep.Failed-len(rep.Errors))
	}
	verb, skipped := "imported", ""
	if rep.DryRun {
		verb = "would import"
	}
	if opts.SkipExisting {
		skipped = fmt.Sprintf(", skipped %d already in the store", rep.Skipped)
	}
	fmt.Fprintf(stdout, "%s: %d rows, %s %d%s, failed %d (%s, %v)\n", pos[0], rep.Rows, verb, rep.Imported, skipped, rep.Failed, rep.Format, time.Since(start).Round(time.Millisecond))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	if rep.Failed > 0 {
		return exitRows
	}
	return exitOK
}

func cmdList(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs := newFlagSet("subscribers list", stderr)
	var c common
	c.register(fs)
	limit := fs.Int("limit", 100, "subscribers per page")
	after := fs.String("after", "", "start after this IMPI (keyset pagination)")
	all := fs.Bool("all", false, "list every subscriber, page by page")
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 0 || *limit < 1 {
		fmt.Fprint(stderr, usage)
		return exitFailed
	}
	cfg, err := c.load(env)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	store, err := hsssim.OpenStore(ctx, cfg.Store, cfg.SQN, cfg.Now)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer store.Close()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMPI\tIMPUS\tAMF\tSQN\tGUSS\tUPDATED")
	cursor := *after
	for {
		page, err := store.List(ctx, cursor, *limit+1)
		if err != nil {
			_ = tw.Flush()
			fmt.Fprintln(stderr, err)
			return exitFailed
		}
		more := len(page) > *limit
		page = page[:min(len(page), *limit)]
		for _, s := range page {
			guss := "-"
			if s.GUSS != "" {
				guss = s.GUSSTimestamp.UTC().Format(time.RFC3339)
			}
			// K and OPc are never printed.
			fmt.Fprintf(tw, "%s\t%s\t%02x%02x\t%s\t%s\t%s\n", s.IMPI, strings.Join(s.IMPUs, ";"),
				s.AMF[0], s.AMF[1], hsssim.FormatSQN(s.SQN), guss, s.Updated.UTC().Format(time.RFC3339))
		}
		if !more {
			break
		}
		cursor = page[len(page)-1].IMPI
		if !*all {
			_ = tw.Flush()
			fmt.Fprintf(stdout, "more: --after %s\n", cursor)
			return exitOK
		}
	}
	if err := tw.Flush(); err != nil {
		return exitFailed
	}
	return exitOK
}
