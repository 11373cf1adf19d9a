package digest

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func roundTripChallenge(t testing.TB, c Challenge) {
	t.Helper()
	h, err := c.Header()
	if err != nil {
		t.Fatalf("Header(%#v): %v", c, err)
	}
	back, err := ParseChallenge(h)
	if err != nil {
		t.Fatalf("re-parse %q: %v", h, err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip via %q:\n got %#v\nwant %#v", h, back, c)
	}
}

func roundTripCredentials(t testing.TB, c Credentials) {
	t.Helper()
	h, err := c.Header()
	if err != nil {
		t.Fatalf("Header(%#v): %v", c, err)
	}
	back, err := ParseCredentials(h)
	if err != nil {
		t.Fatalf("re-parse %q: %v", h, err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip via %q:\n got %#v\nwant %#v", h, back, c)
	}
}

func roundTripAuthInfo(t testing.TB, a AuthInfo) {
	t.Helper()
	h, err := a.Header()
	if err != nil {
		t.Fatalf("Header(%#v): %v", a, err)
	}
	back, err := ParseAuthInfo(h)
	if err != nil {
		t.Fatalf("re-parse %q: %v", h, err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Fatalf("round trip via %q:\n got %#v\nwant %#v", h, back, a)
	}
}

func TestParseChallengeLexical(t *testing.T) {
	cases := []struct {
		name, in string
		want     Challenge
	}{
		{"scheme case", `dIgEsT realm="r", nonce="n"`, Challenge{Realm: "r", Nonce: "n"}},
		{"name case", `Digest REALM="r", Nonce="n", ALGORITHM=akav1-md5`, Challenge{Realm: "r", Nonce: "n", Algorithm: AKAv1MD5}},
		{"whitespace", "  Digest \t realm = \"r\" ,nonce=\"n\"\t,  stale=TRUE  ", Challenge{Realm: "r", Nonce: "n", Stale: true}},
		{"empty list elements", `Digest , realm="r",, ,nonce="n",`, Challenge{Realm: "r", Nonce: "n"}},
		{"comma in quotes", `Digest realm="a, b", nonce="n,=\"x\""`, Challenge{Realm: "a, b", Nonce: `n,="x"`}},
		{"quoted-pair", `Digest realm="a\\b\"c\d", nonce=""`, Challenge{Realm: `a\b"cd`, Nonce: ""}},
		{"obs-text", "Digest realm=\"r\xe9alm\", nonce=\"n\"", Challenge{Realm: "r\xe9alm", Nonce: "n"}},
		{"qop list", `Digest realm="r", nonce="n", qop=" auth ,auth-int,token"`, Challenge{Realm: "r", Nonce: "n", QOP: []QOP{"auth", "auth-int", "token"}}},
		{"domain", `Digest realm="r", nonce="n", domain="/a  http://x/b"`, Challenge{Realm: "r", Nonce: "n", Domain: []string{"/a", "http://x/b"}}},
		{"charset userhash", `Digest realm="r", nonce="n", charset=utf-8, userhash=true`, Challenge{Realm: "r", Nonce: "n", Charset: "UTF-8", UserHash: true}},
		{"unknown algorithm kept", `Digest realm="r", nonce="n", algorithm=Foo-1`, Challenge{Realm: "r", Nonce: "n", Algorithm: "Foo-1"}},
		{"extensions", `Digest realm="r", X-Ext="v 1", Y=tok, nonce="n"`, Challenge{Realm: "r", Nonce: "n", Extension: []Param{{"x-ext", "v 1"}, {"y", "tok"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseChallenge(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
			roundTripChallenge(t, got)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	const ok = `realm="r", nonce="n", uri="/", response="", username="u"`
	cases := []struct {
		name, in string
		parse    string // "c" challenge, "r" credentials, "a" auth-info
		want     error
		mention  string
	}{
		{"too long", "Digest realm=\"" + strings.Repeat("a", MaxHeaderLen) + "\"", "c", ErrHeaderTooLong, ""},
		{"basic", `Basic realm="r"`, "c", ErrNotDigest, ""},
		{"digestx", `DigestX realm="r", nonce="n"`, "c", ErrNotDigest, ""},
		{"no scheme", `="r"`, "c", ErrSyntax, "auth-scheme"},
		{"empty", ``, "r", ErrSyntax, "auth-scheme"},
		{"no space after scheme", `Digest"x"`, "c", ErrSyntax, "whitespace"},
		{"token68", `Digest abc==`, "c", ErrSyntax, "token or quoted-string"},
		{"missing equals", `Digest realm "r"`, "c", ErrSyntax, "expected '='"},
		{"missing value", `Digest realm=, nonce="n"`, "c", ErrSyntax, "token or quoted-string"},
		{"unterminated", `Digest realm="r, nonce=n`, "c", ErrSyntax, "unterminated"},
		{"dangling backslash", `Digest realm="r\`, "c", ErrSyntax, "unterminated"},
		{"garbage after value", `Digest realm="r" x, nonce="n"`, "c", ErrSyntax, "expected ','"},
		{"second challenge", `Digest realm="r", nonce="n", Basic realm="b"`, "c", ErrSyntax, "expected '='"},
		{"CR LF", "Digest realm=\"r\",\r\n nonce=\"n\"", "c", ErrSyntax, "control character"},
		{"NUL in quotes", "Digest realm=\"r\x00\", nonce=\"n\"", "c", ErrSyntax, "control character"},
		{"DEL", "Digest realm=\"r\x7f\", nonce=\"n\"", "c", ErrSyntax, "control character"},
		{"duplicate", `Digest realm="r", nonce="n", Realm="s"`, "c", ErrDuplicateParam, `"realm"`},
		{"duplicate unknown", `Digest realm="r", nonce="n", x=1, X=2`, "c", ErrDuplicateParam, `"x"`},
		{"missing realm", `Digest nonce="n"`, "c", ErrMissingParam, `"realm"`},
		{"missing nonce", `Digest realm="r"`, "c", ErrMissingParam, `"nonce"`},
		{"realm token", `Digest realm=r, nonce="n"`, "c", ErrInvalidParam, "quoted-string"},
		{"quoted algorithm", `Digest realm="r", nonce="n", algorithm="MD5"`, "c", ErrInvalidParam, "must be a token"},
		{"quoted stale", `Digest realm="r", nonce="n", stale="true"`, "c", ErrInvalidParam, "must be a token"},
		{"stale yes", `Digest realm="r", nonce="n", stale=yes`, "c", ErrInvalidParam, "true or false"},
		{"qop token", `Digest realm="r", nonce="n", qop=auth`, "c", ErrInvalidParam, "quoted-string"},
		{"qop empty", `Digest realm="r", nonce="n", qop=""`, "c", ErrInvalidParam, "qop"},
		{"qop empty element", `Digest realm="r", nonce="n", qop="auth,,auth-int"`, "c", ErrInvalidParam, "qop"},
		{"qop bad token", `Digest realm="r", nonce="n", qop="auth int"`, "c", ErrInvalidParam, "qop"},
		{"charset latin1", `Digest realm="r", nonce="n", charset=ISO-8859-1`, "c", ErrInvalidParam, "UTF-8"},

		{"cred missing username", `Digest realm="r", nonce="n", uri="/", response=""`, "r", ErrMissingParam, `"username"`},
		{"cred missing uri", `Digest username="u", realm="r", nonce="n", response=""`, "r", ErrMissingParam, `"uri"`},
		{"cred missing response", `Digest username="u", realm="r", nonce="n", uri="/"`, "r", ErrMissingParam, `"response"`},
		{"quoted nc", `Digest ` + ok + `, qop=auth, nc="00000001", cnonce="c"`, "r", ErrInvalidParam, "must be a token"},
		{"short nc", `Digest ` + ok + `, qop=auth, nc=0001, cnonce="c"`, "r", ErrInvalidParam, "8 lower-case hex"},
		{"upper nc", `Digest ` + ok + `, qop=auth, nc=0000000A, cnonce="c"`, "r", ErrInvalidParam, "8 lower-case hex"},
		{"quoted qop", `Digest ` + ok + `, qop="auth", nc=00000001, cnonce="c"`, "r", ErrInvalidParam, "must be a token"},
		{"qop without nc", `Digest ` + ok + `, qop=auth, cnonce="c"`, "r", ErrMissingParam, `"nc"`},
		{"qop without cnonce", `Digest ` + ok + `, qop=auth, nc=00000001`, "r", ErrMissingParam, `"cnonce"`},
		{"nc without qop", `Digest ` + ok + `, nc=00000001`, "r", ErrInvalidParam, `"nc" without`},
		{"cnonce without qop", `Digest ` + ok + `, cnonce="c"`, "r", ErrInvalidParam, `"cnonce" without`},
		{"upper-case response", `Digest username="u", realm="r", nonce="n", uri="/", response="ABCDEF"`, "r", ErrInvalidParam, "lower-case hex"},
		{"response token", `Digest username="u", realm="r", nonce="n", uri="/", response=abcd`, "r", ErrInvalidParam, "quoted-string"},
		{"auts not base64", `Digest ` + ok + `, auts="!!!!"`, "r", ErrInvalidParam, "auts"},
		{"auts 13 octets", `Digest ` + ok + `, auts="AAAAAAAAAAAAAAAAAA=="`, "r", ErrInvalidParam, "14 octets"},
		{"auts unpadded", `Digest ` + ok + `, auts="uoU/PBI8z0TpNZbjVcY"`, "r", ErrInvalidParam, "auts"},
		{"auts token", `Digest ` + ok + `, auts=uoU/PBI8z0TpNZbjVcY=`, "r", ErrSyntax, "expected ','"},
		{"auts non-canonical", `Digest ` + ok + `, auts="uoU/PBI8z0TpNZbjVcZ="`, "r", ErrInvalidParam, "auts"},

		{"ai qop without rspauth", `qop=auth, cnonce="c", nc=00000001`, "a", ErrMissingParam, `"rspauth"`},
		{"ai nc without qop", `rspauth="ab", nc=00000001`, "a", ErrInvalidParam, `"nc" without`},
		{"ai quoted qop", `qop="auth", rspauth="ab", cnonce="c", nc=00000001`, "a", ErrInvalidParam, "must be a token"},
		{"ai rspauth upper", `rspauth="AB"`, "a", ErrInvalidParam, "lower-case hex"},
		{"ai duplicate", `nextnonce="a", nextnonce="b"`, "a", ErrDuplicateParam, `"nextnonce"`},
		{"ai scheme", `Digest qop=auth`, "a", ErrSyntax, "expected '='"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch tc.parse {
			case "c":
				_, err = ParseChallenge(tc.in)
			case "r":
				_, err = ParseCredentials(tc.in)
			case "a":
				_, err = ParseAuthInfo(tc.in)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %q, want it to mention %q", err, tc.mention)
			}
			if !strings.HasPrefix(err.Error(), "digest: ") {
				t.Errorf("err = %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseAuthInfoEmpty(t *testing.T) {
	a, err := ParseAuthInfo("  ")
	if err != nil || !reflect.DeepEqual(a, AuthInfo{}) {
		t.Fatalf("ParseAuthInfo(blank) = %#v, %v", a, err)
	}
}

func TestHeaderRejectsUnrepresentable(t *testing.T) {
	good := Credentials{Username: "u", Realm: "r", Nonce: "n", URI: "/"}
	cases := []struct {
		name string
		f    func() (string, error)
	}{
		{"challenge CR", Challenge{Realm: "a\rb", Nonce: "n"}.Header},
		{"challenge domain space", Challenge{Realm: "r", Nonce: "n", Domain: []string{"a b"}}.Header},
		{"challenge qop space", Challenge{Realm: "r", Nonce: "n", QOP: []QOP{"au th"}}.Header},
		{"challenge algorithm", Challenge{Realm: "r", Nonce: "n", Algorithm: "MD 5"}.Header},
		{"challenge charset", Challenge{Realm: "r", Nonce: "n", Charset: "latin1"}.Header},
		{"challenge ext shadows", Challenge{Realm: "r", Nonce: "n", Extension: []Param{{"Realm", "x"}}}.Header},
		{"challenge ext dup", Challenge{Realm: "r", Nonce: "n", Extension: []Param{{"x", "1"}, {"X", "2"}}}.Header},
		{"challenge ext name", Challenge{Realm: "r", Nonce: "n", Extension: []Param{{"a b", "1"}}}.Header},
		{"credentials LF", func() (string, error) { c := good; c.Username = "u\n"; return c.Header() }},
		{"credentials response", func() (string, error) { c := good; c.Response = "XYZ"; return c.Header() }},
		{"credentials nc w/o qop", func() (string, error) { c := good; c.NC = 1; return c.Header() }},
		{"credentials auts", func() (string, error) { c := good; c.AUTS = []byte{1}; return c.Header() }},
		{"authinfo cnonce w/o qop", AuthInfo{CNonce: "c"}.Header},
		{"authinfo rspauth", AuthInfo{RspAuth: "Z"}.Header},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := tc.f(); !errors.Is(err, ErrInvalidParam) {
				t.Errorf("Header = %q, %v; want ErrInvalidParam", h, err)
			}
		})
	}
}

func TestHeaderEscapes(t *testing.T) {
	c := Credentials{Username: `a"b\c`, Realm: "r\tx", Nonce: "", URI: "/"}
	h, err := c.Header()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, `username="a\"b\\c"`) {
		t.Errorf("Header = %s", h)
	}
	roundTripCredentials(t, c)
}

// randString draws from an alphabet that stresses quoting: quotes, backslashes, commas,
// '=', whitespace and obs-text.
func randString(r *rand.Rand, n int) string {
	const alphabet = "ab09-_.~\"\\,= \t/+@é"
	var b strings.Builder
	for range r.IntN(n + 1) {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randToken(r *rand.Rand) string {
	const tchars = "abcXYZ019!#$%&'*+-.^_`|~"
	b := make([]byte, 1+r.IntN(8))
	for i := range b {
		b[i] = tchars[r.IntN(len(tchars))]
	}
	return string(b)
}

func randHex(r *rand.Rand) string {
	const lhex = "0123456789abcdef"
	b := make([]byte, r.IntN(3)*16)
	for i := range b {
		b[i] = lhex[r.IntN(16)]
	}
	return string(b)
}

func randExt(r *rand.Rand, known func(string) bool) []Param {
	var ps []Param
	for i := range r.IntN(3) {
		name := "x" + strings.ToLower(randToken(r)) + string(rune('0'+i))
		if known(name) {
			continue
		}
		ps = append(ps, Param{Name: name, Value: randString(r, 6)})
	}
	return ps
}

// TestRoundTripProperty formats random values and checks that they parse back unchanged.
func TestRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	algs := []Algorithm{"", MD5, AKAv1MD5, AKAv2MD5, SHA256, "X-Alg"}
	for range 2000 {
		ch := Challenge{
			Realm: randString(r, 12), Nonce: randString(r, 12), Opaque: randString(r, 4),
			Stale: r.IntN(2) == 0, Algorithm: algs[r.IntN(len(algs))], UserHash: r.IntN(4) == 0,
			Extension: randExt(r, isChallengeParam),
		}
		for range r.IntN(3) {
			ch.QOP = append(ch.QOP, QOP(randToken(r)))
		}
		for range r.IntN(3) {
			ch.Domain = append(ch.Domain, "/"+randToken(r))
		}
		if r.IntN(2) == 0 {
			ch.Charset = charsetUTF8
		}
		roundTripChallenge(t, ch)

		cr := Credentials{
			Username: randString(r, 12), Realm: randString(r, 8), Nonce: randString(r, 12),
			URI: randString(r, 8), Response: randHex(r), Algorithm: algs[r.IntN(len(algs))],
			Opaque: randString(r, 4), UserHash: r.IntN(4) == 0, Extension: randExt(r, isCredentialsParam),
		}
		if r.IntN(3) > 0 {
			cr.QOP, cr.NC, cr.CNonce = QOP(randToken(r)), r.Uint32(), randString(r, 8)
		}
		if r.IntN(3) == 0 {
			cr.AUTS = make([]byte, AUTSSize)
			for i := range cr.AUTS {
				cr.AUTS[i] = byte(r.Uint32())
			}
		}
		roundTripCredentials(t, cr)

		ai := AuthInfo{NextNonce: randString(r, 8), RspAuth: randHex(r), Extension: randExt(r, isAuthInfoParam)}
		if r.IntN(2) == 0 {
			ai.QOP, ai.NC, ai.CNonce = QOP(randToken(r)), r.Uint32(), randString(r, 8)
		}
		roundTripAuthInfo(t, ai)
	}
}

func TestUaRealm(t *testing.T) {
	if got := UaRealm("naf.home1.net", false); got != "3GPP-bootstrapping@naf.home1.net" {
		t.Errorf("GBA_ME realm = %s", got)
	}
	if got := UaRealm("naf.home1.net", true); got != "3GPP-bootstrapping-uicc@naf.home1.net" {
		t.Errorf("GBA_U realm = %s", got)
	}
}
