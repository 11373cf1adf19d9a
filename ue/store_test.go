package ue_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opengba/opengba/ue"
)

func storeKey() []byte { return bytes.Repeat([]byte{0x42}, 32) }

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	l := newLab(t)
	b := bootstrap(t, l)
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	st, err := ue.NewFileStore(path, storeKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, testIMPI); !errors.Is(err, ue.ErrNotFound) {
		t.Fatalf("Load of an empty store: %v, want ErrNotFound", err)
	}
	if err := st.Save(ctx, b); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	ks := b.Ks().Bytes()
	for _, enc := range []string{hex.EncodeToString(ks), base64.StdEncoding.EncodeToString(ks)} {
		if strings.Contains(string(raw), enc) {
			t.Fatal("Ks is stored in the clear")
		}
	}
	if bytes.Contains(raw, ks) {
		t.Fatal("Ks is stored in the clear")
	}

	got, err := st.Load(ctx, testIMPI)
	if err != nil {
		t.Fatal(err)
	}
	if got.BTID != b.BTID || got.IMPI != b.IMPI || got.RAND != b.RAND || !got.Expires.Equal(b.Expires) || !got.Ks().Equal(b.Ks()) {
		t.Errorf("loaded %v, want %v", got, b)
	}
	if _, err := st.Load(ctx, "other@home1.net"); !errors.Is(err, ue.ErrNotFound) {
		t.Errorf("Load of another IMPI: %v, want ErrNotFound", err)
	}

	other, _ := ue.NewFileStore(path, bytes.Repeat([]byte{0x43}, 32))
	if _, err := other.Load(ctx, testIMPI); !errors.Is(err, ue.ErrStore) {
		t.Errorf("Load with a wrong key: %v, want ErrStore", err)
	}

	// Tampering with a clear field breaks the AES-GCM additional data.
	tampered := bytes.Replace(raw, []byte(b.Expires.Format(time.RFC3339)[:4]), []byte("2099"), 1)
	if err := os.WriteFile(path, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, testIMPI); !errors.Is(err, ue.ErrStore) {
		t.Errorf("Load of a tampered file: %v, want ErrStore", err)
	}

	if runtime.GOOS != "windows" {
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Load(ctx, testIMPI); !errors.Is(err, ue.ErrStore) {
			t.Errorf("Load of a 0644 file: %v, want ErrStore", err)
		}
	}

	if err := st.Delete(ctx, testIMPI); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there after Delete: %v", err)
	}
	if err := st.Delete(ctx, testIMPI); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
}

func TestNewFileStore(t *testing.T) {
	if _, err := ue.NewFileStore("x", []byte("short")); !errors.Is(err, ue.ErrConfig) {
		t.Errorf("short key: %v", err)
	}
	if _, err := ue.NewFileStore("", storeKey()); !errors.Is(err, ue.ErrConfig) {
		t.Errorf("empty path: %v", err)
	}
}

// TestClientStore: a restarted device reuses the stored Ks until it expires.
func TestClientStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	st, err := ue.NewFileStore(path, storeKey())
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, func(l *lab) { l.cfg.Store = st })
	first := bootstrap(t, l)

	restarted, err := ue.NewClient(l.cfg) // same store, empty memory
	if err != nil {
		t.Fatal(err)
	}
	b, err := restarted.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.BTID != first.BTID || !b.Ks().Equal(first.Ks()) {
		t.Error("restarted client did not reuse the stored bootstrap")
	}
	if n := l.bsf.Stats().Bootstraps; n != 1 {
		t.Errorf("BSF bootstraps %d, want 1", n)
	}

	l.clock.Advance(time.Hour)
	again, err := ue.NewClient(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Current(ctx); err != nil {
		t.Fatal(err)
	}
	if n := l.bsf.Stats().Bootstraps; n != 2 {
		t.Errorf("BSF bootstraps %d, want 2 after expiry", n)
	}
	got, err := st.Load(ctx, testIMPI)
	if err != nil || !got.Valid(l.clock.Now()) {
		t.Errorf("store holds %v (%v), want the new bootstrap", got, err)
	}
}

// brokenStore fails every call.
type brokenStore struct{}

var errBroken = errors.New("disk on fire")

func (brokenStore) Load(context.Context, string) (*ue.Bootstrap, error) { return nil, errBroken }
func (brokenStore) Save(context.Context, *ue.Bootstrap) error           { return errBroken }
func (brokenStore) Delete(context.Context, string) error                { return errBroken }

// TestClientStoreFailure: a failing Store is reported through Trace and does not stop
// bootstrapping.
func TestClientStoreFailure(t *testing.T) {
	var storeErrs int
	l := newLab(t, func(l *lab) {
		l.cfg.Store = brokenStore{}
		l.cfg.Trace = func(e ue.Event) {
			if e.Step == ue.StepStore && errors.Is(e.Err, errBroken) {
				storeErrs++
			}
		}
	})
	if _, err := l.c.Current(context.Background()); err != nil {
		t.Fatal(err)
	}
	if storeErrs != 2 {
		t.Errorf("%d store events, want 2 (load and save)", storeErrs)
	}
}
