package digest

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/opengba/opengba/specs"
)

type provenance struct {
	Spec, Version, Table, Status, Source string
}

type responseVector struct {
	Name         string
	Provenance   provenance
	Algorithm    Algorithm
	RES, CK, IK  string
	Password     string
	Username     string
	Realm        string
	Nonce        string
	Method       string
	URI          string
	Body         string
	QOP          QOP
	NC           string
	CNonce       string
	HA1          string
	HA2          string
	Response     string
	ResponseBody *string `json:"response_body"`
	RspAuth      string
}

type digestVectors struct {
	Responses []responseVector
	Nonces    []struct {
		Name       string
		Provenance provenance
		RAND, AUTN string
		ServerData string `json:"server_data"`
		Nonce      string
	}
	Challenges []struct {
		Name       string
		Provenance provenance
		Header     string
		Want       Challenge
	}
	Credentials []struct {
		Name       string
		Provenance provenance
		Header     string
		Want       Credentials
	}
	AuthInfos []struct {
		Name       string
		Provenance provenance
		Header     string
		Want       AuthInfo
	} `json:"auth_infos"`
}

func loadVectors(t testing.TB) digestVectors {
	t.Helper()
	var v digestVectors
	if err := specs.Vectors("digest", &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Responses) == 0 || len(v.Nonces) == 0 || len(v.Challenges) == 0 || len(v.Credentials) == 0 || len(v.AuthInfos) == 0 {
		t.Fatal("digest.json: empty vector sets")
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// password returns the Digest password of a vector: RES-derived for AKA, literal otherwise.
func (v responseVector) password(t *testing.T) []byte {
	t.Helper()
	switch {
	case v.Algorithm == AKAv1MD5 && v.RES == "":
		return nil // empty password, RFC 3310 §3.4
	case v.Algorithm == AKAv1MD5 || v.Algorithm == AKAv2MD5:
		pw, err := AKAPassword(v.Algorithm, unhex(t, v.RES), unhex(t, v.IK), unhex(t, v.CK))
		if err != nil {
			t.Fatal(err)
		}
		if v.Password != "" && string(pw) != v.Password {
			t.Fatalf("AKA password = %q, want %q", pw, v.Password)
		}
		return pw
	}
	return []byte(v.Password)
}

func TestResponseVectors(t *testing.T) {
	for _, v := range loadVectors(t).Responses {
		t.Run(v.Name, func(t *testing.T) {
			if v.Provenance.Spec == "" || v.Provenance.Status == "" {
				t.Fatal("vector lacks provenance")
			}
			pw := v.password(t)
			if v.HA1 != "" {
				if got := HA1(v.Username, v.Realm, pw); got != v.HA1 {
					t.Errorf("HA1 = %s, want %s", got, v.HA1)
				}
			}
			ha2, err := HA2(v.QOP, v.Method, v.URI, []byte(v.Body))
			if err != nil || ha2 != v.HA2 {
				t.Errorf("HA2 = %s, %v; want %s", ha2, err, v.HA2)
			}
			nc, err := parseNC(rawParam{name: "nc", value: v.NC})
			if err != nil {
				t.Fatal(err)
			}
			c := Credentials{
				Username: v.Username, Realm: v.Realm, Nonce: v.Nonce, URI: v.URI,
				Algorithm: v.Algorithm, QOP: v.QOP, NC: nc, CNonce: v.CNonce,
			}
			got, err := c.ComputeResponse(pw, v.Method, []byte(v.Body))
			if err != nil || got != v.Response {
				t.Fatalf("response = %s, %v; want %s", got, err, v.Response)
			}
			c.Response = v.Response
			if err := c.Verify(pw, v.Method, []byte(v.Body)); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := c.Verify(append(pw, 'x'), v.Method, []byte(v.Body)); !errors.Is(err, ErrResponseMismatch) {
				t.Errorf("Verify with a wrong password: %v", err)
			}
			if v.ResponseBody == nil {
				return
			}
			ra, err := c.RspAuth(pw, []byte(*v.ResponseBody))
			if err != nil || ra != v.RspAuth {
				t.Errorf("rspauth = %s, %v; want %s", ra, err, v.RspAuth)
			}
			ai, err := c.AuthInfo(pw, []byte(*v.ResponseBody), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.VerifyAuthInfo(pw, ai, []byte(*v.ResponseBody)); err != nil {
				t.Errorf("VerifyAuthInfo: %v", err)
			}
		})
	}
}

func TestNonceVectors(t *testing.T) {
	for _, v := range loadVectors(t).Nonces {
		t.Run(v.Name, func(t *testing.T) {
			n, err := NewAKANonce(unhex(t, v.RAND), unhex(t, v.AUTN), unhex(t, v.ServerData))
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Pack(); got != v.Nonce {
				t.Errorf("Pack = %s, want %s", got, v.Nonce)
			}
			back, err := UnpackNonce(v.Nonce)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, n) {
				t.Errorf("UnpackNonce = %+v, want %+v", back, n)
			}
		})
	}
}

func TestChallengeVectors(t *testing.T) {
	for _, v := range loadVectors(t).Challenges {
		t.Run(v.Name, func(t *testing.T) {
			got, err := ParseChallenge(v.Header)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v.Want) {
				t.Fatalf("ParseChallenge =\n%#v\nwant\n%#v", got, v.Want)
			}
			roundTripChallenge(t, got)
		})
	}
}

func TestCredentialsVectors(t *testing.T) {
	for _, v := range loadVectors(t).Credentials {
		t.Run(v.Name, func(t *testing.T) {
			got, err := ParseCredentials(v.Header)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v.Want) {
				t.Fatalf("ParseCredentials =\n%#v\nwant\n%#v", got, v.Want)
			}
			roundTripCredentials(t, got)
		})
	}
}

func TestAuthInfoVectors(t *testing.T) {
	for _, v := range loadVectors(t).AuthInfos {
		t.Run(v.Name, func(t *testing.T) {
			got, err := ParseAuthInfo(v.Header)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v.Want) {
				t.Fatalf("ParseAuthInfo =\n%#v\nwant\n%#v", got, v.Want)
			}
			roundTripAuthInfo(t, got)
		})
	}
}

// TestUbExchange walks TS 24.109 Annex A with the set-1 vectors: challenge, AKAv1
// credentials, verification at the BSF, Authentication-Info and its check at the UE.
func TestUbExchange(t *testing.T) {
	vs := loadVectors(t)
	ch, err := ParseChallenge(vs.Challenges[0].Header)
	if err != nil {
		t.Fatal(err)
	}
	n, err := UnpackNonce(ch.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(n.RAND[:]) != vs.Nonces[0].RAND || hex.EncodeToString(n.AUTN[:]) != vs.Nonces[0].AUTN {
		t.Fatalf("nonce RAND/AUTN = %x/%x", n.RAND, n.AUTN)
	}
	res := unhex(t, "a54211d5e3ba50bf")
	pw, err := AKAPassword(ch.Algorithm, res, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCredentials(ch, "user1_private@home1.net", "/", QOPAuthInt, "0a4f113b", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sign(pw, "GET", nil); err != nil {
		t.Fatal(err)
	}
	hdr, err := c.Header()
	if err != nil {
		t.Fatal(err)
	}
	// What the BSF receives.
	got, err := ParseCredentials(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if got.Response != "d47e4afd3245638428c815924bc5bc69" {
		t.Errorf("response = %s", got.Response)
	}
	if err := got.Verify(res, "GET", nil); err != nil { // BSF uses XRES == RES
		t.Fatal(err)
	}
	ai, err := got.AuthInfo(res, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	aiHdr, err := ai.Header()
	if err != nil {
		t.Fatal(err)
	}
	if want := vs.AuthInfos[0].Header; aiHdr != want {
		t.Errorf("Authentication-Info = %s\nwant %s", aiHdr, want)
	}
	parsed, err := ParseAuthInfo(aiHdr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyAuthInfo(pw, parsed, nil); err != nil {
		t.Errorf("UE rejects the BSF: %v", err)
	}
	forged := parsed
	forged.RspAuth = "00000000000000000000000000000000"
	if err := c.VerifyAuthInfo(pw, forged, nil); !errors.Is(err, ErrRspAuthMismatch) {
		t.Errorf("forged rspauth: %v", err)
	}
	replayed := parsed
	replayed.NC = 2
	if err := c.VerifyAuthInfo(pw, replayed, nil); !errors.Is(err, ErrRspAuthMismatch) {
		t.Errorf("nc mismatch: %v", err)
	}
}
