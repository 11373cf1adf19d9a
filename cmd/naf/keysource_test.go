package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"

	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/internal/diameter/peer"
	"github.com/opengba/opengba/internal/gba"
	"github.com/opengba/opengba/naf/mef"
	"github.com/opengba/opengba/naf/naftest"
)

// fakeZnBSF is a Zn server (TS 29.109 §6.2) on 127.0.0.1 that answers every BIR for
// session with its Ks_NAF, records the BIRs and counts the DPRs it receives.
type fakeZnBSF struct {
	addr string
	mu   sync.Mutex
	birs []*diameter.BIR
	dprs int
}

// dprCounter counts DPR requests (command 282, R flag, RFC 6733 §5.4) in what it reads.
type dprCounter struct {
	net.Conn
	b   *fakeZnBSF
	buf []byte
}

func (c *dprCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.buf = append(c.buf, p[:n]...)
	for len(c.buf) >= 20 {
		l := int(c.buf[1])<<16 | int(c.buf[2])<<8 | int(c.buf[3])
		if l < 20 || len(c.buf) < l {
			break
		}
		if c.buf[4]&0x80 != 0 && int(c.buf[5])<<16|int(c.buf[6])<<8|int(c.buf[7]) == 282 {
			c.b.mu.Lock()
			c.b.dprs++
			c.b.mu.Unlock()
		}
		c.buf = c.buf[l:]
	}
	return n, err
}

type dprListener struct {
	net.Listener
	b *fakeZnBSF
}

func (l dprListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &dprCounter{Conn: c, b: l.b}, nil
}

func startFakeZnBSF(t *testing.T, s naftest.BSFSession) *fakeZnBSF {
	t.Helper()
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := peer.NewServer(peer.ServerConfig{
		Identity:     peer.Identity{OriginHost: "bsf.home1.net", OriginRealm: "home1.net", ProductName: "fake BSF"},
		Applications: []peer.Application{{ID: diameter.AppIDZn, VendorID: diameter.VendorID3GPP}},
		Dictionary:   d,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeZnBSF{}
	srv.Handle(diameter.AppIDZn, diameter.CmdBootstrappingInfo, func(_ context.Context, req *diam.Message) (*diam.Message, error) {
		bir, err := diameter.DecodeBIR(req)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		b.birs = append(b.birs, bir)
		b.mu.Unlock()
		nafID, err := gba.ParseNAFID(bir.NAFID)
		if err != nil {
			return nil, err
		}
		ks, _ := gba.Ks(s.CK, s.IK)
		k, err := gba.KsNAF(ks, s.RAND, s.IMPI, nafID)
		if err != nil {
			return nil, err
		}
		a := &diameter.BIA{SessionID: bir.SessionID, OriginHost: "bsf.home1.net", OriginRealm: "home1.net",
			ResultCode: diameter.ResultSuccess, IMPI: s.IMPI, MEKeyMaterial: k.Bytes(), KeyExpiryTime: s.Expires}
		return a.Message(d)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, dprListener{Listener: ln, b: b}) }()
	t.Cleanup(func() { _ = srv.Close(); cancel(); <-done })
	return b
}

func set1Session(t *testing.T) naftest.BSFSession {
	t.Helper()
	v, err := naftest.Vector("TS35208/set1/gba-me/http-digest")
	if err != nil {
		t.Fatal(err)
	}
	return naftest.BSFSession{CK: naftest.MustHex(v.CK), IK: naftest.MustHex(v.IK), RAND: naftest.MustHex(v.RAND),
		IMPI: v.IMPI, BSFDomain: "bsf.home1.net", Expires: time.Now().Add(time.Hour)}
}

func readyz(t *testing.T, ops string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + ops + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.Checks
}

// TestServeMEFWithZn runs cmd/naf with the example configuration against a fake Zn BSF:
// a Ua request makes the real Zn client send a BIR built from the configuration, the key
// it returns verifies the digest, /readyz reports Zn, and shutdown sends DPR.
func TestServeMEFWithZn(t *testing.T) {
	s := set1Session(t)
	bsf := startFakeZnBSF(t, s)
	// The fake BSF issues B-TIDs @bsf.home1.net: the example takes its realm from BSF_REALM.
	e, _, errOut := testEnv(t, map[string]string{"BSF_ZN_ADDR": bsf.addr, "BSF_REALM": "bsf.home1.net"})
	svc, stop := serveUntilReady(t, e, []string{"serve", "--config", example})

	ue, err := naftest.NewUE(s, "mef.sp.example", gba.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.Addr("mef") + mef.EnrolmentPath
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := ue.SetChallenge(resp.Header.Get("WWW-Authenticate")); err != nil {
		t.Fatal(err)
	}
	authz, _, err := ue.Authorize(http.MethodPost, mef.EnrolmentPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Header.Set("Authorization", authz)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Ua verified with the key from Zn and the BSF gave the IMPI; the MEF then refuses
	// the unregistered IMPI.
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not registered") {
		t.Fatalf("enrolment: %d %s\n%s", resp.StatusCode, body, errOut.String())
	}
	bsf.mu.Lock()
	birs := append([]*diameter.BIR(nil), bsf.birs...)
	bsf.mu.Unlock()
	if len(birs) != 1 {
		t.Fatalf("%d BIRs", len(birs))
	}
	wantNAFID := append([]byte("mef.sp.example"), 1, 0, 0, 0, 2)
	if b := birs[0]; !bytes.Equal(b.NAFID, wantNAFID) || b.OriginHost != "mef.sp.example" || b.OriginRealm != "sp.example" ||
		b.DestinationRealm != "bsf.home1.net" || b.BTID != ue.BTID || b.PrivateIdentityRequest == nil {
		t.Errorf("BIR %+v", b)
	}
	if code, checks := readyz(t, svc.Addr("ops")); code != http.StatusOK || checks["zn"] != "ok" {
		t.Errorf("readyz %d %v", code, checks)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	bsf.mu.Lock()
	dprs := bsf.dprs
	bsf.mu.Unlock()
	if dprs != 1 {
		t.Errorf("the BSF received %d DPRs on shutdown, want 1", dprs)
	}
	logs := errOut.String()
	k := ue.KsNAF
	if strings.Contains(logs, k.Base64()) || strings.Contains(strings.ToLower(logs), hex.EncodeToString(k.Bytes())) {
		t.Error("Ks_NAF in the logs")
	}
}

// TestServeMEFZnDown: with the BSF unreachable the MEF still starts (it replaces the test
// of the former "Zn client is not wired" refusal), and /readyz reports
// the Zn check failing.
func TestServeMEFZnDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e, _, errOut := testEnv(t, map[string]string{"BSF_ZN_ADDR": addr})
	svc, stop := serveUntilReady(t, e, []string{"serve", "--config", example, "--log-level", "warn"})
	if code, checks := readyz(t, svc.Addr("ops")); code != http.StatusServiceUnavailable || checks["zn"] != "failing" {
		t.Errorf("readyz %d %v", code, checks)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
