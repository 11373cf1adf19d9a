package mef

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/opengba/opengba/naf/maf"
)

func TestMEFStatus(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		reason string
	}{
		{"nil", nil, 200, ""},
		{"no IMPI", ErrNoIMPI, 403, "did not provide the IMPI"},
		{"not registered", ErrNotRegistered, 403, "not registered"},
		{"registration expired", ErrRegistrationExpired, 403, "expired"},
		{"MAF unreachable", mafErr(fmt.Errorf("%w: dial tcp 10.0.0.1:8443: refused", maf.ErrUnavailable)), 503, "MAF unavailable"},
		{"MAF timeout", mafErr(errors.New("context deadline exceeded")), 503, "MAF unavailable"},
		{"MAF refused", mafErr(fmt.Errorf("%w: status 401", maf.ErrRejected)), 502, "MAF rejected"},
		{"MAF invalid (in-process)", mafErr(fmt.Errorf("%w: node_id", maf.ErrInvalid)), 502, "MAF rejected"},
		{"store", fmt.Errorf("%w: disk I/O error", ErrStore), 500, "internal error"},
		{"no session", ErrNoSession, 500, "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := mefStatus(tc.err); got != tc.status {
				t.Errorf("mefStatus = %d, want %d", got, tc.status)
			}
			if tc.err == nil {
				return
			}
			r := mefReason(tc.err)
			if !strings.Contains(r, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", r, tc.reason)
			}
			if strings.Contains(r, "10.0.0.1") || strings.Contains(r, "disk") {
				t.Errorf("reason %q leaks internal detail", r)
			}
		})
	}
}

func TestAdminStatus(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("%w: cse_id", ErrInvalid): 400,
		ErrNotFound:                          404,
		ErrConflict:                          409,
		errors.New("x"):                      500,
	} {
		if got := adminStatus(err); got != want {
			t.Errorf("adminStatus(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestRegistrationValidate(t *testing.T) {
	good := Registration{IMPI: "u@h", SubscriptionID: "s", NodeID: "urn:x", CSEID: "/cse-1"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Registration{
		"no impi":        {SubscriptionID: "s"},
		"space in impi":  {IMPI: "u @h", SubscriptionID: "s"},
		"bad utf8 impi":  {IMPI: "u\xff@h", SubscriptionID: "s"},
		"no sub":         {IMPI: "u@h"},
		"cse no slash":   {IMPI: "u@h", SubscriptionID: "s", CSEID: "cse"},
		"cse two parts":  {IMPI: "u@h", SubscriptionID: "s", CSEID: "/a/b"},
		"cse only slash": {IMPI: "u@h", SubscriptionID: "s", CSEID: "/"},
		"node ctl":       {IMPI: "u@h", SubscriptionID: "s", NodeID: "a\nb"},
	} {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // quiet route logging
	os.Exit(m.Run())
}
