package config

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusNoContent)
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("no Zh peer is up\nsecond line\n"))
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		case "/slow":
			<-block
		case "/binary":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("\x00\x1b[31mred"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	defer close(block)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/healthz"
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	// An HTTP proxy from the environment must not be used.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")

	for _, tc := range []struct {
		name string
		args []string
		is   error // nil: healthy
		msg  string
	}{
		{"2xx", []string{srv.URL + "/healthz"}, nil, ""},
		{"timeout-after", []string{srv.URL + "/healthz", "--timeout", "2s"}, nil, ""},
		{"timeout-before", []string{"-timeout=2s", srv.URL + "/healthz"}, nil, ""},
		{"5xx", []string{srv.URL + "/readyz"}, ErrUnhealthy, "503 Service Unavailable: no Zh peer is up"},
		{"4xx", []string{srv.URL + "/nope"}, ErrUnhealthy, "404 Not Found"},
		{"redirect-not-followed", []string{srv.URL + "/moved"}, ErrUnhealthy, "302 Found (Location: /healthz)"},
		{"control-characters", []string{srv.URL + "/binary"}, ErrUnhealthy, "500 Internal Server Error:"},
		{"slow", []string{srv.URL + "/slow", "--timeout", "50ms"}, ErrUnhealthy, "no answer within 50ms"},
		{"refused", []string{refused}, ErrUnhealthy, "connection refused"},
		{"no-url", nil, ErrUsage, "want one URL"},
		{"two-urls", []string{srv.URL, srv.URL}, ErrUsage, "want one URL"},
		{"bad-scheme", []string{"ftp://127.0.0.1/"}, ErrUsage, "http:// or https://"},
		{"no-host", []string{"http:///healthz"}, ErrUsage, "http:// or https://"},
		{"relative", []string{"/healthz"}, ErrUsage, ""},
		{"bad-timeout", []string{srv.URL, "--timeout", "soon"}, ErrUsage, ""},
		{"zero-timeout", []string{srv.URL, "--timeout", "0s"}, ErrUsage, "positive"},
		{"unknown-flag", []string{srv.URL, "--retries", "3"}, ErrUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Healthcheck(context.Background(), tc.args)
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Healthcheck(%q) = %v", tc.args, err)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Healthcheck(%q) = %v, want %v containing %q", tc.args, err, tc.is, tc.msg)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x00\x1b") {
				t.Fatalf("reason is not one printable line: %q", err)
			}
		})
	}
}

func TestHealthcheckContextCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Healthcheck(ctx, []string{srv.URL}); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("cancelled: %v", err)
	}
	if time.Since(start) > DefaultHealthcheckTimeout {
		t.Fatal("a cancelled context did not stop the probe")
	}
}
