package ue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// DefaultEnrolmentPath is the path of the MEF enrolment endpoint used when the URL given
// to Enrol has none.
const DefaultEnrolmentPath = "/m2m/enrolment"

// EnrolmentResponse is the JSON body of a successful enrolment (200 or 201,
// Content-Type application/json). It is the single definition of the field names, shared
// with the MEF: node_id, cse_id, in_cse_id, maf_id, kmr_id, kmr_expires. All are
// required except cse_id; kmr_expires is an RFC 3339 date-time. Unknown members are
// ignored. The key Kmr is not part of it: both ends derive it (GBA-DIGEST §0, §7).
type EnrolmentResponse struct {
	// NodeID is the M2M-Node-ID the M2M service provider assigned to the device.
	NodeID string `json:"node_id"`
	// CSEID is the CSE-ID of the device's own CSE, if it has one.
	CSEID string `json:"cse_id,omitempty"`
	// INCSEID is the CSE-ID of the IN-CSE the device registers with.
	INCSEID string `json:"in_cse_id"`
	// MAFID is the identifier (FQDN) of the M2M Authentication Function.
	MAFID string `json:"maf_id"`
	// KmrID identifies Kmr; it is the B-TID of the bootstrap (GBA-DIGEST §0).
	KmrID string `json:"kmr_id"`
	// KmrExpires is the expiry of Kmr, never later than that of Ks (TS 33.220 §4.5.3).
	KmrExpires time.Time `json:"kmr_expires"`
}

// Enrolment is the outcome of a oneM2M enrolment with GBA: the identities the MEF
// assigned and the M2M root key Kmr = Ks_NAF of the MEF (TS 33.220 §B.3), derived on the
// device. Kmr redacts itself.
type Enrolment struct {
	NodeID  string
	CSEID   string
	INCSEID string
	MAFID   string
	// KmrID is the B-TID the enrolment was made with.
	KmrID string
	// Expires is the earlier of the MEF's kmr_expires and the bootstrap expiry.
	Expires time.Time
	// Kmr is Ks_NAF for NAF_Id = MEF FQDN ‖ Ua security protocol identifier.
	Kmr Key
}

// Enrol enrols the device with an M2M Enrolment Function acting as NAF: a POST of an
// empty JSON object to mefURL (path DefaultEnrolmentPath when empty) authenticated over
// Ua by the Transport, then checks of the EnrolmentResponse: required fields present and
// kmr_id equal to the B-TID used. Kmr is derived locally and never sent. An MEF that did
// not challenge the device fails with ErrProtocol.
func (c *Client) Enrol(ctx context.Context, mefURL string) (*Enrolment, error) {
	u, err := url.Parse(mefURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return nil, fmt.Errorf("%w: MEF must be an http or https URL with a host", ErrConfig)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultEnrolmentPath
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader([]byte("{}")))
	if err != nil {
		return nil, fmt.Errorf("ue: enrolment: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	t := c.Transport()
	start := time.Now()
	resp, res, err := t.roundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("ue: enrolment: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("%w: %w", ErrAuthRejected, &StatusError{Op: "enrolment", StatusCode: resp.StatusCode})
	default:
		return nil, &StatusError{Op: "enrolment", StatusCode: resp.StatusCode}
	}
	if !res.authed {
		return nil, fmt.Errorf("%w: enrolment: the MEF did not authenticate the device over Ua", ErrProtocol)
	}
	body, err := readBounded(resp.Body, c.cfg.MaxBodySize)
	if err != nil {
		return nil, fmt.Errorf("ue: enrolment: %w", err)
	}
	er, err := parseEnrolmentResponse(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, err
	}
	if er.KmrID != res.b.BTID {
		return nil, fmt.Errorf("%w: kmr_id is not the B-TID used", ErrEnrolment)
	}
	kmr, err := res.b.KsNAF(res.fqdn, t.uaID())
	if err != nil {
		return nil, err
	}
	exp := er.KmrExpires.UTC()
	if exp.After(res.b.Expires) { // Kmr never outlives Ks (TS 33.220 §4.5.3)
		exp = res.b.Expires
	}
	c.trace(Event{Step: StepEnrolment, StatusCode: resp.StatusCode, Duration: time.Since(start), Detail: er.NodeID})
	return &Enrolment{
		NodeID:  er.NodeID,
		CSEID:   er.CSEID,
		INCSEID: er.INCSEID,
		MAFID:   er.MAFID,
		KmrID:   er.KmrID,
		Expires: exp,
		Kmr:     kmr,
	}, nil
}

// parseEnrolmentResponse decodes and checks an EnrolmentResponse.
func parseEnrolmentResponse(contentType string, body []byte) (EnrolmentResponse, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return EnrolmentResponse{}, fmt.Errorf("%w: Content-Type is not application/json", ErrEnrolment)
	}
	var er EnrolmentResponse
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&er); err != nil {
		return EnrolmentResponse{}, fmt.Errorf("%w: malformed JSON", ErrEnrolment)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return EnrolmentResponse{}, fmt.Errorf("%w: data after the JSON object", ErrEnrolment)
	}
	for _, f := range [...]struct{ name, v string }{
		{"node_id", er.NodeID}, {"in_cse_id", er.INCSEID}, {"maf_id", er.MAFID}, {"kmr_id", er.KmrID},
	} {
		if f.v == "" {
			return EnrolmentResponse{}, fmt.Errorf("%w: %s is missing", ErrEnrolment, f.name)
		}
	}
	if er.KmrExpires.IsZero() {
		return EnrolmentResponse{}, fmt.Errorf("%w: kmr_expires is missing", ErrEnrolment)
	}
	return er, nil
}
