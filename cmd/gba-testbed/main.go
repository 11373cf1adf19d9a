// Command gba-testbed runs the whole OpenGBA chain in one process on loopback (TS 33.220
// §4.4: HSS simulator, BSF, MEF acting as NAF, MAF), with their durable stores in a data
// directory, and shows what happens on the wire.
//
//	gba-testbed [--data DIR] [--show-keys] [--html FILE]        one device, message ladder
//	gba-testbed --devices N [--concurrency C] [--verify]        load run
//	gba-testbed --serve [--json] [--show-keys]                  keep the nodes up
//
// Run "gba-testbed -h" for every flag. Exit status: 0 success, 1 failure, 2 usage.
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

	"github.com/opengba/opengba/internal/testbed"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// gin's mode is process-wide; release mode keeps its route table off stdout.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageHead = `gba-testbed: the OpenGBA chain (HSS simulator, BSF, MEF acting as NAF, MAF) in one
process on 127.0.0.1, with a device that bootstraps (Ub, Zh) and enrols (Ua, Zn, MAF).

Usage:
  gba-testbed [flags]                       one device: message ladder and result
  gba-testbed --devices N [--concurrency C] load run over N distinct subscribers
  gba-testbed --serve [--json]              keep the nodes up and print their addresses

Flags:
`

// options are the parsed flags.
type options struct {
	data        string
	devices     int
	concurrency int
	verify      bool
	serve       bool
	json        bool
	showKeys    bool
	html        string
	logLevel    string
	nafFQDN     string
	timeout     time.Duration
	listen      testbed.Listen
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gba-testbed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.data, "data", "", "data directory for the stores (kept); default a temporary directory removed at exit")
	fs.IntVar(&o.devices, "devices", 0, "load run over N distinct subscribers instead of the one-device ladder")
	fs.IntVar(&o.concurrency, "concurrency", 16, "devices in flight at once during a load run")
	fs.BoolVar(&o.verify, "verify", false, "load run: also read every Kmr back from the MAF and compare it")
	fs.BoolVar(&o.serve, "serve", false, "keep the nodes up, print their addresses and a gba-ue command; stop with Ctrl-C")
	fs.BoolVar(&o.json, "json", false, "with --serve: print one JSON document instead of text")
	fs.BoolVar(&o.showKeys, "show-keys", false, "print keys (K, OPc, CK, IK, Ks, Ks_NAF, Kmr) in hex instead of SHA-256 fingerprints")
	fs.StringVar(&o.html, "html", "", "also write the ladder as a self-contained HTML/SVG sequence diagram to FILE")
	fs.StringVar(&o.logLevel, "log-level", "error", "level of the nodes' JSON logs on stderr: debug, info, warn, error")
	fs.StringVar(&o.nafFQDN, "naf-fqdn", testbed.DefaultNAFFQDN, "NAF FQDN of the MEF (must resolve to 127.0.0.1 for clients outside the testbed)")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "time limit of the one-device run")
	fs.StringVar(&o.listen.HSSZh, "hss-zh", "", "listen address of the HSS Zh Diameter server (default a free port on 127.0.0.1)")
	fs.StringVar(&o.listen.HSSProvisioning, "hss-api", "", "listen address of the HSS provisioning API")
	fs.StringVar(&o.listen.BSFUb, "bsf-ub", "", "listen address of the BSF Ub server")
	fs.StringVar(&o.listen.BSFZn, "bsf-zn", "", "listen address of the BSF Zn Diameter server")
	fs.StringVar(&o.listen.BSFOps, "bsf-ops", "", "listen address of the BSF /metrics, /healthz, /readyz")
	fs.StringVar(&o.listen.MEF, "mef", "", "listen address of the MEF (Ua, enrolment)")
	fs.StringVar(&o.listen.MEFOps, "mef-ops", "", "listen address of the MEF /metrics, /healthz, /readyz")
	fs.StringVar(&o.listen.MAF, "maf", "", "listen address of the MAF key API")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var level slog.Level
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.devices < 0:
		return o, errors.New("--devices must not be negative")
	case o.concurrency < 1:
		return o, errors.New("--concurrency must be at least 1")
	case o.json && !o.serve:
		return o, errors.New("--json goes with --serve")
	case o.serve && o.devices > 0:
		return o, errors.New("--serve and --devices exclude each other")
	case o.html != "" && (o.serve || o.devices > 0):
		return o, errors.New("--html writes the one-device ladder; it does not go with --serve or --devices")
	case o.verify && o.devices == 0:
		return o, errors.New("--verify goes with --devices")
	case o.timeout <= 0:
		return o, errors.New("--timeout must be positive")
	case level.UnmarshalText([]byte(o.logLevel)) != nil:
		return o, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return o, nil
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "gba-testbed: %v (see gba-testbed -h)\n", err)
		return exitUsage
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "gba-testbed")

	if o.html != "" {
		// Fail before starting anything when the file cannot be written.
		f, err := os.OpenFile(o.html, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "gba-testbed: --html: %v\n", err)
			return exitFailure
		}
		_ = f.Close()
	}
	demo := 1
	if o.devices > 0 {
		demo = -1 // the load run provisions its own subscribers
	}
	startedAt := time.Now()
	tb, err := testbed.Start(ctx, testbed.Options{DataDir: o.data, Listen: o.listen, NAFFQDN: o.nafFQDN, Logger: log, DemoSubscribers: demo})
	if err != nil {
		fmt.Fprintf(stderr, "gba-testbed: cannot start: %v\n", err)
		removeIfEmpty(o.html)
		return exitFailure
	}
	code := exitOK
	switch {
	case o.serve:
		code = serve(ctx, tb, o, stdout, stderr)
	case o.devices > 0:
		code = load(ctx, tb, o, stdout, stderr)
	default:
		code = oneDevice(ctx, tb, o, startedAt, stdout, stderr)
	}
	if err := tb.Close(); err != nil {
		fmt.Fprintf(stderr, "gba-testbed: shutdown: %v\n", err)
	}
	if code != exitOK {
		removeIfEmpty(o.html)
	}
	return code
}

// dataNote describes the data directory's fate.
func dataNote(tb *testbed.Testbed, o options) string {
	if o.data == "" {
		return tb.DataDir() + " (temporary, removed at exit; --data DIR keeps one)"
	}
	return tb.DataDir() + " (kept)"
}
