package testbed

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// secretsFile is the name of the file in the data directory that keeps the testbed's
// key-encryption keys and tokens, so that a kept data directory opens again.
const secretsFile = "secrets.json"

// secrets are the generated credentials of one data directory. The KEKs protect Ks in the
// BSF session store and Kmr in the MAF store; losing them makes those stores unreadable.
type secrets struct {
	BSFKEK   string `json:"bsf_kek"`       // base64 of 32 octets
	MAFKEK   string `json:"maf_kek"`       // base64 of 32 octets
	HSSToken string `json:"hss_token"`     // HSS provisioning API
	MEFToken string `json:"maf_mef_token"` // MEF → MAF provisioning
	CSEToken string `json:"maf_cse_token"` // IN-CSE → MAF lookup
}

// Format hides everything under every verb (secrets is never printed, but be safe).
func (secrets) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

func (s secrets) complete() bool {
	return s.BSFKEK != "" && s.MAFKEK != "" && s.HSSToken != "" && s.MEFToken != "" && s.CSEToken != ""
}

// loadSecrets reads dir/secrets.json or creates it (0600) with fresh values from r.
func loadSecrets(dir string, r io.Reader) (secrets, error) {
	path := filepath.Join(dir, secretsFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var s secrets
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&s); err != nil || !s.complete() {
			return secrets{}, fmt.Errorf("testbed: %s is not a testbed secrets file; remove it or use another data directory", path)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return secrets{}, fmt.Errorf("testbed: %w", err)
	}
	if r == nil {
		r = rand.Reader
	}
	rnd := func(n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("testbed: randomness: %w", err)
		}
		return b, nil
	}
	var s secrets
	for _, f := range []struct {
		dst *string
		enc func([]byte) string
		n   int
	}{
		{&s.BSFKEK, base64.StdEncoding.EncodeToString, 32},
		{&s.MAFKEK, base64.StdEncoding.EncodeToString, 32},
		{&s.HSSToken, hex.EncodeToString, 16},
		{&s.MEFToken, hex.EncodeToString, 16},
		{&s.CSEToken, hex.EncodeToString, 16},
	} {
		b, err := rnd(f.n)
		if err != nil {
			return secrets{}, err
		}
		*f.dst = f.enc(b)
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return secrets{}, fmt.Errorf("testbed: %w", err)
	}
	if err := os.WriteFile(path, append(out, '\n'), 0o600); err != nil {
		return secrets{}, fmt.Errorf("testbed: data directory %q: %w", dir, err)
	}
	return s, nil
}
