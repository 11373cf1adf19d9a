package ue_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

// withMEF adds an MEF at mef.home1.net: a NAF stand-in in front of the enrolment handler.
func withMEF(f func(uetest.Identity) ue.EnrolmentResponse) labOption {
	return func(l *lab) {
		mef := uetest.NewNAF(testMEF, l.bsf.NAFKey, uetest.EnrolmentHandler(f))
		l.net.Handle(testMEF, mef)
	}
}

func goodEnrolment(id uetest.Identity) ue.EnrolmentResponse {
	return ue.EnrolmentResponse{
		NodeID:     "urn:oid:1.2.3.4." + id.IMPI,
		CSEID:      "/cse-device-1",
		INCSEID:    "/in-cse",
		MAFID:      "maf.home1.net",
		KmrID:      id.BTID,
		KmrExpires: id.Expires,
	}
}

func TestEnrol(t *testing.T) {
	var steps []ue.Step
	l := newLab(t, withMEF(goodEnrolment), func(l *lab) {
		l.cfg.Trace = func(e ue.Event) { steps = append(steps, e.Step) }
	})
	e, err := l.c.Enrol(context.Background(), "http://mef.home1.net")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.c.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e.KmrID != b.BTID || e.NodeID != "urn:oid:1.2.3.4."+testIMPI || e.INCSEID != "/in-cse" ||
		e.MAFID != "maf.home1.net" || e.CSEID != "/cse-device-1" || !e.Expires.Equal(b.Expires) {
		t.Errorf("enrolment %+v", e)
	}
	// Kmr = Ks_NAF of the MEF (NAF_Id = mef.home1.net || 01 00 00 00 02), as the MEF
	// gets it from the BSF over Zn.
	want, err := l.bsf.NAFKey(b.BTID, testMEF, ue.UaIDHTTPDigest)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Kmr.Equal(want.KsNAF) {
		t.Error("Kmr differs from the MEF's Ks_NAF")
	}
	other, _ := l.bsf.NAFKey(b.BTID, testNAF, ue.UaIDHTTPDigest)
	if e.Kmr.Equal(other.KsNAF) {
		t.Error("Kmr does not depend on the MEF FQDN")
	}
	if want := []ue.Step{ue.StepUaChallenge, ue.StepUbChallenge, ue.StepUbDone, ue.StepUaDone, ue.StepEnrolment}; !equalSteps(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
}

func TestEnrolPath(t *testing.T) {
	var paths []string
	l := newLab(t, withMEF(goodEnrolment))
	hc := l.net.Client()
	base := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == testMEF {
			paths = append(paths, r.URL.Path)
		}
		return base.RoundTrip(r)
	})
	cfg := l.cfg
	cfg.HTTPClient = hc
	c, err := ue.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enrol(context.Background(), "http://mef.home1.net/"); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if p != ue.DefaultEnrolmentPath {
			t.Errorf("path %q, want %q", p, ue.DefaultEnrolmentPath)
		}
	}
	if len(paths) != 2 {
		t.Errorf("%d requests to the MEF, want 2", len(paths))
	}
}

func TestEnrolChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(uetest.Identity) ue.EnrolmentResponse
		want error
	}{
		{"kmr_id-mismatch", func(id uetest.Identity) ue.EnrolmentResponse {
			r := goodEnrolment(id)
			r.KmrID = "AAAAAAAAAAAAAAAAAAAAAA==@bsf.home1.net"
			return r
		}, ue.ErrEnrolment},
		{"node_id-missing", func(id uetest.Identity) ue.EnrolmentResponse {
			r := goodEnrolment(id)
			r.NodeID = ""
			return r
		}, ue.ErrEnrolment},
		{"kmr_expires-missing", func(id uetest.Identity) ue.EnrolmentResponse {
			r := goodEnrolment(id)
			r.KmrExpires = time.Time{}
			return r
		}, ue.ErrEnrolment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, withMEF(tc.f))
			if _, err := l.c.Enrol(context.Background(), "http://mef.home1.net"); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestEnrolExpiryClamped: Kmr never outlives Ks (TS 33.220 §4.5.3).
func TestEnrolExpiryClamped(t *testing.T) {
	l := newLab(t, withMEF(func(id uetest.Identity) ue.EnrolmentResponse {
		r := goodEnrolment(id)
		r.KmrExpires = id.Expires.Add(24 * time.Hour)
		return r
	}))
	e, err := l.c.Enrol(context.Background(), "http://mef.home1.net")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.c.Current(context.Background())
	if !e.Expires.Equal(b.Expires) {
		t.Errorf("Expires %v, want the bootstrap's %v", e.Expires, b.Expires)
	}
}

// TestEnrolUnauthenticated: an MEF that answers without challenging the device is refused.
func TestEnrolUnauthenticated(t *testing.T) {
	l := newLab(t, func(l *lab) {
		l.net.Handle(testMEF, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"node_id":"n","in_cse_id":"i","maf_id":"m","kmr_id":"k","kmr_expires":"2030-01-01T00:00:00Z"}`))
		}))
	})
	if _, err := l.c.Enrol(context.Background(), "http://mef.home1.net"); !errors.Is(err, ue.ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", err)
	}
}

func TestEnrolHTTPError(t *testing.T) {
	l := newLab(t, func(l *lab) {
		l.net.Handle(testMEF, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}))
	})
	_, err := l.c.Enrol(context.Background(), "http://mef.home1.net")
	var se *ue.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable || se.Op != "enrolment" {
		t.Fatalf("err = %v, want *StatusError 503", err)
	}
	if _, err := l.c.Enrol(context.Background(), "mef.home1.net"); !errors.Is(err, ue.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig for a URL without scheme", err)
	}
}
