package ue

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzUbResponse feeds the Ub response parsers the three network inputs of a bootstrap:
// the WWW-Authenticate of the 401, and the Authentication-Info and BootstrappingInfo body
// of the 200 OK (verified against the golden credentials). None may panic; an accepted
// 200 must carry a parseable B-TID.
func FuzzUbResponse(f *testing.F) {
	creds, password, h, body := goldenUb200(f)
	f.Add(`Digest realm="bsf.home1.net", nonce="I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", algorithm=AKAv1-MD5, qop="auth-int", opaque="5ccc069c403ebaf9f0171e9517f30e41"`,
		h.Get("Authentication-Info"), body)
	f.Add(`Digest realm="x", nonce="", algorithm=AKAv2-MD5, qop="auth,auth-int"`, `qop=auth-int, rspauth="00", cnonce="", nc=00000001`,
		[]byte(`<BootstrappingInfo xmlns="uri:3gpp-gba"><btid>x</btid><lifetime>2020-01-01T00:00:00Z</lifetime><Extension><a/></Extension></BootstrappingInfo>`))
	f.Add(`Basic realm="x"`, ``, []byte(`<!DOCTYPE a><a/>`))
	f.Fuzz(func(t *testing.T, wwwAuth, authInfo string, xmlBody []byte) {
		if ch, err := parseUbChallenge([]string{wwwAuth}); err == nil && ch.Nonce == "" {
			t.Fatal("accepted a challenge without a nonce")
		}
		_, _, _, _ = gbaChallenge([]string{wwwAuth}, "naf.home1.net")
		hdr := http.Header{}
		hdr.Set("Authentication-Info", authInfo)
		info, err := verifyUb200(creds, password, hdr, xmlBody, false)
		if err == nil && info.btid == "" {
			t.Fatal("accepted a 200 OK without a B-TID")
		}
		_, _ = parseBootstrappingInfo(xmlBody)
		_, _ = parseEnrolmentResponse("application/json", xmlBody)
	})
}

// FuzzUaResponse feeds a NAF's 401 WWW-Authenticate and its final Authentication-Info
// and body to the Ua transport's parsers (TS 24.109 §5.2, RFC 2617 §3.2.3).
func FuzzUaResponse(f *testing.F) {
	f.Add(`Digest realm="3GPP-bootstrapping@naf.home1.net", nonce="a7b8c9", qop="auth-int", algorithm=MD5, opaque="x"`,
		`qop=auth-int, rspauth="6629fae49394a05397450978507c4ef1", cnonce="0a4f113b", nc=00000001`, []byte("hello"))
	f.Add(`Digest realm="3GPP-bootstrapping@naf.home1.net", nonce="n", qop="auth", stale=true`, `nextnonce="abc"`, []byte{})
	f.Add(`Digest realm="3GPP-bootstrapping-uicc@naf.home1.net", nonce="n"`, `rspauth="00"`, []byte{0xff})
	f.Fuzz(func(t *testing.T, wwwAuth, authInfo string, body []byte) {
		ch, fqdn, ok, err := gbaChallenge([]string{wwwAuth}, "naf.home1.net")
		if ok && (err != nil || fqdn == "" || ch.Realm != realmPrefixGBAME+fqdn) {
			t.Fatalf("inconsistent challenge: %q %v", fqdn, err)
		}
		tr := &Transport{Client: &Client{}, MaxBodySize: 1 << 10}
		at := &uaAttempt{password: []byte("pw")}
		at.creds.Username, at.creds.Realm, at.creds.Nonce, at.creds.URI = "b", "r", "n", "/"
		at.creds.QOP, at.creds.NC, at.creds.CNonce = "auth-int", 1, "0a4f113b"
		resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		resp.Header.Set("Authentication-Info", authInfo)
		_ = tr.checkAuthInfo("http://naf.home1.net", resp, at)
	})
}

// FuzzEnrolmentResponse feeds the MEF's JSON answer to its parser.
func FuzzEnrolmentResponse(f *testing.F) {
	f.Add(`{"node_id":"urn:oid:2.999.1","cse_id":"/c","in_cse_id":"/in-cse","maf_id":"maf.home1.net","kmr_id":"I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net","kmr_expires":"2025-06-01T13:00:00Z"}`)
	f.Add(`{"node_id":1}`)
	f.Add(`{} {}`)
	f.Fuzz(func(t *testing.T, body string) {
		er, err := parseEnrolmentResponse("application/json", []byte(body))
		if err == nil && (er.NodeID == "" || er.KmrID == "" || er.KmrExpires.IsZero()) {
			t.Fatal("accepted an incomplete enrolment")
		}
	})
}
