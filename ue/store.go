package ue

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Store keeps a bootstrap across restarts, so that a device reuses Ks until it expires
// instead of bootstrapping at every start (TS 33.220 §4.5.2). Implementations must be
// safe for concurrent use and must protect Ks.
type Store interface {
	// Load returns the bootstrap saved for the IMPI, or ErrNotFound.
	Load(ctx context.Context, impi string) (*Bootstrap, error)
	// Save replaces the bootstrap saved for b.IMPI.
	Save(ctx context.Context, b *Bootstrap) error
	// Delete forgets the bootstrap saved for the IMPI; deleting nothing is not an error.
	Delete(ctx context.Context, impi string) error
}

// fileStoreVersion is the version of the FileStore format.
const fileStoreVersion = 1

// maxStoreFile bounds what FileStore.Load reads.
const maxStoreFile = 16 << 10

// FileStore is a Store that keeps one bootstrap in a file with mode 0600. Ks is encrypted
// with AES-GCM under a caller-provided key; the B-TID, IMPI, RAND and expiry are stored in
// the clear and authenticated as additional data, so that a tampered file fails to load.
// Writes go to a temporary file renamed into place. FileStore prints REDACTED.
type FileStore struct {
	path string
	aead cipher.AEAD
	rand io.Reader
}

// NewFileStore returns a FileStore at path encrypting Ks under key, an AES key of 16, 24
// or 32 octets (AES-GCM, NIST SP 800-38D). The directory must exist.
func NewFileStore(path string, key []byte) (*FileStore, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: FileStore path is empty", ErrConfig)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: FileStore key must be 16, 24 or 32 octets", ErrConfig)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: FileStore: %w", ErrConfig, err)
	}
	return &FileStore{path: path, aead: aead, rand: rand.Reader}, nil
}

// fileRecord is the JSON form of a FileStore file.
type fileRecord struct {
	Version int       `json:"version"`
	IMPI    string    `json:"impi"`
	BTID    string    `json:"btid"`
	RAND    []byte    `json:"rand"`
	Expires time.Time `json:"expires"`
	Ks      []byte    `json:"ks"` // GCM nonce ‖ ciphertext ‖ tag
}

// aad binds the clear fields to the ciphertext.
func (r *fileRecord) aad() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "opengba-ue-store/%d\x00%s\x00%s\x00%s\x00%s",
		r.Version, r.IMPI, r.BTID, base64.StdEncoding.EncodeToString(r.RAND), r.Expires.UTC().Format(time.RFC3339Nano))
	return b.Bytes()
}

// Save implements Store.
func (s *FileStore) Save(_ context.Context, b *Bootstrap) error {
	if b == nil || b.ks.IsZero() {
		return fmt.Errorf("%w: nothing to save", ErrConfig)
	}
	rec := fileRecord{Version: fileStoreVersion, IMPI: b.IMPI, BTID: b.BTID, RAND: b.RAND[:], Expires: b.Expires.UTC()}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+KeySize+s.aead.Overhead())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return fmt.Errorf("ue: store: nonce: %w", err)
	}
	rec.Ks = s.aead.Seal(nonce, nonce, b.ks.arr()[:], rec.aad())
	data, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("ue: store: %w", err)
	}
	return writeFile0600(s.path, data)
}

// writeFile0600 writes data atomically: temporary file (mode 0600), sync, rename.
func writeFile0600(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("ue: store: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		_ = f.Close()
		return fmt.Errorf("ue: store: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("ue: store: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("ue: store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ue: store: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ue: store: %w", err)
	}
	return nil
}

// Load implements Store. A file with group or other permissions, a wrong key, a tampered
// or malformed file all fail with ErrStore.
func (s *FileStore) Load(_ context.Context, impi string) (*Bootstrap, error) {
	rec, err := s.read()
	if err != nil {
		return nil, err
	}
	if rec.IMPI != impi {
		return nil, ErrNotFound
	}
	if len(rec.Ks) < s.aead.NonceSize() {
		return nil, fmt.Errorf("%w: ks field too short", ErrStore)
	}
	n := s.aead.NonceSize()
	ks, err := s.aead.Open(nil, rec.Ks[:n], rec.Ks[n:], rec.aad())
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt Ks (wrong key or tampered file)", ErrStore)
	}
	defer clear(ks)
	key, err := NewKey(ks)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	if len(rec.RAND) != 16 {
		return nil, fmt.Errorf("%w: RAND is not 16 octets", ErrStore)
	}
	b, err := NewBootstrap(rec.BTID, rec.IMPI, [16]byte(rec.RAND), key, rec.Expires)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	return b, nil
}

// read loads and decodes the file.
func (s *FileStore) read() (*fileRecord, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ue: store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ue: store: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is accessible to group or others (mode %v), want 0600", ErrStore, s.path, fi.Mode().Perm())
	}
	data, err := readBounded(f, maxStoreFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	var rec fileRecord
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&rec); err != nil {
		return nil, fmt.Errorf("%w: malformed file", ErrStore)
	}
	if rec.Version != fileStoreVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrStore, rec.Version, fileStoreVersion)
	}
	return &rec, nil
}

// Delete implements Store: it removes the file if it holds the IMPI's bootstrap, or if it
// cannot be read at all.
func (s *FileStore) Delete(_ context.Context, impi string) error {
	rec, err := s.read()
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err == nil && rec.IMPI != impi:
		return nil
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ue: store: %w", err)
	}
	return nil
}

// String returns "REDACTED": the store holds an AES key schedule.
func (*FileStore) String() string { return redacted }

// GoString returns "REDACTED".
func (*FileStore) GoString() string { return redacted }

// Format prints "REDACTED" for every verb and flag.
func (*FileStore) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog print "REDACTED".
func (*FileStore) LogValue() slog.Value { return slog.StringValue(redacted) }
