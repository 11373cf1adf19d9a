package testbed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opengba/opengba/bsf"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/maf"
)

// Field is one named value of an observed message. Key material is held in Key (Value
// empty) and shows as a fingerprint unless revealed on purpose.
type Field struct {
	Name  string
	Value string
	Key   Secret
}

// Exchange is one request and its answer on a reference point, as a testbed decorator or
// an in-process UE observed it.
type Exchange struct {
	// Interface is "Ub", "Zh", "Zn", "Ua" or "MAF".
	Interface string
	// Client sends the request, Server answers it.
	Client, Server Node
	// Request and Response are short labels: "MAR", "MAA 2001 DIAMETER_SUCCESS",
	// "GET /", "401 Unauthorized".
	Request, Response string
	// Start is when the request left (or, at a server-side tap, arrived); End when the
	// answer arrived (was sent).
	Start, End time.Time
	// IMPI and BTID correlate the exchange with a device ("" when not known).
	IMPI, BTID string
	// RequestFields and ResponseFields are the salient fields, in wire order.
	RequestFields, ResponseFields []Field
	// Err is the failure of the exchange, if any.
	Err error
}

// observers is the list of Observe callbacks. With none registered the decorators cost
// one atomic load.
type observers struct {
	n    atomic.Int32
	mu   sync.Mutex
	next int
	fns  map[int]func(Exchange)
}

func (o *observers) active() bool { return o.n.Load() > 0 }

func (o *observers) add(f func(Exchange)) func() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fns == nil {
		o.fns = make(map[int]func(Exchange))
	}
	id := o.next
	o.next++
	o.fns[id] = f
	o.n.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			delete(o.fns, id)
			o.n.Add(-1)
		})
	}
}

func (o *observers) emit(e Exchange) {
	o.mu.Lock()
	fns := make([]func(Exchange), 0, len(o.fns))
	for _, f := range o.fns {
		fns = append(fns, f)
	}
	o.mu.Unlock()
	for _, f := range fns {
		f(e)
	}
}

// Observe registers f for every Zh, Zn and MEF→MAF provisioning exchange of every device
// until the returned function is called. f runs on the node's goroutine and must not
// block.
func (tb *Testbed) Observe(f func(Exchange)) (stop func()) { return tb.obs.add(f) }

// resultSuccess is the Result-Code of an answer the clients accepted (RFC 6733 §7.1.2).
const resultSuccess = "2001 DIAMETER_SUCCESS"

// zhTap decorates the BSF's Zh client (bsf.VectorSource): each FetchAV is one
// Multimedia-Auth-Request/Answer exchange, TS 29.109 §4.2 and §6.1. It reports the BSF's
// view of the round trip and never changes the result.
type zhTap struct {
	bsf.VectorSource
	obs *observers
}

// FetchAV implements bsf.VectorSource.
func (z zhTap) FetchAV(ctx context.Context, req bsf.AVRequest) (bsf.AVResponse, error) {
	if !z.obs.active() {
		return z.VectorSource.FetchAV(ctx, req)
	}
	start := time.Now()
	av, err := z.VectorSource.FetchAV(ctx, req)
	end := time.Now()
	// TS 29.109 §6.1.1: User-Name = IMPI, SIP-Auth-Data-Item with the scheme, or with
	// SIP-Authorization = RAND ‖ AUTS on resynchronisation.
	reqFields := []Field{
		{Name: "User-Name", Value: req.IMPI},
		{Name: "SIP-Authentication-Scheme", Value: "Digest-AKAv1-MD5"},
	}
	if req.Resync != nil {
		reqFields = append(reqFields, Field{Name: "SIP-Authorization (RAND‖AUTS)", Value: hex.EncodeToString(req.Resync.RAND[:]) + hex.EncodeToString(req.Resync.AUTS[:])})
	}
	if !req.GUSSTimestamp.IsZero() {
		reqFields = append(reqFields, Field{Name: "GUSS-Timestamp", Value: req.GUSSTimestamp.UTC().Format(time.RFC3339)})
	}
	e := Exchange{
		Interface: "Zh", Client: NodeBSF, Server: NodeHSS, Request: "MAR (303)",
		Start: start, End: end, IMPI: req.IMPI, RequestFields: reqFields, Err: err,
	}
	if err != nil {
		e.Response = "MAA: " + err.Error()
	} else {
		// TS 29.109 §6.1.2: SIP-Auth-Data-Item carries the AV; GUSS when newer.
		e.Response = "MAA " + resultSuccess
		guss := "not sent (BSF copy current)"
		if av.GUSS != nil {
			guss = strconv.Itoa(len(av.GUSS)) + " octets"
		}
		e.ResponseFields = []Field{
			{Name: "RAND", Value: hex.EncodeToString(av.RAND[:])},
			{Name: "AUTN", Value: hex.EncodeToString(av.AUTN[:])},
			{Name: "XRES", Key: NewSecret(av.XRES)},
			{Name: "CK", Key: NewSecret(av.CK[:])},
			{Name: "IK", Key: NewSecret(av.IK[:])},
			{Name: "GBA-UserSecSettings", Value: guss},
		}
	}
	z.obs.emit(e)
	return av, err
}

// znTap decorates the MEF's Zn client (naf.KeySource): each KsNAF call that reaches it (a
// miss of the MEF's key cache) is one Bootstrapping-Info-Request/Answer exchange, TS 29.109
// §5.2 and §6.2. Ready and Close are the client's.
type znTap struct {
	*naf.ZnClient
	obs *observers
}

// KsNAF implements naf.KeySource.
func (z znTap) KsNAF(ctx context.Context, btid string, nafID gba.NAFID) (naf.NAFKey, error) {
	if !z.obs.active() {
		return z.ZnClient.KsNAF(ctx, btid, nafID)
	}
	start := time.Now()
	k, err := z.ZnClient.KsNAF(ctx, btid, nafID)
	end := time.Now()
	e := Exchange{
		Interface: "Zn", Client: NodeMEF, Server: NodeBSF, Request: "BIR (310)",
		Start: start, End: end, BTID: btid, Err: err,
		// TS 29.109 §6.2.1.
		RequestFields: []Field{
			{Name: "Transaction-Identifier", Value: btid},
			{Name: "NAF-Id", Value: nafID.FQDN + " ‖ " + nafID.UaID.String()},
			{Name: "Private-Identity-Request", Value: "requested"},
		},
	}
	if err != nil {
		e.Response = "BIA: " + err.Error()
	} else {
		// TS 29.109 §6.2.2.
		e.Response = "BIA " + resultSuccess
		uss := "none"
		if len(k.USS) > 0 {
			uss = strconv.Itoa(len(k.USS)) + " octets"
		}
		impi := k.IMPI
		if impi == "" {
			impi = "(not returned)"
		}
		e.IMPI = k.IMPI
		e.ResponseFields = []Field{
			{Name: "ME-Key-Material (Ks_NAF)", Key: NewSecret(k.KsNAF.Bytes())},
			{Name: "Key-ExpiryTime", Value: k.Expires.UTC().Format(time.RFC3339)},
			{Name: "User-Name", Value: impi},
			{Name: "GBA-Type", Value: k.GBAType.String()},
			{Name: "GBA-UserSecSettings", Value: uss},
		}
	}
	z.obs.emit(e)
	return k, err
}

// maxTapBody bounds the provisioning body the MAF tap reads (the MAF's own limit is 64 KiB).
const maxTapBody = 64 << 10

// mafTap wraps the MAF key API: a POST to /maf/v1/keys is the MEF provisioning
// {Node-ID, Kmr-ID, Kmr, expiry} (GBA-DIGEST §0). It times the MAF's handling of it; other
// requests pass untouched. The body is restored for the handler.
func mafTap(next http.Handler, obs *observers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !obs.active() || r.Method != http.MethodPost || r.URL.Path != maf.KeysPath {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		body, err := io.ReadAll(io.LimitReader(r.Body, maxTapBody+1))
		_ = r.Body.Close()
		if err != nil || len(body) > maxTapBody {
			http.Error(w, `{"error":"unreadable body"}`, http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var pr maf.ProvisionRequest
		_ = json.Unmarshal(body, &pr) // the handler judges the body; this is display only
		kmr, _ := base64.StdEncoding.DecodeString(pr.Kmr)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		clear(body) // it held Kmr in base64
		e := Exchange{
			Interface: "MAF", Client: NodeMEF, Server: NodeMAF, Request: "POST " + maf.KeysPath,
			Response: fmt.Sprintf("%d %s", sw.status, http.StatusText(sw.status)),
			Start:    start, End: time.Now(), BTID: pr.KmrID,
			RequestFields: []Field{
				{Name: "node_id", Value: pr.NodeID},
				{Name: "kmr_id", Value: pr.KmrID},
				{Name: "kmr", Key: NewSecret(kmr)},
				{Name: "expires", Value: pr.Expires.UTC().Format(time.RFC3339)},
			},
		}
		clear(kmr)
		if sw.status >= 300 {
			e.Err = fmt.Errorf("testbed: maf: provisioning answered %d", sw.status)
		}
		obs.emit(e)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
