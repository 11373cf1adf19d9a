package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("store:\n  backend: memory\nub:\n  domain: bsf.home1.net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("store:\n  backend: memory\nub:\n  algorithm: MD5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-check", "-config", good}, 0, "configuration ok"},
		{[]string{"-check", "-config", bad}, 2, "ub.algorithm"},
		{[]string{"-check", "-config", good, "-log-level", "loud"}, 2, "log.level"},
		{[]string{"-check", "-config", good, "-ub-listen", "nohostport"}, 2, "ub.listen"},
		{[]string{"-check"}, 2, "store.kek"}, // defaults: SQLite needs a key-encryption key
		{[]string{"-check", "-config", filepath.Join(dir, "missing.yaml")}, 2, "missing.yaml"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) = %d, %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}
