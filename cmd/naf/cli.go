package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/opengba/opengba/internal/config"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/mef"
	"github.com/opengba/opengba/naf/service"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad flags or configuration
)

// env is what run needs from the outside world (injected in tests).
type env struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	newKeySource   func(context.Context, service.Config, *naf.Metrics, *slog.Logger) (naf.KeySource, func(), error)
	// ready, if set, is called once the listeners are bound (tests).
	ready func(*service.Service)
}

func run(ctx context.Context, args []string, e env) int {
	gin.SetMode(gin.ReleaseMode) // no route dump on stdout; requests are logged by slog
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, e)
	case "check-config":
		return checkConfig(args, e)
	case "registration":
		return registration(ctx, args, e)
	case "enrolment":
		return enrolment(ctx, args, e)
	case "healthcheck":
		err := config.Healthcheck(ctx, args)
		if err != nil {
			fmt.Fprintln(e.stderr, "naf:", err)
		}
		return config.HealthcheckStatus(err)
	case "help", "-h", "--help":
		usage(e.stdout)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "naf: unknown command %q\n", cmd)
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  naf [serve] --config FILE [--role mef|maf|both] [--log-level LEVEL]
  naf check-config --config FILE [--role mef|maf|both]
  naf registration put    --config FILE --impi IMPI --subscription ID [--node-id ID] [--cse-id /ID] [--expires RFC3339]
  naf registration get    --config FILE --impi IMPI
  naf registration delete --config FILE --impi IMPI
  naf registration list   --config FILE
  naf enrolment list      --config FILE
  naf enrolment get       --config FILE --impi IMPI
  naf healthcheck URL [--timeout D]     (exit 0 on a 2xx status, 1 otherwise)
`)
}

// common flags.
type opts struct {
	config, role, logLevel string
}

func (o *opts) register(fs *flag.FlagSet, withRole bool) {
	fs.StringVar(&o.config, "config", "", "YAML configuration file (required)")
	if withRole {
		fs.StringVar(&o.role, "role", "", "mef, maf or both (overrides the file)")
		fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (overrides the file)")
	}
}

// load reads and validates the configuration: defaults < file < flags.
func (o *opts) load(e env) (service.Config, error) {
	if o.config == "" {
		return service.Config{}, errors.New("naf: --config is required")
	}
	cfg, err := service.LoadConfig(o.config, e.lookup)
	if err != nil {
		return service.Config{}, err
	}
	if o.role != "" {
		cfg.Role = service.Role(o.role)
	}
	if o.logLevel != "" {
		cfg.Log.Level = o.logLevel
	}
	if err := cfg.Validate(); err != nil {
		return service.Config{}, err
	}
	return cfg, nil
}

func newFlagSet(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", "naf")
}

func serve(ctx context.Context, args []string, e env) int {
	var o opts
	fs := newFlagSet("serve", e)
	o.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := o.load(e)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	log := newLogger(cfg.Log.Level, e.stderr)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	nafMetrics, err := naf.NewMetrics(reg)
	if err != nil {
		log.Error("metrics", "error", err.Error())
		return exitFailure
	}
	var keys naf.KeySource
	if cfg.Role.HasMEF() {
		var closeKeys func()
		keys, closeKeys, err = e.newKeySource(ctx, cfg, nafMetrics, log.With("component", "zn"))
		if err != nil {
			log.Error("cannot start the MEF", "error", err.Error())
			return exitFailure
		}
		if closeKeys != nil {
			defer closeKeys()
		}
	}
	svc, err := service.New(ctx, service.Options{Config: cfg, Keys: keys, Registry: reg, NAFMetrics: nafMetrics, Logger: log})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return exitFailure
	}
	defer svc.Close()
	if err := svc.Listen(); err != nil {
		log.Error("cannot listen", "error", err.Error())
		return exitFailure
	}
	log.Info("started", "role", string(cfg.Role))
	if e.ready != nil {
		e.ready(svc)
	}
	if err := svc.Serve(ctx); err != nil {
		log.Error("serve", "error", err.Error())
		return exitFailure
	}
	log.Info("stopped")
	return exitOK
}

func checkConfig(args []string, e env) int {
	var o opts
	fs := newFlagSet("check-config", e)
	o.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := o.load(e)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "configuration OK (role %s)\n", cfg.Role)
	return exitOK
}

// openStore loads the configuration (MEF sections) and opens the MEF store.
func openStore(ctx context.Context, o *opts, e env) (mef.Store, int) {
	cfg, err := o.loadStoreOnly(e)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitUsage
	}
	if cfg.MEF.Store.Backend != service.BackendSQLite {
		fmt.Fprintln(e.stderr, "naf: registration commands need mef.store.backend: sqlite")
		return nil, exitUsage
	}
	st, err := service.OpenMEFStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitFailure
	}
	return st, exitOK
}

// loadStoreOnly reads the file without validating the serving sections (the CLI only
// needs mef.store; secrets for the servers need not be set).
func (o *opts) loadStoreOnly(e env) (service.Config, error) {
	if o.config == "" {
		return service.Config{}, errors.New("naf: --config is required")
	}
	lookup := func(name string) (string, bool) {
		if v, ok := e.lookup(name); ok {
			return v, true
		}
		return "", true // unset secrets do not matter here
	}
	return service.LoadConfig(o.config, lookup)
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func registration(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	var o opts
	var impi, subscription, nodeID, cseID, expires string
	fs := newFlagSet("registration "+sub, e)
	o.register(fs, false)
	fs.StringVar(&impi, "impi", "", "IMPI of the subscriber")
	if sub == "put" {
		fs.StringVar(&subscription, "subscription", "", "subscription id (required)")
		fs.StringVar(&nodeID, "node-id", "", "static Node-ID (default: generated)")
		fs.StringVar(&cseID, "cse-id", "", "SP-relative CSE-ID \"/<id>\" when the device hosts a CSE")
		fs.StringVar(&expires, "expires", "", "registration expiry, RFC 3339 (default: none)")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if sub != "list" && impi == "" {
		fmt.Fprintln(e.stderr, "naf: --impi is required")
		return exitUsage
	}
	st, code := openStore(ctx, &o, e)
	if st == nil {
		return code
	}
	defer st.Close()
	switch sub {
	case "put":
		r := mef.Registration{IMPI: impi, SubscriptionID: subscription, NodeID: nodeID, CSEID: cseID}
		if expires != "" {
			t, err := time.Parse(time.RFC3339, expires)
			if err != nil {
				fmt.Fprintln(e.stderr, "naf: --expires must be RFC 3339, e.g. 2030-01-01T00:00:00Z")
				return exitUsage
			}
			r.Expires = t
		}
		got, created, err := mef.Register(ctx, st, r, time.Now())
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			if errors.Is(err, mef.ErrInvalid) || errors.Is(err, mef.ErrConflict) {
				return exitUsage
			}
			return exitFailure
		}
		if created {
			fmt.Fprintln(e.stderr, "registration created")
		} else {
			fmt.Fprintln(e.stderr, "registration updated")
		}
		printJSON(e.stdout, got)
	case "get":
		r, err := st.GetRegistration(ctx, impi)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		printJSON(e.stdout, r)
	case "delete":
		if err := st.DeleteRegistration(ctx, impi); err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		fmt.Fprintln(e.stderr, "registration deleted")
	case "list":
		rs, err := st.ListRegistrations(ctx)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		if rs == nil {
			rs = []mef.Registration{}
		}
		printJSON(e.stdout, rs)
	default:
		fmt.Fprintf(e.stderr, "naf: unknown registration command %q\n", sub)
		return exitUsage
	}
	return exitOK
}

func enrolment(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	var o opts
	var impi string
	fs := newFlagSet("enrolment "+sub, e)
	o.register(fs, false)
	fs.StringVar(&impi, "impi", "", "IMPI of the subscriber")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if sub != "list" && sub != "get" {
		fmt.Fprintf(e.stderr, "naf: unknown enrolment command %q\n", sub)
		return exitUsage
	}
	if sub == "get" && impi == "" {
		fmt.Fprintln(e.stderr, "naf: --impi is required")
		return exitUsage
	}
	st, code := openStore(ctx, &o, e)
	if st == nil {
		return code
	}
	defer st.Close()
	if sub == "get" {
		en, err := st.GetEnrolment(ctx, impi)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return exitFailure
		}
		printJSON(e.stdout, en)
		return exitOK
	}
	es, err := st.ListEnrolments(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFailure
	}
	if es == nil {
		es = []mef.Enrolment{}
	}
	printJSON(e.stdout, es)
	return exitOK
}
