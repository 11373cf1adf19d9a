package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/opengba/opengba/internal/diameter"
)

// frameEcho is echo as a FrameHandler: it decodes the validated request with go-diameter
// (the test's own reading, independent of the peer layer), builds the answer with a
// scrambled header (the peer layer must fix it, RFC 6733 §6.2) and appends it to buf.
func frameEcho(d *dict.Parser) FrameHandler {
	return func(ctx context.Context, req, buf []byte) ([]byte, error) {
		m, err := diam.ReadMessage(bytes.NewReader(req), d)
		if err != nil {
			return nil, err
		}
		if userOf(m) == "short" {
			return []byte{1, 2, 3}, nil
		}
		if failed, err := handlerFailure(userOf(m)); failed {
			return nil, err
		}
		a, _ := echo(ctx, m)
		sid, _ := m.FindAVP(avp.SessionID, 0)
		a.InsertAVP(sid)
		a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(hssHost))
		a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
		a.Header.HopByHopID, a.Header.EndToEndID = 0xdeadbeef, 0xfeedface
		a.Header.CommandFlags = diam.RequestFlag | diam.RetransmittedFlag
		a.Header.CommandCode, a.Header.ApplicationID = 1, 2
		a.Header.MessageLength = 7
		b, err := a.Serialize()
		if err != nil {
			return nil, err
		}
		return append(buf, b...), nil
	}
}

// A FrameHandler's answer leaves with the request's ids, command, application and P flag,
// R and T cleared and the right Message Length (RFC 6733 §3, §6.2); DoFrame returns it
// validated. Handler failures get the same answers as on the message path, and the
// connection stays up.
func TestFrameHandlerAndDoFrame(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	s.HandleFrame(diameter.AppIDZh, diameter.CmdMultimediaAuth, frameEcho(d))
	c := connect(t, clientConfig(t, d, startServer(t, s)))
	for _, tc := range []struct {
		user string
		code uint32
	}{{"ok1", diameter.ResultSuccess}, {"panic", diameter.ResultUnableToComply}, {"error", diameter.ResultUnableToComply},
		{"nil", diameter.ResultUnableToComply}, {"short", diameter.ResultUnableToComply},
		{"value", diameter.ResultInvalidAVPValue}, {"ok2", diameter.ResultSuccess}} {
		f := marBytes(t, d, tc.user)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a, err := c.DoFrame(ctx, f)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if rc, _ := answerResult(t, a); rc != tc.code {
			t.Errorf("%s: Result-Code %d, want %d", tc.user, rc, tc.code)
		}
		if tc.code != diameter.ResultSuccess {
			continue
		}
		if int(binary.BigEndian.Uint32(a[0:4])&0xffffff) != len(a) || a[0] != 1 {
			t.Errorf("%s: version/length %x for %d octets", tc.user, a[0:4], len(a))
		}
		if a[4] != diam.ProxiableFlag {
			t.Errorf("%s: flags %#x, want P only", tc.user, a[4])
		}
		if !bytes.Equal(a[5:20], f[5:20]) {
			t.Errorf("%s: command/application/ids %x, request's %x", tc.user, a[5:20], f[5:20])
		}
		if m, err := diam.ReadMessage(bytes.NewReader(a), d); err != nil || userOf(m) != tc.user {
			t.Errorf("%s: answer does not decode to the user: %v", tc.user, err)
		}
	}
}

// A request that fails validation never reaches the FrameHandler: it is answered as on the
// message path (here 5005 DIAMETER_MISSING_AVP, RFC 6733 §7.1.5).
func TestFrameHandlerSeesOnlyValidRequests(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	called := make(chan struct{}, 1)
	s.HandleFrame(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req, buf []byte) ([]byte, error) {
		called <- struct{}{}
		return nil, errors.New("must not be called")
	})
	r := dialRaw(t, startServer(t, s), d)
	r.handshake()
	m := testMAR(d, "x")
	var kept []*diam.AVP
	for _, a := range m.AVP {
		if a.Code != avp.DestinationRealm {
			kept = append(kept, a)
		}
	}
	m.AVP = kept
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	r.send(setMsgLen(b))
	if rc, e := answerResult(t, r.recv()); rc != diameter.ResultMissingAVP || e {
		t.Errorf("Result-Code %d (E %v), want 5005 without E (a permanent failure, RFC 6733 §7.1.5)", rc, e)
	}
	select {
	case <-called:
		t.Error("the FrameHandler saw an invalid request")
	default:
	}
}

// DoFrame validates what it sends and what it gets back.
func TestDoFrameErrors(t *testing.T) {
	d := testDict(t)
	s := newTestServer(t, d, nil)
	s.HandleFrame(diameter.AppIDZh, diameter.CmdMultimediaAuth, func(ctx context.Context, req, buf []byte) ([]byte, error) {
		// An MAA without Vendor-Specific-Application-Id and Auth-Session-State (TS 29.109
		// §6.1.2 requires both): the client must refuse it.
		m := diam.NewMessage(diameter.CmdMultimediaAuth, 0, diameter.AppIDZh, 0, 0, d)
		m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String("s"))
		m.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(diameter.ResultSuccess))
		m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(hssHost))
		m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity(realm))
		b, err := m.Serialize()
		return append(buf, b...), err
	})
	c := connect(t, clientConfig(t, d, startServer(t, s)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var perr *diameter.ProtocolError
	if _, err := c.DoFrame(ctx, marBytes(t, d, "x")); !errors.Is(err, ErrInvalidAnswer) || !errors.As(err, &perr) ||
		perr.ResultCode != diameter.ResultMissingAVP {
		t.Errorf("DoFrame(answer missing AVPs) = %v, want ErrInvalidAnswer with 5005", err)
	}
	noP := marBytes(t, d, "x")
	noP[4] &^= diam.ProxiableFlag
	if _, err := c.DoFrame(ctx, noP); !errors.Is(err, ErrInvalidRequest) || !errors.As(err, &perr) ||
		perr.ResultCode != diameter.ResultInvalidHdrBits {
		t.Errorf("DoFrame(MAR without P) = %v", err)
	}
	if _, err := c.DoFrame(ctx, []byte{1, 0, 0}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("DoFrame(3 octets) = %v", err)
	}
}
