package maf

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opengba/opengba/internal/gba"
)

// Client errors.
var (
	// ErrUnavailable: the MAF could not be reached or answered 5xx (retry later).
	ErrUnavailable = errors.New("maf: client: MAF unavailable")
	// ErrRejected: the MAF refused the request (4xx other than 404/410).
	ErrRejected = errors.New("maf: client: MAF rejected the request")
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is the MAF base URL, e.g. https://maf.sp.example:8443.
	URL string
	// Token is the bearer token (the MEF token for Provision/Revoke, an IN-CSE token for
	// Lookup); empty with mTLS.
	Token string
	// TLS is the client TLS configuration (trust roots, client certificate for mTLS).
	TLS *tls.Config
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
}

// Client talks to the MAF API. The MEF uses it to provision and revoke; an IN-CSE can use
// it to look keys up.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient validates cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("maf: client: URL must be http(s)://host[:port]")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS
	}
	return &Client{base: u, token: cfg.Token, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}, nil
}

func (c *Client) url(kmrID string) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + KeysPath
	if kmrID != "" {
		u.RawQuery = url.Values{"kmr_id": {kmrID}}.Encode()
	}
	return u.String()
}

func (c *Client) do(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("maf: client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return resp.StatusCode, b, nil
}

// reason extracts the "error" field of an error answer (for messages; never a key).
func reason(b []byte) string {
	var e ErrorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		if len(e.Error) > 200 {
			return e.Error[:200]
		}
		return e.Error
	}
	return "no reason given"
}

func statusErr(code int, b []byte) error {
	switch {
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusGone:
		return ErrExpired
	case code >= 500:
		return fmt.Errorf("%w: status %d: %s", ErrUnavailable, code, reason(b))
	}
	return fmt.Errorf("%w: status %d: %s", ErrRejected, code, reason(b))
}

// Provision sends e to the MAF.
func (c *Client) Provision(ctx context.Context, e Entry) error {
	if e.Kmr.IsZero() {
		return fmt.Errorf("%w: kmr missing", ErrInvalid)
	}
	body, err := json.Marshal(ProvisionRequest{NodeID: e.NodeID, KmrID: e.KmrID, Kmr: e.Kmr.Base64(), Expires: e.Expires.UTC()})
	if err != nil {
		return fmt.Errorf("maf: client: %w", err)
	}
	defer clear(body)
	code, b, err := c.do(ctx, http.MethodPost, c.url(""), body)
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return statusErr(code, b)
	}
	return nil
}

// Revoke deletes the Kmr with kmrID; ErrNotFound when the MAF does not hold it.
func (c *Client) Revoke(ctx context.Context, kmrID string) error {
	code, b, err := c.do(ctx, http.MethodDelete, c.url(kmrID), nil)
	if err != nil {
		return err
	}
	if code != http.StatusNoContent {
		return statusErr(code, b)
	}
	return nil
}

// Lookup fetches the entry for kmrID (IN-CSE token).
func (c *Client) Lookup(ctx context.Context, kmrID string) (Entry, error) {
	code, b, err := c.do(ctx, http.MethodGet, c.url(kmrID), nil)
	if err != nil {
		return Entry{}, err
	}
	defer clear(b)
	if code != http.StatusOK {
		return Entry{}, statusErr(code, b)
	}
	var r KeyResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return Entry{}, fmt.Errorf("%w: bad answer", ErrUnavailable)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(r.Kmr)
	if err != nil || len(raw) != gba.KeySize {
		return Entry{}, fmt.Errorf("%w: bad kmr in answer", ErrUnavailable)
	}
	k, _ := gba.NewKey(raw)
	clear(raw)
	return Entry{KmrID: r.KmrID, NodeID: r.NodeID, Kmr: k, Expires: r.Expires}, nil
}
