package testbed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opengba/opengba/internal/digest"
	"github.com/opengba/opengba/ue"
)

// UEOptions tune NewUE.
type UEOptions struct {
	// Transport wraps the testbed's HTTP transport (nil: use it as is).
	Transport func(http.RoundTripper) http.RoundTripper
	// Trace receives the UE's protocol steps (ue.Config.Trace).
	Trace func(ue.Event)
	// Store keeps the bootstrap across clients (ue.Config.Store).
	Store ue.Store
}

// NewUE returns a UE client for sub, configured with the testbed's BSF and an HTTP client
// that reaches the MEF under the NAF FQDN.
func (tb *Testbed) NewUE(sub Subscriber, o UEOptions) (*ue.Client, error) {
	usim, err := sub.USIM()
	if err != nil {
		return nil, err
	}
	hc := tb.client
	if o.Transport != nil {
		hc = &http.Client{Transport: o.Transport(tb.transport), Timeout: tb.client.Timeout}
	}
	return ue.NewClient(ue.Config{BSF: tb.Endpoints().UbURL, USIM: usim, HTTPClient: hc, Trace: o.Trace, Store: o.Store})
}

// KmrAtMAF is what the MAF holds for a Kmr-ID, read through its IN-CSE lookup API.
type KmrAtMAF struct {
	NodeID  string
	KmrID   string
	Kmr     Secret
	Expires time.Time
}

// LookupKmr asks the MAF's lookup API (GET /maf/v1/keys?kmr_id=…, IN-CSE token) for the
// key stored under kmrID.
func (tb *Testbed) LookupKmr(ctx context.Context, kmrID string) (KmrAtMAF, error) {
	e, err := tb.mafClient.Lookup(ctx, kmrID)
	if err != nil {
		return KmrAtMAF{}, fmt.Errorf("testbed: maf lookup: %w", err)
	}
	return KmrAtMAF{NodeID: e.NodeID, KmrID: e.KmrID, Kmr: NewSecret(e.Kmr.Bytes()), Expires: e.Expires}, nil
}

// Step is one row of a message ladder: a message From → To, or a local action when
// From == To.
type Step struct {
	// At is the time since the run started.
	At        time.Duration
	From, To  Node
	Interface string
	Label     string
	// RTT is the round trip of the exchange an answer closes (0 for requests and notes).
	RTT    time.Duration
	Fields []Field
	// Err marks a failed exchange.
	Err bool
}

// Note reports whether the step is a local action rather than a message.
func (s Step) Note() bool { return s.From == s.To }

// Ladder is the message sequence of one device run.
type Ladder struct {
	// Nodes are the columns, left to right.
	Nodes []Node
	// Start is when the run started.
	Start time.Time
	Steps []Step
}

// ladderNodes is the column order of a ladder: the UE, the operator's BSF and HSS, then the
// service provider's MEF and MAF.
func ladderNodes() []Node { return []Node{NodeUE, NodeBSF, NodeHSS, NodeMEF, NodeMAF} }

// DeviceResult is the outcome of RunDevice.
type DeviceResult struct {
	IMPI string
	// Bootstrap is the UE's bootstrap (B-TID, expiry; Ks redacts itself).
	Bootstrap *ue.Bootstrap
	// Enrolment is the MEF's answer with the Kmr the UE derived.
	Enrolment *ue.Enrolment
	// Ks and Kmr are the UE's keys, for display.
	Ks, Kmr Secret
	// MAF is what the MAF holds under the Kmr-ID.
	MAF KmrAtMAF
	// SameKmr reports whether the UE's Kmr equals the MAF's (constant-time comparison).
	SameKmr bool
	// BootstrapTime, EnrolTime and Total are the durations of Ub, of the enrolment over
	// Ua, and of both.
	BootstrapTime, EnrolTime, Total time.Duration
	// Ladder is the message ladder (nil unless asked for).
	Ladder *Ladder
}

// RunOptions tune RunDevice.
type RunOptions struct {
	// Ladder records the message ladder.
	Ladder bool
}

// RunDevice runs one device through bootstrap (Ub, TS 24.109 §4) and oneM2M enrolment
// with the MEF (Ua, TS 24.109 §5), then reads the Kmr back from the MAF and compares it
// with the UE's. With o.Ladder, every message of the run is recorded: the UE's Ub and Ua
// HTTP exchanges, the BSF's MAR/MAA, the MEF's BIR/BIA and the MEF's provisioning of the
// MAF. Run one ladder at a time: the Zh, Zn and MAF taps are shared by all devices and the
// ladder keeps the exchanges of this IMPI and B-TID.
func (tb *Testbed) RunDevice(ctx context.Context, sub Subscriber, o RunOptions) (*DeviceResult, error) {
	rec := &recorder{bsfHost: hostOf(tb.Endpoints().UbURL)}
	uo := UEOptions{}
	if o.Ladder {
		stop := tb.Observe(rec.add)
		defer stop()
		uo.Transport = func(base http.RoundTripper) http.RoundTripper { return &uaTap{base: base, rec: rec} }
		uo.Trace = rec.trace
	}
	c, err := tb.NewUE(sub, uo)
	if err != nil {
		return nil, err
	}
	res := &DeviceResult{IMPI: sub.IMPI}
	// finish records the ladder, also of a failed run (it ends where the run failed).
	finish := func(err error) (*DeviceResult, error) {
		if o.Ladder {
			res.Ladder = rec.ladder(res)
		}
		return res, err
	}
	start := time.Now()
	rec.start = start
	b, err := c.Bootstrap(ctx)
	res.BootstrapTime = time.Since(start)
	if err != nil {
		return finish(fmt.Errorf("testbed: bootstrap: %w", err))
	}
	res.Bootstrap = b
	res.Ks = NewSecret(b.Ks().Bytes())
	if k, err := b.KsNAF(tb.nafFQDN, ue.UaIDHTTPDigest); err == nil {
		rec.ksNAF = NewSecret(k.Bytes()) // for the ladder, also when the enrolment fails
	}
	t1 := time.Now()
	enr, err := c.Enrol(ctx, tb.EnrolmentURL())
	res.EnrolTime = time.Since(t1)
	res.Total = time.Since(start)
	if err != nil {
		return finish(fmt.Errorf("testbed: enrolment: %w", err))
	}
	res.Enrolment = enr
	res.Kmr = NewSecret(enr.Kmr.Bytes())
	if res.MAF, err = tb.LookupKmr(ctx, enr.KmrID); err != nil {
		return finish(err)
	}
	res.SameKmr = !res.Kmr.IsZero() && res.Kmr.Equal(res.MAF.Kmr)
	if !res.SameKmr {
		return finish(errors.New("testbed: the MAF holds another Kmr than the UE"))
	}
	return finish(nil)
}

func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

// recorder collects the exchanges of one device run.
type recorder struct {
	bsfHost string
	start   time.Time
	ksNAF   Secret // the UE's Ks_NAF for the MEF (TS 33.220 §B.3)

	mu     sync.Mutex
	ex     []Exchange
	traces []traced
}

type traced struct {
	at time.Time
	ev ue.Event
}

func (r *recorder) add(e Exchange) {
	r.mu.Lock()
	r.ex = append(r.ex, e)
	r.mu.Unlock()
}

func (r *recorder) trace(e ue.Event) {
	r.mu.Lock()
	r.traces = append(r.traces, traced{at: time.Now(), ev: e})
	r.mu.Unlock()
}

// uaTap records the UE's HTTP exchanges on Ub and Ua (headers only; bodies are left to
// the UE).
type uaTap struct {
	base http.RoundTripper
	rec  *recorder
}

func (t *uaTap) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	end := time.Now()
	e := Exchange{Client: NodeUE, Interface: "Ua", Server: NodeMEF, Start: start, End: end, Err: err}
	if req.URL.Host == t.rec.bsfHost {
		e.Interface, e.Server = "Ub", NodeBSF
	}
	e.Request = req.Method + " " + req.URL.Path
	e.RequestFields = authorizationFields(req.Header.Get("Authorization"))
	if err != nil {
		e.Response = "error: " + err.Error()
	} else {
		e.Response = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
		e.ResponseFields = responseFields(resp.Header)
	}
	t.rec.add(e)
	return resp, err
}

// authorizationFields shows the Digest credentials of a request (RFC 7616 §3.4, RFC 3310
// §3.4); the response and rspauth values are hashes, not secrets.
func authorizationFields(h string) []Field {
	if h == "" {
		return []Field{{Name: "Authorization", Value: "(none)"}}
	}
	c, err := digest.ParseCredentials(h)
	if err != nil {
		return []Field{{Name: "Authorization", Value: "(unparsable)"}}
	}
	fs := []Field{{Name: "username", Value: c.Username}, {Name: "realm", Value: c.Realm}, {Name: "nonce", Value: quoteShort(c.Nonce)}}
	if c.QOP != "" {
		fs = append(fs, Field{Name: "qop", Value: string(c.QOP)}, Field{Name: "nc", Value: fmt.Sprintf("%08x", c.NC)}, Field{Name: "cnonce", Value: c.CNonce})
	}
	if c.Algorithm != "" {
		fs = append(fs, Field{Name: "algorithm", Value: string(c.Algorithm)})
	}
	fs = append(fs, Field{Name: "response", Value: quoteShort(c.Response)})
	if c.AUTS != nil {
		fs = append(fs, Field{Name: "auts", Value: fmt.Sprintf("%x", c.AUTS)})
	}
	return fs
}

// responseFields shows the challenge (RFC 7616 §3.3; for AKA the nonce carries RAND and
// AUTN, RFC 3310 §3.2) and the Authentication-Info of a response.
func responseFields(h http.Header) []Field {
	var fs []Field
	for _, v := range h.Values("WWW-Authenticate") {
		ch, err := digest.ParseChallenge(v)
		if err != nil {
			continue
		}
		fs = append(fs, Field{Name: "realm", Value: ch.Realm})
		if ch.Algorithm != "" {
			fs = append(fs, Field{Name: "algorithm", Value: string(ch.Algorithm)})
		}
		var qops []string
		for _, q := range ch.QOP {
			qops = append(qops, string(q))
		}
		if len(qops) > 0 {
			fs = append(fs, Field{Name: "qop", Value: strings.Join(qops, ",")})
		}
		if ch.Stale {
			fs = append(fs, Field{Name: "stale", Value: "true"})
		}
		if n, err := digest.UnpackNonce(ch.Nonce); err == nil && (ch.Algorithm == digest.AKAv1MD5 || ch.Algorithm == digest.AKAv2MD5) {
			fs = append(fs, Field{Name: "nonce: RAND", Value: fmt.Sprintf("%x", n.RAND)}, Field{Name: "nonce: AUTN", Value: fmt.Sprintf("%x", n.AUTN)})
		} else {
			fs = append(fs, Field{Name: "nonce", Value: quoteShort(ch.Nonce)})
		}
		break
	}
	if v := h.Get("Authentication-Info"); v != "" {
		if a, err := digest.ParseAuthInfo(v); err == nil && a.RspAuth != "" {
			fs = append(fs, Field{Name: "rspauth", Value: quoteShort(a.RspAuth)})
		}
	}
	return fs
}

// quoteShort quotes s, shortened to 16 characters.
func quoteShort(s string) string {
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return `"` + s + `"`
}

// ladder turns the recorded exchanges into steps, in time order: each exchange gives its
// request at Start and its answer at End; the UE's local key derivations are notes.
func (r *recorder) ladder(res *DeviceResult) *Ladder {
	r.mu.Lock()
	defer r.mu.Unlock()
	var btid string
	if res.Bootstrap != nil {
		btid = res.Bootstrap.BTID
	}
	l := &Ladder{Nodes: ladderNodes(), Start: r.start}
	type row struct {
		at   time.Time
		seq  int
		step Step
	}
	var rows []row
	add := func(at time.Time, s Step) {
		s.At = at.Sub(r.start)
		rows = append(rows, row{at: at, seq: len(rows), step: s})
	}
	for _, e := range r.ex {
		switch e.Interface {
		case "Zh":
			if e.IMPI != res.IMPI || e.Start.Before(r.start) {
				continue
			}
		case "Zn", "MAF":
			if btid == "" || e.BTID != btid {
				continue
			}
		}
		req := Step{From: e.Client, To: e.Server, Interface: e.Interface, Label: e.Request, Fields: e.RequestFields}
		ans := Step{From: e.Server, To: e.Client, Interface: e.Interface, Label: e.Response, RTT: e.End.Sub(e.Start), Fields: e.ResponseFields, Err: e.Err != nil}
		switch {
		case e.Interface == "Ub" && strings.HasPrefix(e.Response, "200") && res.Bootstrap != nil:
			// The BootstrappingInfo body (TS 24.109 Annex C), as the UE parsed it.
			ans.Fields = append(ans.Fields, Field{Name: "btid", Value: btid}, Field{Name: "lifetime", Value: res.Bootstrap.Expires.UTC().Format(time.RFC3339)})
		case e.Interface == "Ua" && strings.HasPrefix(e.Response, "20") && res.Enrolment != nil:
			en := res.Enrolment
			ans.Label += " (enrolment)"
			ans.Fields = append(ans.Fields, Field{Name: "node_id", Value: en.NodeID}, Field{Name: "kmr_id", Value: en.KmrID},
				Field{Name: "kmr_expires", Value: en.Expires.UTC().Format(time.RFC3339)}, Field{Name: "in_cse_id", Value: en.INCSEID}, Field{Name: "maf_id", Value: en.MAFID})
		}
		add(e.Start, req)
		add(e.End, ans)
	}
	// Local steps of the UE, at the instants its Trace reported them.
	for _, t := range r.traces {
		switch t.ev.Step {
		case ue.StepUbChallenge, ue.StepUbResync:
			add(t.at, Step{From: NodeUE, To: NodeUE, Interface: "USIM", Label: "AUTHENTICATE(RAND, AUTN)",
				Fields: []Field{{Name: "checks", Value: "MAC-A, SQN freshness (TS 33.102 §6.3.3)"}, {Name: "returns", Value: "RES (the Digest password), CK, IK"}}})
		case ue.StepUbDone:
			add(t.at, Step{From: NodeUE, To: NodeUE, Interface: "UE", Label: "Ks = CK ‖ IK",
				Fields: []Field{{Name: "Ks", Key: res.Ks}, {Name: "B-TID", Value: btid}}})
		case ue.StepUaChallenge:
			add(t.at, Step{From: NodeUE, To: NodeUE, Interface: "UE", Label: "Ks_NAF = KDF(Ks, \"gba-me\", RAND, IMPI, NAF_Id)",
				Fields: []Field{{Name: "NAF_Id", Value: r.nafID(res)}, {Name: "Ks_NAF (= Kmr)", Key: r.ksNAF}, {Name: "password", Value: "base64(Ks_NAF), username = B-TID"}}})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].at.Equal(rows[j].at) {
			return rows[i].at.Before(rows[j].at)
		}
		return rows[i].seq < rows[j].seq
	})
	for _, rw := range rows {
		l.Steps = append(l.Steps, rw.step)
	}
	return l
}

// nafID renders the MEF's NAF_Id (TS 33.220 Annex H) from the Zn exchange, if recorded.
func (r *recorder) nafID(res *DeviceResult) string {
	for _, e := range r.ex {
		if e.Interface == "Zn" && res.Bootstrap != nil && e.BTID == res.Bootstrap.BTID {
			for _, f := range e.RequestFields {
				if f.Name == "NAF-Id" {
					return f.Value
				}
			}
		}
	}
	return "NAF FQDN ‖ " + UaIDHex
}
