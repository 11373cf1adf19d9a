package diameter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
)

// ErrUnanswerable reports a frame that no answer can be built for: its header is not
// readable (no hop-by-hop and end-to-end ids) or it is not a request.
var ErrUnanswerable = errors.New("diameter: frame cannot be answered")

// AnswerOptions are the local parts of an error answer.
type AnswerOptions struct {
	// OriginHost and OriginRealm identify this node, RFC 6733 §6.3 and §6.4.
	OriginHost, OriginRealm string
	// ErrorMessage, when not empty, is sent as Error-Message, RFC 6733 §7.3.
	ErrorMessage string
	// Extra AVPs are appended after Failed-AVP (e.g. the capabilities a CEA must carry).
	Extra []*diam.AVP
}

var (
	keySessionID        = avpKey{avp.SessionID, 0}
	keyAuthSessionState = avpKey{avp.AuthSessionState, 0}
	keyProxyInfo        = avpKey{avp.ProxyInfo, 0}
)

// Answer builds a plain answer with resultCode to the raw request req, the same way as
// ErrorAnswer (the peer layer answers CER, DWR and DPR with it).
func (v *Validator) Answer(req []byte, resultCode uint32, opts AnswerOptions) ([]byte, error) {
	return v.ErrorAnswer(req, &ProtocolError{ResultCode: resultCode}, opts)
}

// ErrorAnswer builds, from the raw request alone, the answer that rejects it with perr.
// It works on frames go-diameter cannot decode, which is when it is needed:
//
//   - header: version 1, the request's Command Code, Application-Id, Hop-by-Hop and
//     End-to-End ids; R and T cleared, P copied (RFC 6733 §6.2), E set for 3xxx
//     (RFC 6733 §7.2);
//   - Session-Id first when the request has a well-formed one (RFC 6733 §7.2, §8.8);
//   - Result-Code, Origin-Host, Origin-Realm, Error-Message if set, Failed-AVP if perr
//     has one (RFC 6733 §7.5), opts.Extra;
//   - Proxy-Info AVPs of the request in order (RFC 6733 §6.2);
//   - for answers without the E bit, which follow the command's answer grammar, the
//     Vendor-Specific-Application-Id and Auth-Session-State the grammar requires (TS 29.109
//     §6.1.2 MAA, §6.2.2 BIA): copied from the request when well-formed, else built from
//     the application (vendor of the dictionary) and NO_STATE_MAINTAINED.
//
// It fails only with ErrUnanswerable or when an Extra AVP cannot be serialised.
func (v *Validator) ErrorAnswer(req []byte, perr *ProtocolError, opts AnswerOptions) ([]byte, error) {
	if len(req) < headerLen {
		return nil, fmt.Errorf("%w: header truncated", ErrUnanswerable)
	}
	if req[4]&flagRequest == 0 {
		return nil, fmt.Errorf("%w: not a request", ErrUnanswerable)
	}
	if perr == nil {
		return nil, errors.New("diameter: error answer: nil protocol error")
	}
	code := uint24(req[5:8])
	app := binary.BigEndian.Uint32(req[8:12])

	b := make([]byte, headerLen, 256)
	b[0] = diamVersion
	b[4] = req[4] & flagProxiable
	if perr.ErrorBit() {
		b[4] |= flagError
	}
	copy(b[5:headerLen], req[5:headerLen])

	w := avpWalker{v: v, app: app}
	top := w.scan(req)
	first := func(k avpKey) []byte {
		for i := range top {
			if top[i].key() == k {
				if c := w.wellFormed(&top[i]); c != nil {
					return c
				}
				return nil
			}
		}
		return nil
	}

	if s := first(keySessionID); s != nil {
		b = append(b, s...)
	}
	var cmd *cmdGrammar
	if !perr.ErrorBit() {
		cmd = v.commands[cmdKey{app, code}]
	}
	if cmd != nil && cmd.answer.requires(keyVSAI) {
		if c := first(keyVSAI); c != nil {
			b = append(b, c...)
		} else {
			var g []byte
			g = appendUnsigned32AVP(g, avp.VendorID, avpFlagMandatory, 0, v.appVendor[app])
			g = appendUnsigned32AVP(g, avp.AuthApplicationID, avpFlagMandatory, 0, app)
			b = AppendAVP(b, avp.VendorSpecificApplicationID, avpFlagMandatory, 0, g)
		}
	}
	b = appendUnsigned32AVP(b, avp.ResultCode, avpFlagMandatory, 0, perr.ResultCode)
	if cmd != nil && cmd.answer.requires(keyAuthSessionState) {
		if c := first(keyAuthSessionState); c != nil {
			b = append(b, c...)
		} else {
			b = appendUnsigned32AVP(b, avp.AuthSessionState, avpFlagMandatory, 0, uint32(AuthSessionStateNoStateMaintained))
		}
	}
	b = AppendAVP(b, avp.OriginHost, avpFlagMandatory, 0, []byte(opts.OriginHost))
	b = AppendAVP(b, avp.OriginRealm, avpFlagMandatory, 0, []byte(opts.OriginRealm))
	if opts.ErrorMessage != "" {
		b = AppendAVP(b, avp.ErrorMessage, 0, 0, []byte(opts.ErrorMessage))
	}
	if perr.FailedAVP != nil {
		b = AppendAVP(b, avp.FailedAVP, avpFlagMandatory, 0, perr.FailedAVP)
	}
	for _, a := range opts.Extra {
		if a == nil || a.Data == nil {
			return nil, errors.New("diameter: error answer: extra AVP without data")
		}
		ab, err := a.Serialize()
		if err != nil {
			return nil, fmt.Errorf("diameter: error answer: extra AVP %d: %w", a.Code, err)
		}
		b = append(b, ab...)
	}
	for i := range top {
		if top[i].key() == keyProxyInfo {
			if c := w.wellFormed(&top[i]); c != nil {
				b = append(b, c...)
			}
		}
	}
	putUint24(b[1:4], uint32(len(b)))
	return b, nil
}

// scan returns the top-level AVPs of frame that lie within it, stopping at the first one
// that does not; it tolerates everything else (bad version, length, flags).
func (w *avpWalker) scan(frame []byte) []avpView {
	var avps []avpView
	b := frame[headerLen:]
	for n := 0; len(b)-n >= 8; {
		rest := b[n:]
		a := avpView{code: binary.BigEndian.Uint32(rest[0:4]), flags: rest[4], hdr: 8, at: headerLen + n}
		length := int(uint24(rest[5:8]))
		if a.flags&avpFlagVendor != 0 {
			if len(rest) < 12 {
				break
			}
			a.hdr = 12
			a.vendor = binary.BigEndian.Uint32(rest[8:12])
		}
		if length < a.hdr || length > len(rest) {
			break
		}
		a.data = rest[a.hdr:length]
		a.def, a.typ, a.known = w.lookup(a.code, a.vendor)
		avps = append(avps, a)
		n += pad4(length)
	}
	return avps
}

// wellFormed returns a copy of a when it passes every AVP check on its own, else nil.
func (w *avpWalker) wellFormed(a *avpView) []byte {
	c := a.copyBytes()
	if _, perr := w.walk(c, 0, 0, false); perr != nil {
		return nil
	}
	return c
}
