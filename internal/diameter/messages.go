package diameter

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/redact"
)

// Errors returned by the typed message codec.
var (
	// ErrMalformed reports bytes or a message that do not decode to a well-formed Diameter
	// message (RFC 6733 §3, §4), including input that makes go-diameter's decoder panic.
	ErrMalformed = errors.New("diameter: malformed message")
	// ErrUnexpectedCommand reports a message that is not the command asked for, or not a
	// Zh/Zn command at all.
	ErrUnexpectedCommand = errors.New("diameter: unexpected command")
	// ErrMissingField reports a struct that lacks an AVP its command grammar requires
	// ({ } or < > in TS 29.109 §6.1, §6.2), found when building a message.
	ErrMissingField = errors.New("diameter: required field missing")
)

// Secret is key material carried in an AVP: CK, IK, XRES, Ks_NAF (ME-Key-Material),
// Ks_int_NAF (UICC-Key-Material). It prints as REDACTED under every fmt verb, in slog and in
// JSON, so a struct that holds one can be logged without leaking it. Compare with Equal.
type Secret []byte

const redacted = redact.Text

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb (%v %+v %#v %s %q %x %X %d ...).
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler (slog's JSON handler marshals structs with it).
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Equal reports in constant time whether s and b hold the same octets.
func (s Secret) Equal(b []byte) bool { return subtle.ConstantTimeCompare(s, b) == 1 }

// formatRedacted prints v (a struct or a pointer to one) as %v does, or as %+v does (field
// names) for %+v and %#v, for every verb, with each Secret as REDACTED. The typed messages
// use it as their fmt.Formatter: fmt does not call the Format method of a field reached
// through a pointer while it reports a bad verb (%s of a struct), so the fields of a nested
// SIP-Auth-Data-Item would otherwise print in full.
func formatRedacted(f fmt.State, verb rune, v any) {
	names := verb == 'v' && (f.Flag('+') || f.Flag('#'))
	var sb strings.Builder
	writeRedacted(&sb, reflect.ValueOf(v), names)
	_, _ = io.WriteString(f, sb.String())
}

func writeRedacted(sb *strings.Builder, v reflect.Value, names bool) {
	switch {
	case !v.IsValid():
		sb.WriteString("<nil>")
	case v.Type() == reflect.TypeFor[Secret]():
		sb.WriteString(redacted)
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			sb.WriteString("<nil>")
			return
		}
		if v.Elem().Kind() == reflect.Struct {
			sb.WriteByte('&')
			writeRedacted(sb, v.Elem(), names)
			return
		}
		writeRedacted(sb, v.Elem(), names)
	case v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]():
		sb.WriteByte('{')
		for i := range v.NumField() {
			if i > 0 {
				sb.WriteByte(' ')
			}
			if names {
				sb.WriteString(v.Type().Field(i).Name)
				sb.WriteByte(':')
			}
			if !v.Type().Field(i).IsExported() {
				sb.WriteString("?")
				continue
			}
			writeRedacted(sb, v.Field(i), names)
		}
		sb.WriteByte('}')
	default:
		if names {
			fmt.Fprintf(sb, "%+v", v.Interface())
		} else {
			fmt.Fprintf(sb, "%v", v.Interface())
		}
	}
}

// HeaderIDs are the Diameter header identifiers a typed message keeps, RFC 6733 §3. An answer
// carries the Hop-by-Hop and End-to-End Identifiers of its request. When building a message, a
// zero identifier is replaced by a random one (go-diameter's diam.NewMessage).
type HeaderIDs struct {
	HopByHopID uint32
	EndToEndID uint32
}

// VendorSpecificApplicationID is the grouped Vendor-Specific-Application-Id AVP (260),
// RFC 6733 §6.11, restricted to the auth form Zh and Zn use, TS 29.109 §6.1 and §6.2:
// {Vendor-Id 10415, Auth-Application-Id 16777221 (Zh) or 16777220 (Zn)}. A zero value in a
// struct being built stands for that default of the command's application.
type VendorSpecificApplicationID struct {
	VendorID          uint32 `avp:"Vendor-Id"`
	AuthApplicationID uint32 `avp:"Auth-Application-Id"`
}

// TypedMessage is one of *MAR, *MAA, *BIR, *BIA.
type TypedMessage interface {
	// Message builds the go-diameter message, with the dictionary from NewDictionary.
	Message(d *dict.Parser) (*diam.Message, error)
	typed()
}

// Encode builds t and returns its wire form, RFC 6733 §3.
func Encode(d *dict.Parser, t TypedMessage) ([]byte, error) {
	if t == nil {
		return nil, errors.New("diameter: encode: nil message")
	}
	m, err := t.Message(d)
	if err != nil {
		return nil, err
	}
	b, err := m.Serialize()
	if err != nil {
		return nil, fmt.Errorf("diameter: encode: %w", err)
	}
	return b, nil
}

// Decode decodes one Diameter message from b (ParseMessage) and then to its typed struct by
// (Application-Id, Command-Code, R bit) (DecodeMessage). It never panics.
func Decode(d *dict.Parser, b []byte) (TypedMessage, error) {
	m, err := ParseMessage(d, b)
	if err != nil {
		return nil, err
	}
	return DecodeMessage(m)
}

// DecodeMessage returns the typed struct of a Zh or Zn message: *MAR, *MAA, *BIR or *BIA.
// Other commands give an error wrapping ErrUnexpectedCommand.
func DecodeMessage(m *diam.Message) (TypedMessage, error) {
	if m == nil || m.Header == nil {
		return nil, fmt.Errorf("%w: nil message", ErrMalformed)
	}
	req := m.Header.CommandFlags&diam.RequestFlag != 0
	switch {
	case m.Header.ApplicationID == AppIDZh && m.Header.CommandCode == CmdMultimediaAuth && req:
		return typedOrNil(DecodeMAR(m))
	case m.Header.ApplicationID == AppIDZh && m.Header.CommandCode == CmdMultimediaAuth:
		return typedOrNil(DecodeMAA(m))
	case m.Header.ApplicationID == AppIDZn && m.Header.CommandCode == CmdBootstrappingInfo && req:
		return typedOrNil(DecodeBIR(m))
	case m.Header.ApplicationID == AppIDZn && m.Header.CommandCode == CmdBootstrappingInfo:
		return typedOrNil(DecodeBIA(m))
	}
	return nil, fmt.Errorf("%w: application %d command %d", ErrUnexpectedCommand, m.Header.ApplicationID, m.Header.CommandCode)
}

// typedOrNil keeps a typed nil pointer out of the TypedMessage interface.
func typedOrNil[T TypedMessage](t T, err error) (TypedMessage, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ParseMessage decodes exactly one Diameter message from b with go-diameter, RFC 6733 §3 and
// §4. It checks what go-diameter lets through: the header (version 1, Message Length equal to
// len(b) and a multiple of 4), AVP decode errors, and that every AVP Length (RFC 6733 §4.1)
// agrees with the data go-diameter decoded, so that an AVP of the wrong size cannot shift the
// parse. go-diameter's decoder panics on some malformed input; ParseMessage recovers and
// returns an error wrapping ErrMalformed instead.
func ParseMessage(d *dict.Parser, b []byte) (m *diam.Message, err error) {
	if d == nil {
		return nil, errors.New("diameter: parse: nil dictionary")
	}
	if len(b) < diam.HeaderLength {
		return nil, fmt.Errorf("%w: %d octets, shorter than the %d-octet header", ErrMalformed, len(b), diam.HeaderLength)
	}
	if b[0] != 1 {
		return nil, fmt.Errorf("%w: version %d, want 1", ErrMalformed, b[0])
	}
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if n != len(b) || n%4 != 0 {
		return nil, fmt.Errorf("%w: Message Length %d for %d octets", ErrMalformed, n, len(b))
	}
	defer recoverDecode("parse", &m, &err)
	m, err = diam.ReadMessage(bytes.NewReader(b), d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.DecodeErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, m.DecodeErr)
	}
	if got, err := checkAVPLengths(m.AVP); err != nil {
		return nil, err
	} else if got != n-diam.HeaderLength {
		return nil, fmt.Errorf("%w: AVPs span %d octets of a %d-octet body", ErrMalformed, got, n-diam.HeaderLength)
	}
	return m, nil
}

// checkAVPLengths returns the padded length of avps and checks each AVP's Length field against
// its decoded data, recursively into grouped AVPs (whose Length includes the padding of the
// AVPs inside them, RFC 6733 §4.4).
func checkAVPLengths(avps []*diam.AVP) (int, error) {
	total := 0
	for _, a := range avps {
		if a == nil || a.Data == nil {
			return 0, fmt.Errorf("%w: AVP without data", ErrMalformed)
		}
		hdr := 8
		if a.Flags&avp.Vbit != 0 {
			hdr = 12
		}
		dataLen := a.Data.Len()
		if g, ok := a.Data.(*diam.GroupedAVP); ok {
			n, err := checkAVPLengths(g.AVP)
			if err != nil {
				return 0, err
			}
			dataLen = n
		}
		if a.Length != hdr+dataLen {
			return 0, fmt.Errorf("%w: AVP %d has Length %d, its data needs %d", ErrMalformed, a.Code, a.Length, hdr+dataLen)
		}
		total += a.Len()
	}
	return total, nil
}

// recoverDecode turns a panic inside go-diameter into an error wrapping ErrMalformed and
// clears the result. Only runtime errors (fixed texts such as an index out of range) are
// quoted, never other values. Use it as: defer recoverDecode("MAR", &r, &err).
func recoverDecode[T any](what string, result *T, err *error) {
	p := recover()
	if p == nil {
		return
	}
	var zero T
	*result = zero
	if re, ok := p.(runtime.Error); ok {
		*err = fmt.Errorf("%w: %s: decoder panic: %s", ErrMalformed, what, re.Error())
		return
	}
	*err = fmt.Errorf("%w: %s: decoder panic", ErrMalformed, what)
}

// checkCommand checks that m is the command a typed decoder was asked for.
func checkCommand(m *diam.Message, name string, app, code uint32, request bool) error {
	if m == nil || m.Header == nil {
		return fmt.Errorf("%w: %s: nil message", ErrMalformed, name)
	}
	h := m.Header
	if h.ApplicationID != app || h.CommandCode != code || (h.CommandFlags&diam.RequestFlag != 0) != request {
		return fmt.Errorf("%w: want %s, have application %d command %d flags %#02x",
			ErrUnexpectedCommand, name, h.ApplicationID, h.CommandCode, h.CommandFlags)
	}
	return nil
}

// decodeAVPs is what the Decode functions share: the command check (checkCommand), the
// header ids into *ids, and the avp-tagged fields of dst (unmarshalAVPs); the caller then
// reads what Unmarshal cannot (Time, Failed-AVP).
func decodeAVPs(m *diam.Message, name string, app, code uint32, request bool, dst any, ids *HeaderIDs) error {
	if err := checkCommand(m, name, app, code, request); err != nil {
		return err
	}
	*ids = headerIDs(m)
	if err := unmarshalAVPs(m, dst); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return nil
}

// unmarshalAVPs fills the avp-tagged fields of dst with go-diameter's Message.Unmarshal. That
// indexes AVPs by code alone, so AVPs whose vendor differs from the one the code has in our
// dictionary are set aside first (RFC 6733 §4.1: code and Vendor-ID together name an AVP);
// for example OC-Validity-Duration (625, vendor 0) is not Confidentiality-Key (625, 10415).
func unmarshalAVPs(m *diam.Message, dst any) error {
	c := *m // shallow copy; only the AVP list is replaced
	c.AVP = vendorFiltered(m.AVP)
	return c.Unmarshal(dst)
}

// vendorFiltered returns avps without the AVPs whose code we read but whose Vendor-ID is not
// the one the code has in TS 29.109 / RFC 6733, recursively into grouped AVPs (copied, so m
// is left as it is). Unknown codes are kept: they are the *[ AVP ] of the grammars.
func vendorFiltered(avps []*diam.AVP) []*diam.AVP {
	out := make([]*diam.AVP, 0, len(avps))
	for _, a := range avps {
		if v, ok := avpVendor(a.Code); ok && v != a.VendorID {
			continue
		}
		if g, ok := a.Data.(*diam.GroupedAVP); ok {
			c := *a
			c.Data = &diam.GroupedAVP{AVP: vendorFiltered(g.AVP)}
			a = &c
		}
		out = append(out, a)
	}
	return out
}

// avpVendor returns the Vendor-ID of the AVP codes the typed structs read.
func avpVendor(code uint32) (uint32, bool) {
	switch code {
	case avp.UserName, avp.SessionID, avp.OriginHost, avp.OriginRealm, avp.DestinationHost,
		avp.DestinationRealm, avp.ResultCode, avp.ExperimentalResult, avp.ExperimentalResultCode,
		avp.VendorID, avp.AuthApplicationID, avp.VendorSpecificApplicationID, avp.AuthSessionState,
		avp.FailedAVP:
		return 0, true
	case AVPGBAUserSecSettings, AVPTransactionIdentifier, AVPNAFId, AVPGAAServiceIdentifier,
		AVPKeyExpiryTime, AVPMEKeyMaterial, AVPUICCKeyMaterial, AVPGBAUAwarenessIndicator,
		AVPBootstrapInfoCreationTime, AVPGUSSTimestamp, AVPGBAType, AVPRequestedKeyLifetime,
		AVPPrivateIdentityRequest, AVPSecurityFeatureRequest, AVPSecurityFeatureResponse,
		AVPPublicIdentity, AVPSIPAuthenticationScheme, AVPSIPAuthenticate, AVPSIPAuthorization,
		AVPSIPAuthenticationContext, AVPSIPAuthDataItem, AVPSIPItemNumber, AVPConfidentialityKey,
		AVPIntegrityKey:
		return VendorID3GPP, true
	}
	return 0, false
}

// firstAVP returns the first top-level AVP with this code and vendor, or nil.
func firstAVP(avps []*diam.AVP, code, vendor uint32) *diam.AVP {
	for _, a := range avps {
		if a != nil && a.Code == code && a.VendorID == vendor {
			return a
		}
	}
	return nil
}

// timeAVP decodes the Time AVP code (vendor 3GPP) of m explicitly with TimeToDiameter and
// TimeFromDiameter, RFC 6733 §4.3.1. An absent AVP gives the zero time.
func timeAVP(m *diam.Message, name string, code uint32) (time.Time, error) {
	a := firstAVP(m.AVP, code, VendorID3GPP)
	if a == nil {
		return time.Time{}, nil
	}
	dt, ok := a.Data.(datatype.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s is %T, not Time", ErrMalformed, name, a.Data)
	}
	v, err := TimeToDiameter(time.Time(dt))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	return TimeFromDiameter(v), nil
}

// failedAVPs returns the AVPs inside the first Failed-AVP of m, RFC 6733 §7.5.
func failedAVPs(m *diam.Message) ([]*diam.AVP, error) {
	a := firstAVP(m.AVP, avp.FailedAVP, 0)
	if a == nil {
		return nil, nil
	}
	g, ok := a.Data.(*diam.GroupedAVP)
	if !ok {
		return nil, fmt.Errorf("%w: Failed-AVP is %T, not Grouped", ErrMalformed, a.Data)
	}
	return g.AVP, nil
}

func headerIDs(m *diam.Message) HeaderIDs {
	return HeaderIDs{HopByHopID: m.Header.HopByHopID, EndToEndID: m.Header.EndToEndID}
}

// encoder builds the AVPs of one message, taking code, vendor and flags from the dictionary:
// V when the AVP has a Vendor-ID, M when the dictionary says must="M" (so GUSS-Timestamp, whose
// M bit must not be set, TS 29.109 §6.3 Table 6.3.1, gets V alone). The first error sticks.
type encoder struct {
	d    *dict.Parser
	app  uint32
	cmd  string
	avps []*diam.AVP
	err  error
}

func newEncoder(d *dict.Parser, app uint32, cmd string) *encoder {
	e := &encoder{d: d, app: app, cmd: cmd}
	if d == nil {
		e.err = fmt.Errorf("diameter: %s: nil dictionary", cmd)
	}
	return e
}

// newAVP makes one AVP named name holding data.
func (e *encoder) newAVP(name string, data datatype.Type) *diam.AVP {
	if e.err != nil {
		return nil
	}
	da, err := e.d.FindAVP(e.app, name)
	if err != nil {
		e.err = fmt.Errorf("diameter: %s: dictionary has no AVP %s: %w", e.cmd, name, err)
		return nil
	}
	want := da.Data.Type
	if want == datatype.GroupedType {
		want = diam.GroupedAVPType
	}
	if data.Type() != want {
		e.err = fmt.Errorf("diameter: %s: AVP %s is %s in the dictionary", e.cmd, name, da.Data.TypeName)
		return nil
	}
	var flags uint8
	if strings.Contains(da.Must, "M") {
		flags |= avp.Mbit
	}
	if da.VendorID != 0 {
		flags |= avp.Vbit
	}
	return diam.NewAVP(da.Code, flags, da.VendorID, data)
}

func (e *encoder) add(name string, data datatype.Type) {
	if a := e.newAVP(name, data); a != nil {
		e.avps = append(e.avps, a)
	}
}

// require records ErrMissingField when v is empty.
func (e *encoder) require(name string, empty bool) {
	if e.err == nil && empty {
		e.err = fmt.Errorf("%w: %s: %s", ErrMissingField, e.cmd, name)
	}
}

func (e *encoder) utf8(name, v string) {
	if v != "" {
		e.add(name, datatype.UTF8String(v))
	}
}

func (e *encoder) identity(name, v string) {
	if v != "" {
		e.add(name, datatype.DiameterIdentity(v))
	}
}

func (e *encoder) octets(name string, v []byte) {
	if v != nil {
		e.add(name, datatype.OctetString(bytes.Clone(v)))
	}
}

func (e *encoder) unsigned32(name string, v uint32) { e.add(name, datatype.Unsigned32(v)) }

func (e *encoder) enumerated(name string, v *int32) {
	if v != nil {
		e.add(name, datatype.Enumerated(*v))
	}
}

// time adds a Time AVP unless t is zero; times outside the Diameter window are an error.
func (e *encoder) time(name string, t time.Time) {
	if e.err != nil || t.IsZero() {
		return
	}
	v, err := TimeToDiameter(t)
	if err != nil {
		e.err = fmt.Errorf("diameter: %s: %s: %w", e.cmd, name, err)
		return
	}
	e.add(name, datatype.Time(TimeFromDiameter(v)))
}

// group adds a grouped AVP whose members are built by fill on a child encoder.
func (e *encoder) group(name string, fill func(*encoder)) {
	if e.err != nil {
		return
	}
	c := &encoder{d: e.d, app: e.app, cmd: e.cmd + " " + name}
	fill(c)
	if c.err != nil {
		e.err = c.err
		return
	}
	e.add(name, &diam.GroupedAVP{AVP: c.avps})
}

// vsai adds Vendor-Specific-Application-Id, defaulting to {10415, app}.
func (e *encoder) vsai(v VendorSpecificApplicationID) {
	if v == (VendorSpecificApplicationID{}) {
		v = VendorSpecificApplicationID{VendorID: VendorID3GPP, AuthApplicationID: e.app}
	}
	e.group("Vendor-Specific-Application-Id", func(g *encoder) {
		g.unsigned32("Vendor-Id", v.VendorID)
		g.unsigned32("Auth-Application-Id", v.AuthApplicationID)
	})
}

// result adds Result-Code or Experimental-Result (exactly one, RFC 6733 §7.6).
func (e *encoder) result(resultCode uint32, er *ExperimentalResult) {
	if _, err := answerResult(e.cmd, resultCode, er); err != nil && e.err == nil {
		e.err = fmt.Errorf("%w: %s: Result-Code or Experimental-Result", ErrMissingField, e.cmd)
		if resultCode != 0 && er != nil {
			e.err = fmt.Errorf("diameter: %s: both Result-Code and Experimental-Result set", e.cmd)
		}
		return
	}
	if er != nil {
		e.group("Experimental-Result", func(g *encoder) {
			g.unsigned32("Vendor-Id", er.VendorID)
			g.unsigned32("Experimental-Result-Code", er.ExperimentalResultCode)
		})
		return
	}
	e.unsigned32("Result-Code", resultCode)
}

// failed adds Failed-AVP holding avps, RFC 6733 §7.5.
func (e *encoder) failed(avps []*diam.AVP) {
	if len(avps) == 0 || e.err != nil {
		return
	}
	for _, a := range avps {
		if a == nil || a.Data == nil {
			e.err = fmt.Errorf("diameter: %s: Failed-AVP holds an AVP without data", e.cmd)
			return
		}
	}
	e.add("Failed-AVP", &diam.GroupedAVP{AVP: avps})
}

// message assembles the AVPs under a header. Every Zh/Zn command is proxiable (PXY in
// TS 29.109 §6.1, §6.2), so P is set on requests and answers alike; go-diameter's NewRequest
// would set only R. An answer with a protocol error (3xxx) gets the E bit, RFC 6733 §7.1.3.
func (e *encoder) message(code uint32, request bool, resultCode uint32, ids HeaderIDs) (*diam.Message, error) {
	if e.err != nil {
		return nil, e.err
	}
	flags := uint8(diam.ProxiableFlag)
	if request {
		flags |= diam.RequestFlag
	}
	if !request && resultCode >= 3000 && resultCode < 4000 {
		flags |= diam.ErrorFlag
	}
	m := diam.NewMessage(code, flags, e.app, ids.HopByHopID, ids.EndToEndID, e.d)
	for _, a := range e.avps {
		m.AddAVP(a)
	}
	return m, nil
}
