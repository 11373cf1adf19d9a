package diameter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// ProtocolError is why a Diameter message was rejected: the Result-Code to answer with
// (RFC 6733 §7.1), the content of the Failed-AVP (RFC 6733 §7.5) and a short reason.
//
// The reason names AVPs by code, vendor and offset and never quotes AVP data, so the error
// is safe to log. FailedAVP may hold AVP data as received and is never printed.
type ProtocolError struct {
	// ResultCode is the RFC 6733 §7.1 Result-Code of the answer.
	ResultCode uint32
	// FailedAVP is one AVP in wire form (header, data, padding) to carry inside the
	// Failed-AVP of the answer, RFC 6733 §7.5; nil when the error concerns no AVP.
	FailedAVP []byte
	// Reason is a human-readable explanation (no AVP data), fit for Error-Message.
	Reason string
}

// Error implements error.
func (e *ProtocolError) Error() string {
	return "diameter: " + ResultName(e.ResultCode) + " (" + strconv.FormatUint(uint64(e.ResultCode), 10) + "): " + e.Reason
}

// ErrorBit reports whether the answer must carry the E bit: protocol errors (3xxx) do,
// RFC 6733 §7.1.3 and §7.2.
func (e *ProtocolError) ErrorBit() bool { return IsProtocolError(e.ResultCode) }

// GoString keeps AVP data out of %#v.
func (e *ProtocolError) GoString() string {
	return fmt.Sprintf("&diameter.ProtocolError{ResultCode:%d, FailedAVP:[%d octets], Reason:%q}",
		e.ResultCode, len(e.FailedAVP), e.Reason)
}

// LogValue keeps AVP data out of slog output.
func (e *ProtocolError) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("result", uint64(e.ResultCode)),
		slog.String("reason", e.Reason),
	)
}

// ErrDecode reports that go-diameter failed on a frame Validate accepted (a gap in
// validation; the peer layer answers it with DIAMETER_UNABLE_TO_COMPLY).
var ErrDecode = errors.New("diameter: decode")

// maxGroupDepth bounds the nesting of Grouped AVPs (RFC 6733 §4.4 sets no limit; ours
// keeps recursion bounded on hostile input; the deepest real GBA nesting is 2).
const maxGroupDepth = 8

// Validator checks raw Diameter frames against the header rules of RFC 6733 §3, the AVP
// rules of RFC 6733 §4 and the command grammars (RFC 6733 §3.2) of a go-diameter
// dictionary, for the applications one edge serves. It is pure (no I/O), immutable after
// NewValidator and safe for concurrent use.
type Validator struct {
	dict      *dict.Parser
	served    map[uint32]bool
	commands  map[cmdKey]*cmdGrammar
	groups    map[avpKey]avpGrammar
	appVendor map[uint32]uint32
	// lookups holds, per served application, lookup's answer for every (code, vendor)
	// the dictionary defines, computed by NewValidator with the same go-diameter call:
	// a map keyed by one integer is cheaper than go-diameter's struct-keyed index on the
	// path every frame takes. Pairs not in it are looked up in the dictionary.
	lookups map[uint32]map[uint64]avpLookup
	// views recycles the scratch space of the AVP walk (*[]avpView): a frame's AVPs
	// are walked without allocating. It holds no state between calls.
	views sync.Pool
	// readers recycles the *bytes.Reader Decode hands go-diameter.
	readers sync.Pool
}

// avpLookup is the outcome of avpWalker.lookup for one (code, vendor).
type avpLookup struct {
	def   *dict.AVP
	typ   datatype.TypeID
	known bool
}

func lookupKey(code, vendor uint32) uint64 { return uint64(code)<<32 | uint64(vendor) }

type cmdKey struct{ app, code uint32 }

type avpKey struct{ code, vendor uint32 }

type cmdGrammar struct {
	name      string
	proxiable bool
	request   avpGrammar
	answer    avpGrammar
}

type avpGrammar []occRule

type occRule struct {
	name     string
	key      avpKey
	flags    uint8 // flags of an example AVP: V when vendor-specific, M when the definition says must M
	typ      datatype.TypeID
	min, max int // max 0: unbounded
}

func (g avpGrammar) requires(k avpKey) bool {
	for _, r := range g {
		if r.key == k && r.min > 0 {
			return true
		}
	}
	return false
}

// baseCommands are the base protocol commands an OpenGBA edge supports (CER, DWR, DPR,
// RFC 6733 §5); the dictionary's other base commands (ACR, RAR, ASR, STR) get 3001.
var baseCommands = [...]uint32{CmdCapabilitiesExchange, CmdDeviceWatchdog, CmdDisconnectPeer}

// NewValidator builds a Validator for the applications apps (application 0, the base
// protocol, is always served) from d, normally NewDictionary(). Every application must
// have commands in d. The Validator indexes d: load nothing more into d afterwards (as
// go-diameter requires of a dictionary in use anyway).
func NewValidator(d *dict.Parser, apps ...uint32) (*Validator, error) {
	if d == nil {
		return nil, errors.New("diameter: validator: nil dictionary")
	}
	v := &Validator{
		dict:      d,
		served:    map[uint32]bool{AppIDBase: true},
		commands:  map[cmdKey]*cmdGrammar{},
		groups:    map[avpKey]avpGrammar{},
		appVendor: map[uint32]uint32{},
	}
	for _, code := range baseCommands {
		c, err := d.FindCommand(AppIDBase, code)
		if err != nil {
			return nil, fmt.Errorf("diameter: validator: base command %d: %w", code, err)
		}
		if err := v.addCommand(AppIDBase, c); err != nil {
			return nil, err
		}
	}
	for _, app := range apps {
		if app == AppIDBase {
			continue
		}
		n := 0
		for _, a := range d.Apps() {
			if a.ID != app {
				continue
			}
			if len(a.Vendor) > 0 {
				v.appVendor[app] = a.Vendor[0].ID
			}
			for _, c := range a.Command {
				if err := v.addCommand(app, c); err != nil {
					return nil, err
				}
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("diameter: validator: application %d has no commands in the dictionary", app)
		}
		v.served[app] = true
	}
	for _, a := range d.Apps() {
		for _, def := range a.AVP {
			k := avpKey{def.Code, def.VendorID}
			if def.Data.Type != datatype.GroupedType || len(def.Data.Rule) == 0 || k == keyVSAI {
				continue
			}
			if _, ok := v.groups[k]; ok {
				continue
			}
			g, err := v.resolve(a.ID, def.Data.Rule)
			if err != nil {
				return nil, fmt.Errorf("diameter: validator: grouped AVP %s: %w", def.Name, err)
			}
			v.groups[k] = g
		}
	}
	v.lookups = make(map[uint32]map[uint64]avpLookup, len(v.served))
	for app := range v.served {
		t := map[uint64]avpLookup{}
		w := avpWalker{v: v, app: app}
		for _, a := range d.Apps() {
			for _, ad := range a.AVP {
				if def, typ, known := w.lookupDict(ad.Code, ad.VendorID); def != nil {
					t[lookupKey(ad.Code, ad.VendorID)] = avpLookup{def: def, typ: typ, known: known}
				}
			}
		}
		v.lookups[app] = t
	}
	return v, nil
}

func (v *Validator) addCommand(app uint32, c *dict.Command) error {
	req, err := v.resolve(app, c.Request.Rule)
	if err != nil {
		return fmt.Errorf("diameter: validator: %s-Request: %w", c.Name, err)
	}
	ans, err := v.resolve(app, c.Answer.Rule)
	if err != nil {
		return fmt.Errorf("diameter: validator: %s-Answer: %w", c.Name, err)
	}
	v.commands[cmdKey{app, c.Code}] = &cmdGrammar{
		name: c.Name,
		// The dictionary does not carry the PXY of the command definitions: the base
		// commands we support (CER, DWR, DPR) are not proxiable (RFC 6733 §5.3.1, §5.4.1,
		// §5.5.1) and every command of a served application is (TS 29.109 §6.1, §6.2).
		proxiable: app != AppIDBase,
		request:   req,
		answer:    ans,
	}
	return nil
}

func (v *Validator) resolve(app uint32, rules []*dict.Rule) (avpGrammar, error) {
	var g avpGrammar
	for _, r := range rules {
		if r.AVP == "AVP" { // *[ AVP ]
			continue
		}
		def, err := v.dict.FindAVPWithVendor(app, r.AVP, dict.UndefinedVendorID)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.AVP, err)
		}
		min := r.Min
		if r.Required && min < 1 {
			min = 1
		}
		g = append(g, occRule{
			name:  def.Name,
			key:   avpKey{def.Code, def.VendorID},
			flags: exampleFlags(def),
			typ:   def.Data.Type,
			min:   min,
			max:   r.Max,
		})
	}
	return g, nil
}

func exampleFlags(def *dict.AVP) uint8 {
	var f uint8
	if def.VendorID != 0 {
		f |= avpFlagVendor
	}
	if bytes.ContainsRune([]byte(def.Must), 'M') {
		f |= avpFlagMandatory
	}
	return f
}

// Serves reports whether the validator accepts requests of application app.
func (v *Validator) Serves(app uint32) bool { return v.served[app] }

// Validate checks one raw Diameter message (exactly one frame, header included) and
// returns nil or a *ProtocolError. The checks run in this order, each one needing what the
// previous ones established:
//
//  1. a readable header: fewer than 20 octets → 5015 DIAMETER_INVALID_MESSAGE_LENGTH
//     (no answer can be built: there are no hop-by-hop and end-to-end ids), RFC 6733 §3;
//  2. Version = 1, else 5011 DIAMETER_UNSUPPORTED_VERSION, RFC 6733 §3 and §7.1.5: the
//     rest of the header is only defined for version 1;
//  3. Message Length ≥ 20, a multiple of 4 and equal to the frame size, else 5015,
//     RFC 6733 §3 and §7.1.5;
//  4. E bit on a request → 3008 DIAMETER_INVALID_HDR_BITS, RFC 6733 §3 and §7.1.3;
//  5. the application: not served and not 0 → 3007 DIAMETER_APPLICATION_UNSUPPORTED,
//     RFC 6733 §7.1.3;
//  6. the command code within the application → 3001 DIAMETER_COMMAND_UNSUPPORTED,
//     RFC 6733 §7.1.3;
//  7. the P bit of a request against the PXY of the command definition → 3008,
//     RFC 6733 §3.2 and §7.1.3 ("inconsistent with the Command Code's definition");
//  8. every AVP in wire order, recursing into Grouped AVPs (RFC 6733 §4.4): header and
//     length within its container (5014 DIAMETER_INVALID_AVP_LENGTH), an unknown AVP with
//     the M bit (5001 DIAMETER_AVP_UNSUPPORTED, RFC 6733 §4.1), data length of fixed-size
//     types (5014, RFC 6733 §4.2, §4.3.1), values of Enumerated, UTF8String and Address
//     (5004 DIAMETER_INVALID_AVP_VALUE, RFC 6733 §4.1, §4.3.1) and the grammar of known
//     Grouped AVPs; the first error in wire order wins (RFC 6733 §7.5);
//  9. the command grammar, rule by rule in dictionary order: fewer than required
//     (5005 DIAMETER_MISSING_AVP) or more than allowed (5009
//     DIAMETER_AVP_OCCURS_TOO_MANY_TIMES), RFC 6733 §3.2 and §7.1.5.
//
// Reserved header and AVP flag bits are ignored, as RFC 6733 §3 and §4.1 tell receivers.
// Answers are checked the same way except for steps 4 and 7, and answers with the E bit
// skip step 9 (they follow the answer-message grammar of RFC 6733 §7.2, not the
// command's). Every frame Validate accepts decodes with go-diameter's diam.ReadMessage
// to exactly its own length (see Decode and FuzzValidate).
func (v *Validator) Validate(frame []byte) error {
	if perr := v.validate(frame); perr != nil {
		return perr
	}
	return nil
}

// Decode validates frame and decodes it with go-diameter. It returns a *ProtocolError
// when validation fails, or an error wrapping ErrDecode when go-diameter fails or panics
// on a frame validation accepted.
func (v *Validator) Decode(frame []byte) (m *diam.Message, err error) {
	if perr := v.validate(frame); perr != nil {
		return nil, perr
	}
	r, _ := v.readers.Get().(*bytes.Reader)
	if r == nil {
		r = new(bytes.Reader)
	}
	r.Reset(frame)
	m, err = readMessage(r, v.dict)
	r.Reset(nil)
	v.readers.Put(r)
	return m, err
}

// readMessage decodes one message from r with go-diameter: its errors wrapped in ErrDecode,
// and a panic inside it recovered into such an error.
func readMessage(r *bytes.Reader, d *dict.Parser) (m *diam.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			// Only a runtime error's text is quoted: another panic value could carry AVP data.
			if re, ok := p.(runtime.Error); ok {
				m, err = nil, fmt.Errorf("%w: go-diameter panicked: %v", ErrDecode, re)
			} else {
				m, err = nil, fmt.Errorf("%w: go-diameter panicked", ErrDecode)
			}
		}
	}()
	m, err = diam.ReadMessage(r, d)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return m, nil
}

func protoErr(code uint32, failed []byte, format string, args ...any) *ProtocolError {
	return &ProtocolError{ResultCode: code, FailedAVP: failed, Reason: fmt.Sprintf(format, args...)}
}

// maxPooledViews bounds the scratch space kept for the next walk (a frame of a few
// hundred AVPs; larger ones allocate).
const maxPooledViews = 512

func (v *Validator) validate(frame []byte) *ProtocolError {
	bp, _ := v.views.Get().(*[]avpView)
	if bp == nil {
		bp = new([]avpView)
	}
	w := avpWalker{v: v, buf: (*bp)[:0]}
	perr := v.validateWith(&w, frame)
	if buf := w.buf[:cap(w.buf)]; len(buf) <= maxPooledViews {
		clear(buf) // drop the references into the frame
		*bp = buf[:0]
		v.views.Put(bp)
	}
	return perr
}

func (v *Validator) validateWith(w *avpWalker, frame []byte) *ProtocolError {
	if len(frame) < headerLen {
		return protoErr(ResultInvalidMessageLength, nil, "header truncated: %d octets", len(frame))
	}
	if frame[0] != diamVersion {
		return protoErr(ResultUnsupportedVersion, nil, "version %d", frame[0])
	}
	mlen := int(uint24(frame[1:4]))
	switch {
	case mlen < headerLen:
		return protoErr(ResultInvalidMessageLength, nil, "message length %d shorter than the header", mlen)
	case mlen%4 != 0:
		return protoErr(ResultInvalidMessageLength, nil, "message length %d not a multiple of 4", mlen)
	case mlen != len(frame):
		return protoErr(ResultInvalidMessageLength, nil, "message length %d, frame of %d octets", mlen, len(frame))
	}
	flags := frame[4]
	code := uint24(frame[5:8])
	app := binary.BigEndian.Uint32(frame[8:12])
	isReq := flags&flagRequest != 0
	if isReq && flags&flagError != 0 {
		return protoErr(ResultInvalidHdrBits, nil, "E bit set on a request")
	}
	if !v.served[app] {
		return protoErr(ResultApplicationUnsupported, nil, "application %d not supported", app)
	}
	cmd := v.commands[cmdKey{app, code}]
	if cmd == nil {
		return protoErr(ResultCommandUnsupported, nil, "command %d not supported in application %d", code, app)
	}
	if isReq && (flags&flagProxiable != 0) != cmd.proxiable {
		if cmd.proxiable {
			return protoErr(ResultInvalidHdrBits, nil, "P bit clear on %s-Request, defined PXY", cmd.name)
		}
		return protoErr(ResultInvalidHdrBits, nil, "P bit set on %s-Request, not proxiable", cmd.name)
	}
	w.app, w.table = app, v.lookups[app]
	avps, perr := w.walk(frame[headerLen:], headerLen, 0, false)
	if perr != nil {
		return perr
	}
	switch {
	case isReq:
		return w.checkGrammar(cmd.request, avps)
	case flags&flagError != 0:
		return nil
	default:
		return w.checkGrammar(cmd.answer, avps)
	}
}

// avpWalker walks the AVPs of one message of application app. buf is the stack of the
// AVPs being walked: each walk appends the AVPs of its level and returns them; the AVPs of
// a Grouped AVP are dropped again once the group is checked.
type avpWalker struct {
	v   *Validator
	app uint32
	buf []avpView
	// table is v.lookups[app], or nil: lookup asks the dictionary.
	table map[uint64]avpLookup
}

// avpView is one AVP as found on the wire; data aliases the frame.
type avpView struct {
	code   uint32
	flags  uint8
	vendor uint32
	data   []byte
	hdr    int // header length, 8 or 12
	at     int // offset of the AVP header in the message
	def    *dict.AVP
	typ    datatype.TypeID // the type go-diameter decodes it with
	known  bool            // (code, vendor) is defined in the dictionary
}

func (a *avpView) key() avpKey { return avpKey{a.code, a.vendor} }

// copyBytes returns the AVP as received, with zero padding.
func (a *avpView) copyBytes() []byte { return AppendAVP(nil, a.code, a.flags, a.vendor, a.data) }

// lookup resolves an AVP the way go-diameter's decoder does (application, then base, then
// any vendor; see DecodeFromBytes): typ is the data type go-diameter will decode it with,
// known is true only when exactly (code, vendor) is defined.
func (w *avpWalker) lookup(code, vendor uint32) (def *dict.AVP, typ datatype.TypeID, known bool) {
	if l, ok := w.table[lookupKey(code, vendor)]; ok {
		return l.def, l.typ, l.known
	}
	return w.lookupDict(code, vendor)
}

// lookupDict is lookup without the table.
func (w *avpWalker) lookupDict(code, vendor uint32) (def *dict.AVP, typ datatype.TypeID, known bool) {
	app := w.app
	if !w.v.served[app] {
		app = AppIDBase // only ErrorAnswer looks into messages of other applications
	}
	def, err := w.v.dict.FindAVPByCode(app, code, vendor)
	if err != nil || def == nil {
		return nil, datatype.UnknownType, false
	}
	return def, def.Data.Type, def.Code == code && def.VendorID == vendor
}

// avpName names an AVP for error reasons: "Session-Id (263/0)" or "AVP 9999/0".
func avpName(code, vendor uint32, def *dict.AVP) string {
	if def != nil && def.Code == code && def.VendorID == vendor {
		return fmt.Sprintf("%s (%d/%d)", def.Name, code, vendor)
	}
	return fmt.Sprintf("AVP %d/%d", code, vendor)
}

func (a *avpView) name() string { return avpName(a.code, a.vendor, a.def) }

func (a *avpView) example() []byte { return exampleAVP(a.code, a.flags, a.vendor, a.typ) }

// exampleAVP is the AVP with a zero-filled payload of the minimum length of its type and a
// corrected length, RFC 6733 §7.5. Note: an Address example carries the IPv4 family (1)
// instead of 0, because go-diameter cannot decode (and would mis-frame) family 0.
func exampleAVP(code uint32, flags uint8, vendor uint32, typ datatype.TypeID) []byte {
	data := make([]byte, minDataLength(typ))
	if typ == datatype.AddressType {
		data[1] = 1
	}
	return AppendAVP(nil, code, flags, vendor, data)
}

// safeCopy is the AVP as received when it is well-formed enough for go-diameter to decode
// it inside a Failed-AVP, else its example.
func (w *avpWalker) safeCopy(a *avpView) []byte {
	b := a.copyBytes()
	mark := len(w.buf)
	_, perr := w.walk(b, 0, 0, true)
	w.buf = w.buf[:mark]
	if perr != nil {
		return exampleAVP(a.code, a.flags, a.vendor, a.typ)
	}
	return b
}

// truncated reports an AVP whose header does not fit in its container: the header is
// zero-padded to its minimum size, RFC 6733 §7.1.5 (DIAMETER_INVALID_AVP_LENGTH).
func (w *avpWalker) truncated(rest []byte, at int) *ProtocolError {
	var h [12]byte
	copy(h[:], rest)
	code := binary.BigEndian.Uint32(h[0:4])
	flags := h[4]
	var vendor uint32
	if flags&avpFlagVendor != 0 {
		vendor = binary.BigEndian.Uint32(h[8:12])
	}
	def, typ, _ := w.lookup(code, vendor)
	return protoErr(ResultInvalidAVPLength, exampleAVP(code, flags, vendor, typ),
		"%s at offset %d: header truncated, %d octets left", avpName(code, vendor, def), at, len(rest))
}

// walk checks the AVPs in b (step 8 of Validate), at offset off of the message, depth
// levels of Grouped AVPs deep. lenient (inside Failed-AVP or an unknown Grouped AVP)
// keeps only the checks that go-diameter's decoder needs: structure, fixed lengths and
// Address; RFC 6733 §4.4 lets receivers ignore what an unrecognised group holds, and a
// Failed-AVP holds offending AVPs by definition (RFC 6733 §7.5).
func (w *avpWalker) walk(b []byte, off, depth int, lenient bool) ([]avpView, *ProtocolError) {
	if w.buf == nil {
		w.buf = make([]avpView, 0, len(b)/24+1) // typical AVPs are 12 to 40 octets
	}
	start := len(w.buf)
	for n := 0; n < len(b); {
		rest := b[n:]
		at := off + n
		if len(rest) < 8 {
			return nil, w.truncated(rest, at)
		}
		a := avpView{
			code:  binary.BigEndian.Uint32(rest[0:4]),
			flags: rest[4],
			at:    at,
		}
		length := int(uint24(rest[5:8]))
		hdr := 8
		if a.flags&avpFlagVendor != 0 {
			if len(rest) < 12 {
				return nil, w.truncated(rest, at)
			}
			hdr = 12
			a.vendor = binary.BigEndian.Uint32(rest[8:12])
		}
		a.hdr = hdr
		a.def, a.typ, a.known = w.lookup(a.code, a.vendor)
		switch {
		case length < hdr:
			return nil, protoErr(ResultInvalidAVPLength, a.example(),
				"%s at offset %d: length %d shorter than its %d-octet header", a.name(), at, length, hdr)
		case length > len(rest):
			return nil, protoErr(ResultInvalidAVPLength, a.example(),
				"%s at offset %d: length %d runs past its container (%d octets left)", a.name(), at, length, len(rest))
		case pad4(length) > len(rest):
			return nil, protoErr(ResultInvalidAVPLength, a.example(),
				"%s at offset %d: padding runs past its container", a.name(), at)
		}
		a.data = rest[hdr:length]
		if !lenient && !a.known && a.flags&avpFlagMandatory != 0 {
			return nil, protoErr(ResultAVPUnsupported, w.safeCopy(&a),
				"%s at offset %d: unknown AVP with the M bit", a.name(), at)
		}
		if perr := w.checkData(&a, depth, lenient); perr != nil {
			return nil, perr
		}
		w.buf = append(w.buf, a)
		n += pad4(length)
	}
	end := len(w.buf)
	return w.buf[start:end:end], nil
}

var keyFailedAVP = avpKey{avp.FailedAVP, 0}

// checkData checks the data of one AVP against its type.
func (w *avpWalker) checkData(a *avpView, depth int, lenient bool) *ProtocolError {
	switch a.typ {
	case datatype.GroupedType:
		if depth >= maxGroupDepth {
			// No hierarchy: it would be too deep for the answer; the top-level AVP stands in.
			return protoErr(ResultInvalidAVPValue, nil,
				"%s at offset %d: Grouped AVPs nested deeper than %d", a.name(), a.at, maxGroupDepth)
		}
		inner := lenient || !a.known || a.key() == keyFailedAVP
		mark := len(w.buf)
		members, perr := w.walk(a.data, a.at+a.hdr, depth+1, inner)
		if perr == nil && !inner {
			perr = w.checkGroup(a, members)
		}
		w.buf = w.buf[:mark]
		if perr != nil {
			switch {
			case perr.FailedAVP != nil:
				// RFC 6733 §7.5: the grouped AVP hierarchy down to the offending AVP.
				perr.FailedAVP = AppendAVP(nil, a.code, a.flags, a.vendor, perr.FailedAVP)
			case depth == 0:
				perr.FailedAVP = a.example()
			}
			return perr
		}
		return nil
	case datatype.AddressType:
		return w.checkAddress(a)
	}
	if fl := fixedDataLength(a.typ); fl >= 0 && len(a.data) != fl {
		return protoErr(ResultInvalidAVPLength, a.example(),
			"%s at offset %d: %d octets of data, its type has %d", a.name(), a.at, len(a.data), fl)
	}
	if lenient || !a.known || a.flags&avpFlagMandatory == 0 {
		return nil
	}
	// RFC 6733 §4.1: an M-bit AVP whose value is not recognised is rejected.
	switch a.typ {
	case datatype.EnumeratedType:
		val := int32(binary.BigEndian.Uint32(a.data))
		if len(a.def.Data.Enum) > 0 && !slices.ContainsFunc(a.def.Data.Enum, func(e *dict.Enum) bool { return e.Code == val }) {
			return protoErr(ResultInvalidAVPValue, a.copyBytes(),
				"%s at offset %d: value %d not defined", a.name(), a.at, val)
		}
	case datatype.UTF8StringType:
		if !utf8.Valid(a.data) {
			return protoErr(ResultInvalidAVPValue, a.copyBytes(),
				"%s at offset %d: not UTF-8", a.name(), a.at)
		}
	}
	return nil
}

// checkAddress accepts the IPv4 and IPv6 families of the Address type (RFC 6733 §4.3.1)
// with their exact lengths. Note: RFC 6733 allows every IANA address family; go-diameter
// v4.3.0 decodes other families, and IPv4-mapped IPv6 addresses, to a length other than
// the one on the wire and then mis-frames the rest of the message, so we answer them with
// 5004. No GBA AVP is an Address; Host-IP-Address of CER/CEA is the only one.
func (w *avpWalker) checkAddress(a *avpView) *ProtocolError {
	bad := func(code uint32, format string, args ...any) *ProtocolError {
		return protoErr(code, a.example(), "%s at offset %d: %s", a.name(), a.at, fmt.Sprintf(format, args...))
	}
	if len(a.data) < 2 {
		return bad(ResultInvalidAVPLength, "Address of %d octets", len(a.data))
	}
	switch fam := binary.BigEndian.Uint16(a.data); fam {
	case 1:
		if len(a.data) != 6 {
			return bad(ResultInvalidAVPLength, "IPv4 Address of %d octets", len(a.data))
		}
	case 2:
		if len(a.data) != 18 {
			return bad(ResultInvalidAVPLength, "IPv6 Address of %d octets", len(a.data))
		}
		if net.IP(a.data[2:]).To4() != nil {
			return bad(ResultInvalidAVPValue, "IPv4-mapped IPv6 Address not supported")
		}
	default:
		return bad(ResultInvalidAVPValue, "address family %d not supported", fam)
	}
	return nil
}

var (
	keyVSAI     = avpKey{avp.VendorSpecificApplicationID, 0}
	keyVendorID = avpKey{avp.VendorID, 0}
	keyAuthApp  = avpKey{avp.AuthApplicationID, 0}
	keyAcctApp  = avpKey{avp.AcctApplicationID, 0}
)

// checkGroup checks the members of a known Grouped AVP against its grammar.
func (w *avpWalker) checkGroup(a *avpView, members []avpView) *ProtocolError {
	if a.key() == keyVSAI {
		return w.checkVSAI(members)
	}
	return w.checkGrammar(w.v.groups[a.key()], members)
}

// checkVSAI applies RFC 6733 §6.11: { Vendor-Id } [ Auth-Application-Id ]
// [ Acct-Application-Id ], exactly one of the two application ids. Note: go-diameter's
// base dictionary marks both application ids required and Vendor-Id optional (the RFC
// 3588 reading); we follow RFC 6733.
func (w *avpWalker) checkVSAI(members []avpView) *ProtocolError {
	g := avpGrammar{
		{name: "Vendor-Id", key: keyVendorID, flags: avpFlagMandatory, typ: datatype.Unsigned32Type, min: 1, max: 1},
		{name: "Auth-Application-Id", key: keyAuthApp, flags: avpFlagMandatory, typ: datatype.Unsigned32Type, max: 1},
		{name: "Acct-Application-Id", key: keyAcctApp, flags: avpFlagMandatory, typ: datatype.Unsigned32Type, max: 1},
	}
	if perr := w.checkGrammar(g, members); perr != nil {
		return perr
	}
	var auth, acct *avpView
	for i := range members {
		switch members[i].key() {
		case keyAuthApp:
			auth = &members[i]
		case keyAcctApp:
			acct = &members[i]
		}
	}
	switch {
	case auth == nil && acct == nil:
		return protoErr(ResultMissingAVP, exampleAVP(avp.AuthApplicationID, avpFlagMandatory, 0, datatype.Unsigned32Type),
			"Vendor-Specific-Application-Id without Auth-Application-Id or Acct-Application-Id")
	case auth != nil && acct != nil:
		return protoErr(ResultContradictingAVPs, acct.copyBytes(),
			"Vendor-Specific-Application-Id with both Auth-Application-Id and Acct-Application-Id")
	}
	return nil
}

// checkGrammar checks occurrence counts (step 9 of Validate), rule by rule.
func (w *avpWalker) checkGrammar(g avpGrammar, avps []avpView) *ProtocolError {
	for _, r := range g {
		count := 0
		var excess *avpView
		for i := range avps {
			if avps[i].key() != r.key {
				continue
			}
			count++
			if r.max > 0 && count == r.max+1 {
				excess = &avps[i]
			}
		}
		if count < r.min {
			return protoErr(ResultMissingAVP, exampleAVP(r.key.code, r.flags, r.key.vendor, r.typ),
				"missing %s (%d/%d): %d of at least %d", r.name, r.key.code, r.key.vendor, count, r.min)
		}
		if excess != nil {
			return protoErr(ResultAVPOccursTooManyTimes, w.safeCopy(excess),
				"%s (%d/%d) at offset %d: occurs %d times, at most %d", r.name, r.key.code, r.key.vendor, excess.at, count, r.max)
		}
	}
	return nil
}
