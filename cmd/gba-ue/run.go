package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opengba/opengba/ue"
)

// Exit codes, documented in usageText.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitNetwork  = 3
	exitAuth     = 4
	exitProtocol = 5
)

const usageText = `gba-ue: GBA device client (3GPP TS 33.220, TS 24.109): bootstrap with a BSF over Ub,
enrol with a oneM2M M2M Enrolment Function, call NAFs over Ua with HTTP Digest.

Usage:
  gba-ue bootstrap --bsf URL [identity] [options] [--naf FQDN]
  gba-ue enrol     --bsf URL --mef URL [identity] [options]
  gba-ue get       --bsf URL [identity] [options] [-X METHOD] [-d DATA] NAF-URL
  gba-ue help

Identity (flags override environment, which overrides the profile):
  --impi IMPI          IP Multimedia Private Identity          GBA_IMPI
  --k HEX              subscriber key K, 32 hex digits          GBA_K
  --opc HEX            operator key OPc, 32 hex digits          GBA_OPC
  --op HEX             operator key OP (instead of OPc)         GBA_OP
  --profile FILE       YAML profile; keys: impi k opc op bsf mef sqn_state store
                       store_key ua_id (unknown keys are an error; ${VAR} is expanded)

Options:
  --bsf URL            BSF URL, e.g. http://bsf.home1.net:8080   GBA_BSF
  --mef URL            MEF URL; an empty path means /m2m/enrolment  GBA_MEF
  --naf FQDN           (bootstrap) also derive Ks_NAF for this NAF
  -X, --method M       (get) HTTP method, default GET
  -d, --data S         (get) request body
  --sqn-state FILE     load and save the USIM SQN array (keep it across runs)  GBA_SQN_STATE
  --store FILE         reuse a saved bootstrap until it expires; the AES key (hex) comes
                       from GBA_STORE_KEY or the profile's store_key  GBA_STORE
  --ua-id HEX          Ua security protocol id, default 0100000002 (HTTP Digest)  GBA_UA_ID
  --timeout D          overall timeout, default 30s
  --json               machine-readable output on stdout
  --show-keys          print Ks, Ks_NAF and Kmr in hex (they are secrets)

Output: each protocol step with its HTTP status and round-trip time (Ub 401, Ub 200,
Ua, enrolment), then the result; "get" writes the body to stdout and the steps to stderr.

Exit status:
  0  success
  1  internal error (file I/O, unexpected failure)
  2  usage error (flags, profile, identity, URL)
  3  network error (DNS, connection, TLS, timeout, HTTP 5xx)
  4  authentication failure (USIM rejected the network, server rejected the UE,
     rspauth wrong or missing, re-synchronisation failed)
  5  protocol error (malformed challenge, BootstrappingInfo or enrolment response,
     unexpected HTTP status)
`

// env is what run needs from the process; tests substitute it.
type env struct {
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	httpClient     *http.Client     // nil: ue's default
	now            func() time.Time // nil: time.Now
}

// run executes one gba-ue command and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return exitUsage
	}
	cmd := args[0]
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	case "bootstrap", "enrol", "get":
	default:
		fmt.Fprintf(e.stderr, "gba-ue: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
	var s settings
	fs, flags := newFlagSet(cmd, &s, e.stderr)
	pos, err := parseArgs(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage // the flag package printed the reason
	}
	r := &runner{env: e, s: &s, cmd: cmd}
	err = r.prepare(fs, flags, pos)
	if err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		err = r.execute(ctx)
		cancel()
		if serr := r.saveSQN(); err == nil {
			err = serr
		}
	}
	if err != nil {
		return r.fail(err)
	}
	return exitOK
}

// runner holds the state of one run.
type runner struct {
	env
	s      *settings
	cmd    string
	target string // get: NAF URL
	usim   *ue.USIM
	client *ue.Client
	start  time.Time

	mu    sync.Mutex
	steps []jsonStep
}

func (r *runner) prepare(fs *flag.FlagSet, flags *profile, pos []string) error {
	s := r.s
	if err := s.merge(fs, flags, r.lookup); err != nil {
		return err
	}
	switch {
	case r.cmd == "get" && len(pos) != 1:
		return usageErr("get takes exactly one NAF URL")
	case r.cmd != "get" && len(pos) != 0:
		return usageErr("unexpected argument %q", pos[0])
	case s.BSF == "":
		return usageErr("no BSF: use --bsf, GBA_BSF or a profile")
	case r.cmd == "enrol" && s.MEF == "":
		return usageErr("no MEF: use --mef, GBA_MEF or a profile")
	}
	if r.cmd == "get" {
		r.target = pos[0]
		if u, err := url.Parse(r.target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErr("NAF URL must be an http or https URL")
		}
	}
	var err error
	if r.usim, err = s.newUSIM(); err != nil {
		return err
	}
	if err := r.loadSQN(); err != nil {
		return err
	}
	uaID, err := s.uaID()
	if err != nil {
		return err
	}
	st, err := s.store()
	if err != nil {
		return err
	}
	r.client, err = ue.NewClient(ue.Config{
		BSF:        s.BSF,
		USIM:       r.usim,
		HTTPClient: r.httpClient,
		Now:        r.now,
		Store:      st,
		UaID:       uaID,
		Trace:      r.trace,
	})
	if err != nil {
		return usageErr("%v", err)
	}
	return nil
}

func (r *runner) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// loadSQN restores the USIM's SQN array from --sqn-state, if the file exists.
func (r *runner) loadSQN() error {
	if r.s.SQNState == "" {
		return nil
	}
	b, err := os.ReadFile(r.s.SQNState)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqn state: %w", err)
	}
	if err := r.usim.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("sqn state %s: %w", r.s.SQNState, err)
	}
	return nil
}

// saveSQN writes the USIM's SQN array to --sqn-state (mode 0600, atomically).
func (r *runner) saveSQN() error {
	if r.s == nil || r.s.SQNState == "" || r.usim == nil {
		return nil
	}
	b, err := r.usim.MarshalBinary()
	if err != nil {
		return fmt.Errorf("sqn state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(r.s.SQNState), ".sqn-state-*")
	if err != nil {
		return fmt.Errorf("sqn state: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("sqn state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("sqn state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqn state: %w", err)
	}
	if err := os.Rename(f.Name(), r.s.SQNState); err != nil {
		return fmt.Errorf("sqn state: %w", err)
	}
	return nil
}

// jsonStep is one protocol step in --json output.
type jsonStep struct {
	Step   string  `json:"step"`
	Status int     `json:"status,omitempty"`
	MS     float64 `json:"ms"`
	Detail string  `json:"detail,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// stepLabels names the steps for humans.
func stepLabel(s ue.Step) (iface, what string) {
	switch s {
	case ue.StepUbChallenge:
		return "Ub", "challenge"
	case ue.StepUbResync:
		return "Ub", "re-synchronised, new challenge"
	case ue.StepUbNetworkAuthFailure:
		return "Ub", "network authentication failure reported"
	case ue.StepUbDone:
		return "Ub", "bootstrapped"
	case ue.StepUaChallenge:
		return "Ua", "challenge"
	case ue.StepUaDone:
		return "Ua", "authenticated"
	case ue.StepEnrolment:
		return "MEF", "enrolled"
	case ue.StepStore:
		return "store", "unusable, carrying on without it"
	}
	return "?", s.String()
}

// trace records a step and, in human mode, prints it (to stderr for get).
func (r *runner) trace(ev ue.Event) {
	st := jsonStep{Step: ev.Step.String(), Status: ev.StatusCode, MS: float64(ev.Duration.Microseconds()) / 1000, Detail: ev.Detail}
	if ev.Err != nil {
		st.Error = ev.Err.Error()
	}
	r.mu.Lock()
	r.steps = append(r.steps, st)
	r.mu.Unlock()
	if r.s.json {
		return
	}
	w := r.stdout
	if r.cmd == "get" {
		w = r.stderr
	}
	iface, what := stepLabel(ev.Step)
	status := "   "
	if ev.StatusCode != 0 {
		status = fmt.Sprint(ev.StatusCode)
	}
	detail := ev.Detail
	if ev.Err != nil {
		detail = ev.Err.Error()
	}
	fmt.Fprintf(w, "%-5s %s  %-34s %9s  %s\n", iface, status, what, ev.Duration.Round(10*time.Microsecond), detail)
}

func (r *runner) execute(ctx context.Context) error {
	r.start = time.Now()
	switch r.cmd {
	case "bootstrap":
		return r.bootstrap(ctx)
	case "enrol":
		return r.enrol(ctx)
	default:
		return r.get(ctx)
	}
}

// keyText shows a key only with --show-keys.
func (r *runner) keyText(k ue.Key) string {
	if r.s.showKeys {
		return hex.EncodeToString(k.Bytes())
	}
	return "REDACTED (use --show-keys)"
}

func (r *runner) jsonKey(k ue.Key) string {
	if r.s.showKeys {
		return hex.EncodeToString(k.Bytes())
	}
	return ""
}

func (r *runner) bootstrap(ctx context.Context) error {
	b, err := r.client.Bootstrap(ctx)
	if err != nil {
		return err
	}
	var ksNAF ue.Key
	uaID, _ := r.s.uaID()
	if uaID == 0 {
		uaID = ue.UaIDHTTPDigest
	}
	if r.s.naf != "" {
		if ksNAF, err = b.KsNAF(r.s.naf, uaID); err != nil {
			return usageErr("--naf: %v", err)
		}
	}
	if r.s.json {
		out := struct {
			Steps   []jsonStep `json:"steps"`
			BTID    string     `json:"btid"`
			Expires time.Time  `json:"expires"`
			Ks      string     `json:"ks,omitempty"`
			NAF     string     `json:"naf,omitempty"`
			UaID    string     `json:"ua_id,omitempty"`
			KsNAF   string     `json:"ks_naf,omitempty"`
		}{Steps: r.steps, BTID: b.BTID, Expires: b.Expires, Ks: r.jsonKey(b.Ks())}
		if r.s.naf != "" {
			out.NAF, out.UaID, out.KsNAF = r.s.naf, uaID.String(), r.jsonKey(ksNAF)
		}
		return r.writeJSON(out)
	}
	w := r.stdout
	fmt.Fprintf(w, "\nB-TID    %s\n", b.BTID)
	fmt.Fprintf(w, "expires  %s (in %s)\n", b.Expires.Format(time.RFC3339), b.Expires.Sub(r.clock()).Round(time.Second))
	fmt.Fprintf(w, "Ks       %s\n", r.keyText(b.Ks()))
	if r.s.naf != "" {
		fmt.Fprintf(w, "Ks_NAF   %s  (NAF_Id %s || %s)\n", r.keyText(ksNAF), r.s.naf, uaID)
	}
	fmt.Fprintf(w, "total    %s\n", time.Since(r.start).Round(10*time.Microsecond))
	return nil
}

func (r *runner) enrol(ctx context.Context) error {
	e, err := r.client.Enrol(ctx, r.s.MEF)
	if err != nil {
		return err
	}
	if r.s.json {
		return r.writeJSON(struct {
			Steps []jsonStep `json:"steps"`
			ue.EnrolmentResponse
			Kmr string `json:"kmr,omitempty"`
		}{r.steps, ue.EnrolmentResponse{
			NodeID: e.NodeID, CSEID: e.CSEID, INCSEID: e.INCSEID, MAFID: e.MAFID, KmrID: e.KmrID, KmrExpires: e.Expires,
		}, r.jsonKey(e.Kmr)})
	}
	w := r.stdout
	fmt.Fprintf(w, "\nNode-ID  %s\n", e.NodeID)
	if e.CSEID != "" {
		fmt.Fprintf(w, "CSE-ID   %s\n", e.CSEID)
	}
	fmt.Fprintf(w, "IN-CSE   %s\n", e.INCSEID)
	fmt.Fprintf(w, "MAF-ID   %s\n", e.MAFID)
	fmt.Fprintf(w, "Kmr-ID   %s\n", e.KmrID)
	fmt.Fprintf(w, "expires  %s\n", e.Expires.Format(time.RFC3339))
	fmt.Fprintf(w, "Kmr      %s\n", r.keyText(e.Kmr))
	fmt.Fprintf(w, "total    %s\n", time.Since(r.start).Round(10*time.Microsecond))
	return nil
}

// maxGetBody bounds what get prints.
const maxGetBody = 16 << 20

func (r *runner) get(ctx context.Context) error {
	var body io.Reader
	if r.s.data != "" {
		body = strings.NewReader(r.s.data)
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(r.s.method), r.target, body)
	if err != nil {
		return usageErr("%v", err)
	}
	resp, err := r.client.Transport().RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGetBody))
	if err != nil {
		return fmt.Errorf("ua: reading body: %w", err)
	}
	if r.s.json {
		if err := r.writeJSON(struct {
			Steps       []jsonStep `json:"steps"`
			Status      int        `json:"status"`
			ContentType string     `json:"content_type,omitempty"`
			Body        string     `json:"body"`
		}{r.steps, resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(r.stderr, "%-5s %d  %s\n", "HTTP", resp.StatusCode, http.StatusText(resp.StatusCode))
		if _, err := r.stdout.Write(b); err != nil {
			return fmt.Errorf("writing body: %w", err)
		}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ue.ErrAuthRejected, &ue.StatusError{Op: "ua", StatusCode: resp.StatusCode})
	case resp.StatusCode >= 500:
		return &ue.StatusError{Op: "ua", StatusCode: resp.StatusCode}
	}
	return nil
}

func (r *runner) writeJSON(v any) error {
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}

// fail reports err and returns its exit status.
func (r *runner) fail(err error) int {
	code := exitCode(err)
	msg := strings.TrimPrefix(err.Error(), "usage: ")
	if r.s != nil && r.s.json {
		_ = r.writeJSON(struct {
			Steps    []jsonStep `json:"steps"`
			Error    string     `json:"error"`
			ExitCode int        `json:"exit_code"`
		}{r.steps, msg, code})
	}
	fmt.Fprintf(r.stderr, "gba-ue: %s\n", msg)
	if code == exitUsage && !(r.s != nil && r.s.json) {
		fmt.Fprintln(r.stderr, "run 'gba-ue help' for usage")
	}
	return code
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var (
		sf  *ue.SyncFailure
		se  *ue.StatusError
		ne  net.Error
		ue1 *url.Error
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, ue.ErrConfig), errors.Is(err, ue.ErrKeyFormat):
		return exitUsage
	case errors.Is(err, ue.ErrNetworkAuthFailed), errors.Is(err, ue.ErrAuthRejected),
		errors.Is(err, ue.ErrServerAuthFailed), errors.Is(err, ue.ErrResyncFailed),
		errors.Is(err, ue.ErrMACFailure), errors.Is(err, ue.ErrAMFSeparation), errors.As(err, &sf):
		return exitAuth
	case errors.As(err, &se):
		if se.StatusCode >= 500 {
			return exitNetwork
		}
		return exitProtocol
	case errors.Is(err, ue.ErrProtocol), errors.Is(err, ue.ErrBootstrappingInfo),
		errors.Is(err, ue.ErrEnrolment), errors.Is(err, ue.ErrBodyTooLarge):
		return exitProtocol
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &ne), errors.As(err, &ue1):
		return exitNetwork
	}
	return exitInternal
}
