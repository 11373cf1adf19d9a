package testbed

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opengba/opengba/naf/maf"
)

// FuzzMAFTap feeds arbitrary provisioning bodies through the MAF tap: it must never
// panic, must hand the handler the body octet for octet, and must report the exchange.
func FuzzMAFTap(f *testing.F) {
	f.Add([]byte(`{"node_id":"urn:oneM2M:node:sp.opengba.test:00","kmr_id":"MgyOtT/oLbL6qrSyG714xQ==@bsf.opengba.test","kmr":"1LzB0w7Vs/kttc7QGMsCqhF+iizSUyNWeVcKlMXbJCg=","expires":"2026-11-30T11:30:30Z"}`))
	f.Add([]byte(`{"kmr":"!!"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxTapBody {
			return
		}
		var obs observers
		var got []Exchange
		stop := obs.add(func(e Exchange) { got = append(got, e) })
		defer stop()
		var seen []byte
		h := mafTap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen, _ = io.ReadAll(r.Body)
			w.WriteHeader(http.StatusCreated)
		}), &obs)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, maf.KeysPath, bytes.NewReader(body)))
		if !bytes.Equal(seen, body) {
			t.Fatalf("handler saw %q, sent %q", seen, body)
		}
		if len(got) != 1 || got[0].Response != "201 Created" || got[0].Err != nil {
			t.Fatalf("exchanges %+v", got)
		}
	})
}

// FuzzUEHeaders feeds arbitrary header values to the ladder's header readers (they see
// what the BSF and the MEF send to the UE): no panic, and no field without a name.
func FuzzUEHeaders(f *testing.F) {
	f.Add(`Digest username="user1_private@home1.net", realm="bsf.home1.net", nonce="", uri="/", response=""`,
		`Digest realm="bsf.home1.net", nonce="I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=", algorithm=AKAv1-MD5, qop="auth-int", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
		`qop=auth-int, rspauth="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", nc=00000001`)
	f.Add(`Digest username="x", realm="3GPP-bootstrapping@naf", nonce="n", uri="/", qop=auth, nc=00000001, cnonce="c", response="00", auts="AAAAAAAAAAAAAAAAAAA="`,
		`Digest realm="3GPP-bootstrapping@naf", nonce="abc", qop="auth-int,auth", algorithm=MD5, stale=true`, ``)
	f.Add("", "Basic realm=x", "garbage")
	f.Fuzz(func(t *testing.T, authz, challenge, authInfo string) {
		h := http.Header{}
		h.Set("WWW-Authenticate", challenge)
		h.Set("Authentication-Info", authInfo)
		for _, fs := range [][]Field{authorizationFields(authz), responseFields(h)} {
			for _, fl := range fs {
				if fl.Name == "" || strings.ContainsAny(fl.Name, "\r\n") {
					t.Fatalf("bad field %+v", fl)
				}
			}
		}
	})
}
