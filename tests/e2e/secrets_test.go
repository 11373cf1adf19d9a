package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// secret is one piece of key material used in the suite, by name ("K user1", "Ks_NAF
// <B-TID>").
type secret struct {
	name string
	b    []byte
}

// secretSet collects the key material of every subscriber and session the suite used.
type secretSet struct {
	mu   sync.Mutex
	list []secret
}

// add records b (copied) under name; empty values are ignored.
func (s *secretSet) add(name string, b []byte) {
	if len(b) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, secret{name: name, b: bytes.Clone(b)})
}

// addKs records Ks = CK ‖ IK (TS 33.220 §4.5.2) and its halves CK and IK.
func (s *secretSet) addKs(name string, ks []byte) {
	s.add("Ks "+name, ks)
	if len(ks) == 32 {
		s.add("CK "+name, ks[:16])
		s.add("IK "+name, ks[16:])
	}
}

func (s *secretSet) all() []secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]secret(nil), s.list...)
}

// Finding is one occurrence of key material in a log.
type Finding struct {
	Secret   string // the secret's name
	Encoding string // hex, HEX, base64, base64-raw, base64url, base64url-raw
	Line     int    // 1-based line of the first occurrence
	Excerpt  string // the line around it, the secret itself replaced by «name»
}

func (f Finding) String() string {
	return fmt.Sprintf("%s as %s at log line %d: %s", f.Secret, f.Encoding, f.Line, f.Excerpt)
}

// secretEncodings are the textual forms searched for: hex in lower and upper case and the
// four base64 alphabets/paddings of RFC 4648 §4 and §5.
func secretEncodings(b []byte) [][2]string {
	h := hex.EncodeToString(b)
	return [][2]string{
		{"hex", h},
		{"HEX", strings.ToUpper(h)},
		{"base64", base64.StdEncoding.EncodeToString(b)},
		{"base64-raw", base64.RawStdEncoding.EncodeToString(b)},
		{"base64url", base64.URLEncoding.EncodeToString(b)},
		{"base64url-raw", base64.RawURLEncoding.EncodeToString(b)},
	}
}

// FindSecrets searches logs for every secret in every form of secretEncodings and returns
// one Finding per secret that occurs (the first encoding and line found). The excerpt never
// shows the secret.
func FindSecrets(logs []byte, secrets []secret) []Finding {
	var out []Finding
	seen := make(map[string]bool)
	for _, s := range secrets {
		key := string(s.b)
		if seen[key] {
			continue // the same octets under another name (Kmr = Ks_NAF)
		}
		for _, enc := range secretEncodings(s.b) {
			i := bytes.Index(logs, []byte(enc[1]))
			if i < 0 {
				continue
			}
			seen[key] = true
			start := bytes.LastIndexByte(logs[:i], '\n') + 1
			end := len(logs)
			if j := bytes.IndexByte(logs[i:], '\n'); j >= 0 {
				end = i + j
			}
			line := string(logs[start:end])
			line = strings.ReplaceAll(line, enc[1], "«"+s.name+"»")
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			out = append(out, Finding{Secret: s.name, Encoding: enc[0], Line: bytes.Count(logs[:i], []byte("\n")) + 1, Excerpt: line})
			break
		}
	}
	return out
}

// TestFindSecretsDetectsPlantedKey proves the secrets check can fail: a key planted in a
// log line in any searched form is found, and a log without it is clean.
func TestFindSecretsDetectsPlantedKey(t *testing.T) {
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	secrets := []secret{{name: "K planted", b: k}, {name: "OPc other", b: bytes.Repeat([]byte{0xa5}, 16)}}
	clean := []byte(`{"level":"INFO","msg":"ub","result":"bootstrapped"}` + "\n" + `{"msg":"zn","btid":"AAAA@bsf"}` + "\n")
	if f := FindSecrets(clean, secrets); len(f) != 0 {
		t.Fatalf("clean log: findings %v", f)
	}
	for _, enc := range secretEncodings(k) {
		t.Run(enc[0], func(t *testing.T) {
			log := append(bytes.Clone(clean), []byte(`{"level":"DEBUG","msg":"oops","key":"`+enc[1]+`"}`+"\n")...)
			f := FindSecrets(log, secrets)
			if len(f) != 1 || f[0].Secret != "K planted" || f[0].Line != 3 {
				t.Fatalf("findings %v, want K planted on line 3", f)
			}
			if strings.Contains(f[0].String(), enc[1]) {
				t.Errorf("the finding repeats the secret: %s", f[0])
			}
		})
	}
	// Half a key is not the key.
	half := append(bytes.Clone(clean), []byte(hex.EncodeToString(k[:8])+"\n")...)
	if f := FindSecrets(half, secrets); len(f) != 0 {
		t.Errorf("half a key: findings %v", f)
	}
}
