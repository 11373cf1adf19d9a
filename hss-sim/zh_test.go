package hsssim

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/wmnsk/milenage"

	"github.com/opengba/opengba/internal/aka"
	"github.com/opengba/opengba/internal/diameter"
	"github.com/opengba/opengba/specs"
)

const (
	zhHost  = "hss.home1.net"
	zhRealm = "home1.net"
	zhIMPI  = "user1_private@home1.net"
	zhIMPU  = "sip:user1@home1.net"
)

// zhSet is one Milenage test set of specs/vectors/ts35208.json with every field the Zh
// tests compare (TS 35.208 §4.3, TS 33.102 §6.3.2, §6.3.3).
type zhSet struct {
	Name                           string
	K, RAND, SQN, AMF, OPc         string
	F2, F3, F4, F5, AUTN, AUTS     string
	k, opc                         Key
	rand, autn, auts, xres, ck, ik []byte
	sqn                            uint64
	amf                            [2]byte
}

func zhVectors(t testing.TB) []*zhSet {
	t.Helper()
	var v struct {
		Sets []struct {
			Name string `json:"name"`
			K    string `json:"K"`
			RAND string `json:"RAND"`
			SQN  string `json:"SQN"`
			AMF  string `json:"AMF"`
			OPc  string `json:"OPc"`
			F2   string `json:"f2"`
			F3   string `json:"f3"`
			F4   string `json:"f4"`
			F5   string `json:"f5"`
			AUTN string `json:"AUTN"`
			AUTS string `json:"AUTS"`
		} `json:"sets"`
	}
	if err := specs.Vectors("ts35208", &v); err != nil {
		t.Fatal(err)
	}
	var out []*zhSet
	for _, s := range v.Sets {
		z := &zhSet{Name: s.Name, K: s.K, RAND: s.RAND, SQN: s.SQN, AMF: s.AMF, OPc: s.OPc,
			F2: s.F2, F3: s.F3, F4: s.F4, F5: s.F5, AUTN: s.AUTN, AUTS: s.AUTS}
		var err error
		must := func(b []byte, e error) []byte {
			if e != nil {
				err = e
			}
			return b
		}
		if z.k, err = ParseKey("k", s.K); err != nil {
			t.Fatal(err)
		}
		if z.opc, err = ParseKey("opc", s.OPc); err != nil {
			t.Fatal(err)
		}
		if z.sqn, err = ParseSQN(s.SQN); err != nil {
			t.Fatal(err)
		}
		if z.amf, err = ParseAMF(s.AMF); err != nil {
			t.Fatal(err)
		}
		z.rand = must(hex.DecodeString(s.RAND))
		z.autn = must(hex.DecodeString(s.AUTN))
		z.auts = must(hex.DecodeString(s.AUTS))
		z.xres = must(hex.DecodeString(s.F2))
		z.ck = must(hex.DecodeString(s.F3))
		z.ik = must(hex.DecodeString(s.F4))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, z)
	}
	if len(out) == 0 {
		t.Fatal("no vector sets")
	}
	return out
}

// set1 returns TS 35.208 set 1.
func set1(t testing.TB) *zhSet {
	t.Helper()
	for _, s := range zhVectors(t) {
		if s.Name == "TS35208/set1" {
			return s
		}
	}
	t.Fatal("TS35208/set1 missing")
	return nil
}

// prevSQN is the SQN_HE after which NextSQN issues sqn: SEQ−1 and IND−1 (TS 33.102 §C.1.1,
// §C.1.2, default IND length).
func prevSQN(sqn uint64) uint64 {
	c := DefaultSQNConfig()
	return c.Join(c.SEQ(sqn)-1, c.IND(sqn)-1)
}

// repeatReader yields b over and over (a deterministic RAND source).
type repeatReader struct{ b []byte }

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b[i%len(r.b)]
	}
	return len(p), nil
}

// provision creates the subscriber of set s under impi with SQN_HE = sqnHE.
func provision(t testing.TB, st Store, s *zhSet, impi string, impus []string, sqnHE uint64) {
	t.Helper()
	sub := &Subscriber{IMPI: impi, IMPUs: impus, K: s.k, OPc: s.opc, AMF: s.amf, SQN: sqnHE}
	if err := st.Create(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
}

func newTestHSS(t testing.TB, st Store, rnd io.Reader) *HSS {
	t.Helper()
	h, err := NewHSS(HSSOptions{Store: st, OriginHost: zhHost, OriginRealm: zhRealm, Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newMemStore(t testing.TB) *MemoryStore {
	t.Helper()
	st, err := NewMemoryStore(DefaultSQNConfig(), newClock().Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func testMARFor(impi, impu string) *diameter.MAR {
	return &diameter.MAR{
		SessionID:        "bsf.home1.net;1;" + impi + impu,
		OriginHost:       "bsf.home1.net",
		OriginRealm:      zhRealm,
		DestinationRealm: zhRealm,
		IMPI:             impi,
		IMPU:             impu,
	}
}

func answer(t testing.TB, h *HSS, mar *diameter.MAR) *diameter.MAA {
	t.Helper()
	maa, err := h.AnswerMAR(context.Background(), mar)
	if err != nil {
		t.Fatalf("AnswerMAR: %v", err)
	}
	// Every answer must encode and pass the MAA grammar (TS 29.109 §6.1.2).
	d, err := diameter.NewDictionary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := diameter.Encode(d, maa); err != nil {
		t.Fatalf("encode MAA: %v", err)
	}
	return maa
}

func resultOfMAA(t testing.TB, maa *diameter.MAA) diameter.Result {
	t.Helper()
	r, err := maa.Result()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recoverSQN returns SQN = (SQN ⊕ AK) ⊕ AK from AUTN with AK = f5(K, RAND) (TS 33.102
// §6.3.3), computed with wmnsk/milenage rather than internal/aka.
func recoverSQN(t testing.TB, k, opc Key, rand, autn []byte) uint64 {
	t.Helper()
	_, _, _, ak, err := milenage.NewWithOPc(k[:], opc[:], rand, 0, 0).F2345()
	if err != nil {
		t.Fatal(err)
	}
	var sqn uint64
	for i := range 6 {
		sqn = sqn<<8 | uint64(autn[i]^ak[i])
	}
	return sqn
}

// avOf returns the vector of a successful MAA.
func avOf(t testing.TB, maa *diameter.MAA) diameter.AKAVector {
	t.Helper()
	if r := resultOfMAA(t, maa); r.Code != diameter.ResultSuccess || r.Experimental {
		t.Fatalf("result %s, want 2001", r)
	}
	av, err := maa.SIPAuthDataItem.AKAVector()
	if err != nil {
		t.Fatal(err)
	}
	return av
}

// TestAnswerMARVectors: with SQN_HE one step before the set's SQN and the set's RAND
// injected, the MAA carries exactly the set's AUTN, XRES = f2, CK = f3, IK = f4
// (TS 35.208 §4.3, TS 33.102 §6.3.2, TS 29.109 §6.1.2), and a USIM accepts it.
func TestAnswerMARVectors(t *testing.T) {
	for _, f := range storeFactories() {
		for _, s := range zhVectors(t) {
			t.Run(f.name+"/"+s.Name, func(t *testing.T) {
				st, _ := f.open(t, DefaultSQNConfig())
				provision(t, st, s, zhIMPI, []string{zhIMPU}, prevSQN(s.sqn))
				h := newTestHSS(t, st, repeatReader{s.rand})
				maa := answer(t, h, testMARFor(zhIMPI, ""))
				it := maa.SIPAuthDataItem
				if it.AuthenticationScheme != diameter.SchemeAKAv1MD5 {
					t.Fatalf("scheme %q", it.AuthenticationScheme)
				}
				if want := s.RAND + s.AUTN; hex.EncodeToString(it.Authenticate) != want {
					t.Fatalf("SIP-Authenticate = %x, want RAND||AUTN %s", it.Authenticate, want)
				}
				for name, c := range map[string]struct {
					got  diameter.Secret
					want []byte
				}{"XRES": {it.Authorization, s.xres}, "CK": {it.CK, s.ck}, "IK": {it.IK, s.ik}} {
					if !c.got.Equal(c.want) {
						t.Errorf("%s differs from the vector", name)
					}
				}
				if maa.IMPI != "" || maa.GUSS != nil || maa.SessionID != "bsf.home1.net;1;"+zhIMPI {
					t.Errorf("MAA fields: User-Name %q, GUSS %d octets, Session-Id %q", maa.IMPI, len(maa.GUSS), maa.SessionID)
				}
				if maa.OriginHost != zhHost || maa.OriginRealm != zhRealm {
					t.Errorf("origin %s/%s", maa.OriginHost, maa.OriginRealm)
				}
				// An independent check: the USIM emulator verifies MAC-A and the SQN and
				// derives the same RES, CK and IK. Its Δ spans the whole SEQ range, since
				// a fresh USIM (SEQ_MS = 0) would otherwise refuse the vectors' SQNs
				// (TS 33.102 §C.2.1).
				arr, err := aka.NewSQNArray(aka.SQNScheme{INDBits: DefaultINDBits, Delta: uint64(aka.MaxSQN) >> DefaultINDBits})
				if err != nil {
					t.Fatal(err)
				}
				usim, err := aka.NewUSIM(aka.Key(s.k), aka.Key(s.opc), arr, aka.AMFSeparationIgnored)
				if err != nil {
					t.Fatal(err)
				}
				res, err := usim.Authenticate(it.Authenticate[:16], it.Authenticate[16:])
				if err != nil {
					t.Fatalf("USIM: %v", err)
				}
				if !it.Authorization.Equal(res.RES[:]) || !it.CK.Equal(res.CK[:]) || !it.IK.Equal(res.IK[:]) {
					t.Fatal("USIM derives other RES/CK/IK")
				}
			})
		}
	}
}

// TestAnswerMARFreshVectorsVerify: consecutive MAAs for one IMPI carry increasing SQNs
// that a USIM with the provisioned K/OPc accepts (TS 33.102 §6.3.3, §C.2).
func TestAnswerMARFreshVectorsVerify(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, 0)
	h := newTestHSS(t, st, nil) // crypto/rand
	arr, _ := aka.NewSQNArray(aka.DefaultSQNScheme())
	usim, err := aka.NewUSIM(aka.Key(s.k), aka.Key(s.opc), arr, aka.AMFSeparationIgnored)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	seen := map[string]bool{}
	for i := range 40 {
		av := avOf(t, answer(t, h, testMARFor(zhIMPI, "")))
		if seen[string(av.RAND)] {
			t.Fatal("RAND repeated")
		}
		seen[string(av.RAND)] = true
		sqn := recoverSQN(t, s.k, s.opc, av.RAND, av.AUTN)
		if sqn <= last {
			t.Fatalf("vector %d: SQN %x not above %x", i, sqn, last)
		}
		last = sqn
		res, err := usim.Authenticate(av.RAND, av.AUTN)
		if err != nil {
			t.Fatalf("vector %d: USIM: %v", i, err)
		}
		if !av.XRES.Equal(res.RES[:]) || !av.CK.Equal(res.CK[:]) || !av.IK.Equal(res.IK[:]) {
			t.Fatalf("vector %d: keys differ", i)
		}
	}
}

func TestAnswerMARUnknownIMPI(t *testing.T) {
	h := newTestHSS(t, newMemStore(t), nil)
	maa := answer(t, h, testMARFor("nobody@home1.net", ""))
	r := resultOfMAA(t, maa)
	if !r.Experimental || r.Code != diameter.ExpIMPIUnknown || r.VendorID != diameter.VendorID3GPP {
		t.Fatalf("result %s, want experimental 5401 vendor 10415", r)
	}
	if maa.ResultCode != 0 || maa.SIPAuthDataItem != nil || maa.GUSS != nil {
		t.Fatalf("error MAA carries more: %+v", maa)
	}
}

// TestAnswerMARUnsupportedScheme: a scheme other than Digest-AKAv1-MD5 gets
// DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED (TS 29.229 §6.2.2.6) and consumes no SQN.
func TestAnswerMARUnsupportedScheme(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, 100)
	h := newTestHSS(t, st, nil)
	for _, scheme := range []string{"Digest-MD5", "Digest-AKAv2-MD5", "SIP Digest", "digest-akav1-md5"} {
		mar := testMARFor(zhIMPI, "")
		mar.SIPAuthDataItem = &diameter.SIPAuthDataItem{AuthenticationScheme: scheme}
		r := resultOfMAA(t, answer(t, h, mar))
		if !r.Experimental || r.Code != diameter.ExpAuthSchemeNotSupported || r.VendorID != diameter.VendorID3GPP {
			t.Errorf("%q: result %s, want experimental 5006", scheme, r)
		}
	}
	if sub, _ := st.Get(context.Background(), zhIMPI); sub.SQN != 100 {
		t.Fatalf("SQN_HE moved to %d", sub.SQN)
	}
	// The right scheme without resynchronisation data is a plain request.
	mar := testMARFor(zhIMPI, "")
	mar.SIPAuthDataItem = &diameter.SIPAuthDataItem{AuthenticationScheme: diameter.SchemeAKAv1MD5}
	avOf(t, answer(t, h, mar))
}

// TestAnswerMARPublicIdentity: a MAR naming the user by Public-Identity only is answered
// for the subscriber that has that IMPU, with the IMPI in User-Name (TS 29.109 §4.2).
func TestAnswerMARPublicIdentity(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			s := set1(t)
			st, _ := f.open(t, DefaultSQNConfig())
			provision(t, st, s, zhIMPI, []string{"tel:+15550001", zhIMPU}, 0)
			provision(t, st, s, "user2_private@home1.net", []string{"sip:shared@home1.net"}, 0)
			provision(t, st, s, "user3_private@home1.net", []string{"sip:shared@home1.net"}, 0)
			h := newTestHSS(t, st, nil)

			maa := answer(t, h, testMARFor("", zhIMPU))
			av := avOf(t, maa)
			if maa.IMPI != zhIMPI {
				t.Fatalf("User-Name %q, want %q", maa.IMPI, zhIMPI)
			}
			if sqn := recoverSQN(t, s.k, s.opc, av.RAND, av.AUTN); sqn != DefaultSQNConfig().Join(1, 1) {
				t.Fatalf("SQN %x, want the subscriber's first", sqn)
			}
			// With both identities the IMPI is used and not echoed.
			maa = answer(t, h, testMARFor("user2_private@home1.net", zhIMPU))
			avOf(t, maa)
			if maa.IMPI != "" {
				t.Fatalf("User-Name echoed: %q", maa.IMPI)
			}
			if sub, _ := st.Get(context.Background(), "user2_private@home1.net"); sub.SQN == 0 {
				t.Fatal("the IMPI's SQN did not move")
			}
			r := resultOfMAA(t, answer(t, h, testMARFor("", "sip:nobody@home1.net")))
			if !r.Experimental || r.Code != diameter.ExpIMPIUnknown {
				t.Fatalf("unknown IMPU: %s", r)
			}
			r = resultOfMAA(t, answer(t, h, testMARFor("", "sip:shared@home1.net")))
			if r.Experimental || r.Code != diameter.ResultUnableToComply {
				t.Fatalf("shared IMPU: %s, want 5012", r)
			}
		})
	}
}

// TestAnswerMARMissingIdentity: neither User-Name nor Public-Identity gets
// DIAMETER_MISSING_AVP with a Failed-AVP naming User-Name (RFC 6733 §7.1.5, §7.5).
func TestAnswerMARMissingIdentity(t *testing.T) {
	h := newTestHSS(t, newMemStore(t), nil)
	maa := answer(t, h, testMARFor("", ""))
	if r := resultOfMAA(t, maa); r.Experimental || r.Code != diameter.ResultMissingAVP {
		t.Fatalf("result %s, want 5005", r)
	}
	if len(maa.FailedAVP) != 1 || maa.FailedAVP[0].Code != avp.UserName || maa.FailedAVP[0].VendorID != 0 {
		t.Fatalf("Failed-AVP %v", maa.FailedAVP)
	}
}

// TestAnswerMARResync: RAND ‖ AUTS from TS 35.208 (SQN_MS = the set's SQN) is verified
// (MAC-S, TS 33.102 §6.3.5), SQN_HE is reset, and the new AV's SQN is above SQN_MS.
func TestAnswerMARResync(t *testing.T) {
	for _, f := range storeFactories() {
		for _, s := range zhVectors(t) {
			t.Run(f.name+"/"+s.Name, func(t *testing.T) {
				st, reopen := f.open(t, DefaultSQNConfig())
				provision(t, st, s, zhIMPI, nil, 0x40)
				h := newTestHSS(t, st, nil)
				item, err := diameter.NewResyncAuthDataItem(s.rand, s.auts)
				if err != nil {
					t.Fatal(err)
				}
				mar := testMARFor(zhIMPI, "")
				mar.SIPAuthDataItem = item
				av := avOf(t, answer(t, h, mar))
				sqn := recoverSQN(t, s.k, s.opc, av.RAND, av.AUTN)
				c := DefaultSQNConfig()
				if c.SEQ(sqn) <= c.SEQ(s.sqn) {
					t.Fatalf("SEQ after resync %x, SEQ_MS %x: not above", c.SEQ(sqn), c.SEQ(s.sqn))
				}
				if c.SEQ(sqn)-c.SEQ(s.sqn) > c.Delta {
					t.Fatalf("SEQ %x beyond Δ of SEQ_MS", c.SEQ(sqn))
				}
				if reopen != nil { // the reset is durable
					_ = st.Close()
					sub, err := reopen().Get(context.Background(), zhIMPI)
					if err != nil || c.SEQ(sub.SQN) < c.SEQ(sqn) {
						t.Fatalf("after reopen SQN_HE %x, want ≥ %x (%v)", sub.SQN, sqn, err)
					}
				}
			})
		}
	}
}

// TestAnswerMARResyncWithUSIM: the whole loop of TS 33.102 §6.3.5 with the USIM emulator:
// an HSS too far ahead (more than Δ) gets a synchronisation failure, the AUTS the USIM
// returns resets SQN_HE, and the next vector is accepted.
func TestAnswerMARResyncWithUSIM(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	c := DefaultSQNConfig()
	provision(t, st, s, zhIMPI, nil, c.Join(1<<29, 0))
	h := newTestHSS(t, st, nil)
	arr, _ := aka.NewSQNArray(aka.DefaultSQNScheme())
	usim, err := aka.NewUSIM(aka.Key(s.k), aka.Key(s.opc), arr, aka.AMFSeparationIgnored)
	if err != nil {
		t.Fatal(err)
	}
	av := avOf(t, answer(t, h, testMARFor(zhIMPI, "")))
	_, err = usim.Authenticate(av.RAND, av.AUTN)
	var sf *aka.SyncFailure
	if !errors.As(err, &sf) {
		t.Fatalf("USIM accepted a SEQ beyond Δ: %v", err)
	}
	item, err := diameter.NewResyncAuthDataItem(av.RAND, sf.AUTS[:])
	if err != nil {
		t.Fatal(err)
	}
	mar := testMARFor(zhIMPI, "")
	mar.SIPAuthDataItem = item
	av2 := avOf(t, answer(t, h, mar))
	res, err := usim.Authenticate(av2.RAND, av2.AUTN)
	if err != nil {
		t.Fatalf("vector after resync rejected: %v", err)
	}
	if !av2.XRES.Equal(res.RES[:]) {
		t.Fatal("XRES differs from RES")
	}
}

// TestAnswerMARBadMACS: an AUTS whose MAC-S does not verify is refused with
// DIAMETER_AUTHENTICATION_REJECTED (RFC 6733 §7.1.4) and SQN_HE does not change
// (TS 33.102 §6.3.5). A SIP-Authorization that is not RAND ‖ AUTS gets
// DIAMETER_INVALID_AVP_VALUE with the offending AVP (RFC 6733 §7.5).
func TestAnswerMARBadMACS(t *testing.T) {
	for _, f := range storeFactories() {
		t.Run(f.name, func(t *testing.T) {
			s := set1(t)
			st, _ := f.open(t, DefaultSQNConfig())
			const sqnHE = 0x40
			provision(t, st, s, zhIMPI, nil, sqnHE)
			h := newTestHSS(t, st, nil)
			for _, pos := range []int{6, 13} { // the first and the last octet of MAC-S
				auts := bytes.Clone(s.auts)
				auts[pos] ^= 0x01
				item, _ := diameter.NewResyncAuthDataItem(s.rand, auts)
				mar := testMARFor(zhIMPI, "")
				mar.SIPAuthDataItem = item
				maa := answer(t, h, mar)
				if r := resultOfMAA(t, maa); r.Experimental || r.Code != diameter.ResultAuthenticationRejected {
					t.Fatalf("result %s, want 4001", r)
				}
				if maa.SIPAuthDataItem != nil {
					t.Fatal("vector sent after a MAC-S failure")
				}
			}
			// A wrong RAND makes AK* and MAC-S wrong as well.
			item, _ := diameter.NewResyncAuthDataItem(make([]byte, 16), s.auts)
			mar := testMARFor(zhIMPI, "")
			mar.SIPAuthDataItem = item
			if r := resultOfMAA(t, answer(t, h, mar)); r.Code != diameter.ResultAuthenticationRejected {
				t.Fatalf("wrong RAND: %s", r)
			}
			mar.SIPAuthDataItem = &diameter.SIPAuthDataItem{AuthenticationScheme: diameter.SchemeAKAv1MD5, Authorization: s.auts}
			maa := answer(t, h, mar)
			if r := resultOfMAA(t, maa); r.Code != diameter.ResultInvalidAVPValue {
				t.Fatalf("14-octet SIP-Authorization: %s, want 5004", r)
			}
			if len(maa.FailedAVP) != 1 || maa.FailedAVP[0].Code != diameter.AVPSIPAuthDataItem {
				t.Fatalf("Failed-AVP %v", maa.FailedAVP)
			}
			sub, err := st.Get(context.Background(), zhIMPI)
			if err != nil || sub.SQN != sqnHE {
				t.Fatalf("SQN_HE %x, want %x unchanged (%v)", sub.SQN, sqnHE, err)
			}
			// The next good request still gets the next SQN.
			av := avOf(t, answer(t, h, testMARFor(zhIMPI, "")))
			c := DefaultSQNConfig()
			if got := recoverSQN(t, s.k, s.opc, av.RAND, av.AUTN); c.SEQ(got) != c.SEQ(sqnHE)+1 {
				t.Fatalf("next SQN %x", got)
			}
		})
	}
}

// TestAnswerMARGUSS: GBA-UserSecSettings is sent unless the BSF's GUSS-Timestamp is not
// older than the stored one (TS 29.109 §4.2 Table 4.1/4.2, compared in whole seconds).
func TestAnswerMARGUSS(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, 0)
	provision(t, st, s, "noguss@home1.net", nil, 0)
	const doc = `<guss id="user1_private@home1.net"><bsfInfo><uiccType>GBA</uiccType><lifeTime>3600</lifeTime></bsfInfo></guss>`
	ts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	if _, err := st.Update(context.Background(), zhIMPI, func(sub *Subscriber) error {
		sub.GUSS, sub.GUSSTimestamp = doc, ts
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := newTestHSS(t, st, nil)
	for _, tc := range []struct {
		name string
		impi string
		bsf  time.Time
		want bool
	}{
		{"no-timestamp", zhIMPI, time.Time{}, true},
		{"older", zhIMPI, ts.Add(-time.Second), true},
		{"equal", zhIMPI, ts, false},
		{"equal-within-second", zhIMPI, ts.Add(900 * time.Millisecond), false},
		{"newer", zhIMPI, ts.Add(time.Hour), false},
		{"no-guss", "noguss@home1.net", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mar := testMARFor(tc.impi, "")
			mar.GUSSTimestamp = tc.bsf
			maa := answer(t, h, mar)
			avOf(t, maa)
			if got := maa.GUSS != nil; got != tc.want {
				t.Fatalf("GUSS sent = %v, want %v", got, tc.want)
			}
			if tc.want && string(maa.GUSS) != doc {
				t.Fatalf("GUSS %q", maa.GUSS)
			}
		})
	}
}

// TestAnswerMARConcurrent: parallel MARs for a few IMPIs never share an SQN.
func TestAnswerMARConcurrent(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	impis := []string{"a@home1.net", "b@home1.net", "c@home1.net"}
	for _, impi := range impis {
		provision(t, st, s, impi, nil, 0)
	}
	h := newTestHSS(t, st, nil)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for range 20 {
				impi := impis[g%len(impis)]
				maa, err := h.AnswerMAR(context.Background(), testMARFor(impi, ""))
				if err != nil {
					t.Error(err)
					return
				}
				av, err := maa.SIPAuthDataItem.AKAVector()
				if err != nil {
					t.Error(err)
					return
				}
				key := fmt.Sprintf("%s/%x", impi, recoverSQN(t, s.k, s.opc, av.RAND, av.AUTN))
				mu.Lock()
				if seen[key] {
					t.Errorf("SQN reissued: %s", key)
				}
				seen[key] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 12*20 {
		t.Fatalf("%d distinct vectors, want %d", len(seen), 12*20)
	}
}

// failingStore fails every call, to check that store errors are not turned into answers.
type failingStore struct{ Store }

var errStoreDown = errors.New("store down")

func (failingStore) Get(context.Context, string) (*Subscriber, error) { return nil, errStoreDown }

func TestAnswerMARStoreFailure(t *testing.T) {
	h := newTestHSS(t, failingStore{newMemStore(t)}, nil)
	if _, err := h.AnswerMAR(context.Background(), testMARFor(zhIMPI, "")); !errors.Is(err, errStoreDown) {
		t.Fatalf("err %v, want the store error", err)
	}
	if _, err := h.AnswerMAR(context.Background(), nil); err == nil {
		t.Fatal("nil MAR accepted")
	}
	// An exhausted RAND source is an error, not an answer.
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, 0)
	h = newTestHSS(t, st, bytes.NewReader(make([]byte, 8)))
	if _, err := h.AnswerMAR(context.Background(), testMARFor(zhIMPI, "")); err == nil {
		t.Fatal("short RAND accepted")
	}
}

// TestZhResult is the error mapping of the Zh edge, one row per domain error.
func TestZhResult(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code uint32
		exp  bool
		avp  uint32
	}{
		{fmt.Errorf("%w: get", ErrUnknownIMPI), diameter.ExpIMPIUnknown, true, 0},
		{fmt.Errorf("%w: %q", ErrAuthScheme, "x"), diameter.ExpAuthSchemeNotSupported, true, 0},
		{ErrMissingIdentity, diameter.ResultMissingAVP, false, avp.UserName},
		{fmt.Errorf("%w: %w", ErrResyncData, diameter.ErrAuthData), diameter.ResultInvalidAVPValue, false, diameter.AVPSIPAuthDataItem},
		{fmt.Errorf("%w: %w", ErrResyncMAC, aka.ErrResyncMACFailure), diameter.ResultAuthenticationRejected, false, 0},
		{ErrAmbiguousIMPU, diameter.ResultUnableToComply, false, 0},
		{ErrSQNExhausted, diameter.ResultUnableToComply, false, 0},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			r, failed, ok := zhResult(tc.err, testMARFor(zhIMPI, ""))
			if !ok || r.Code != tc.code || r.Experimental != tc.exp {
				t.Fatalf("got %s ok=%v, want %d experimental=%v", r, ok, tc.code, tc.exp)
			}
			if tc.exp && r.VendorID != diameter.VendorID3GPP {
				t.Fatalf("vendor %d", r.VendorID)
			}
			if (tc.avp == 0) != (len(failed) == 0) || tc.avp != 0 && failed[0].Code != tc.avp {
				t.Fatalf("Failed-AVP %v, want code %d", failed, tc.avp)
			}
		})
	}
	for _, err := range []error{errStoreDown, ErrClosed, context.Canceled} {
		if _, _, ok := zhResult(err, nil); ok {
			t.Errorf("%v mapped to an answer", err)
		}
	}
}

// TestMAANeverPrintsKeys: the MAA of a successful MAR prints no key material.
func TestMAANeverPrintsKeys(t *testing.T) {
	s := set1(t)
	st := newMemStore(t)
	provision(t, st, s, zhIMPI, nil, prevSQN(s.sqn))
	h := newTestHSS(t, st, repeatReader{s.rand})
	maa := answer(t, h, testMARFor(zhIMPI, ""))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, maa)
		for _, secret := range []string{s.K, s.OPc, s.F2, s.F3, s.F4} {
			if bytes.Contains([]byte(out), []byte(secret)) {
				t.Fatalf("%s prints key material", verb)
			}
		}
	}
}
