package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// DefaultHealthcheckTimeout bounds a healthcheck without --timeout; it is below the 5 s
// timeout of the docker-compose healthchecks, so the probe reports its own reason.
const DefaultHealthcheckTimeout = 3 * time.Second

// ErrUsage marks a healthcheck command line that cannot be run (exit status 2).
var ErrUsage = errors.New("healthcheck: usage: healthcheck URL [--timeout D]")

// ErrUnhealthy marks a probe that ran and failed: no connection, timeout or a status
// outside 2xx (exit status 1).
var ErrUnhealthy = errors.New("healthcheck: unhealthy")

// Healthcheck runs the "healthcheck URL [--timeout D]" subcommand of the servers (args
// follow the subcommand's name; the flag may come before or after the URL). It GETs URL
// once with a plain net/http client — no proxy from the environment, no redirects, no
// cookies — and returns nil on a 2xx status. Otherwise the error is one line that says
// why (the status and the first line of the body, or the transport error) and matches
// ErrUnhealthy, or ErrUsage for a bad command line. It exists for FROM scratch images
// that have no shell or curl: the compose healthchecks run it inside the container
// against the loopback or the lab network; it is not a monitoring client.
func Healthcheck(ctx context.Context, args []string) error {
	rawURL, timeout, err := parseHealthcheckArgs(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	req.Header.Set("User-Agent", "opengba-healthcheck")
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, ForceAttemptHTTP2: false},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: GET %s: no answer within %v", ErrUnhealthy, rawURL, timeout)
		}
		return fmt.Errorf("%w: GET %s: %s", ErrUnhealthy, rawURL, oneLine(err.Error(), 200))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	reason := resp.Status
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
		reason += " (Location: " + oneLine(loc, 100) + ")"
	}
	if first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n"); first != "" {
		reason += ": " + oneLine(first, 120)
	}
	return fmt.Errorf("%w: GET %s: %s", ErrUnhealthy, rawURL, reason)
}

// HealthcheckStatus is the exit status of a healthcheck that returned err: 0 healthy, 2 a
// usage error, 1 otherwise (docker counts any non-zero status as unhealthy).
func HealthcheckStatus(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

func parseHealthcheckArgs(args []string) (string, time.Duration, error) {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", DefaultHealthcheckTimeout, "")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", 0, fmt.Errorf("%w: %w", ErrUsage, err)
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != 1 {
		return "", 0, fmt.Errorf("%w: want one URL, got %d arguments", ErrUsage, len(pos))
	}
	if *timeout <= 0 {
		return "", 0, fmt.Errorf("%w: --timeout must be positive", ErrUsage)
	}
	u, err := url.Parse(pos[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", 0, fmt.Errorf("%w: want an http:// or https:// URL with a host, got %q", ErrUsage, oneLine(pos[0], 100))
	}
	return pos[0], *timeout, nil
}

// oneLine makes s printable on one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
