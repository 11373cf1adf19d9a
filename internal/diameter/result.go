package diameter

import (
	"fmt"
)

// ExperimentalResult is the grouped Experimental-Result AVP (297), RFC 6733 §7.6:
//
//	Experimental-Result ::= < AVP Header: 297 >
//	                        { Vendor-Id }
//	                        { Experimental-Result-Code }
//
// Zh and Zn carry their own errors in it with Vendor-Id 10415, TS 29.109 §6.3.3.
type ExperimentalResult struct {
	VendorID               uint32 `avp:"Vendor-Id"`
	ExperimentalResultCode uint32 `avp:"Experimental-Result-Code"`
}

// Result is the outcome of an answer: its Result-Code (RFC 6733 §7.1), or the code and vendor
// of its Experimental-Result (RFC 6733 §7.6) when Experimental is true.
type Result struct {
	Code         uint32
	VendorID     uint32 // 0 for a Result-Code
	Experimental bool
}

// Success reports whether the result is in the 2xxx success class, RFC 6733 §7.1.2.
func (r Result) Success() bool { return r.Code >= 2000 && r.Code < 3000 }

// Err returns nil for a success and a *ResultError for any other result.
func (r Result) Err() error {
	if r.Success() {
		return nil
	}
	return &ResultError{Code: r.Code, VendorID: r.VendorID, Experimental: r.Experimental}
}

// String names the result, for example "2001 DIAMETER_SUCCESS" or
// "5401 DIAMETER_ERROR_IMPI_UNKNOWN (vendor 10415)".
func (r Result) String() string {
	s := fmt.Sprintf("%d", r.Code)
	if n := resultName(r.Code, r.VendorID, r.Experimental); n != "" {
		s += " " + n
	}
	if r.Experimental {
		s += fmt.Sprintf(" (vendor %d)", r.VendorID)
	}
	return s
}

// ResultError is the error value of an answer whose result is not a success (not 2xxx),
// RFC 6733 §7.1: a Result-Code, or an Experimental-Result (Experimental true) such as
// DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID (5403, vendor 10415), TS 29.109 §6.3.3.3.
// Callers test for it with errors.As, or with errors.Is against a *ResultError of the same
// Code, VendorID and Experimental.
type ResultError struct {
	Code         uint32
	VendorID     uint32 // 0 for a Result-Code
	Experimental bool
}

// Error implements error.
func (e *ResultError) Error() string {
	kind := "result"
	if e.Experimental {
		kind = "experimental result"
	}
	return "diameter: " + kind + " " + Result{Code: e.Code, VendorID: e.VendorID, Experimental: e.Experimental}.String()
}

// Is reports whether target is a *ResultError with the same code, vendor and kind.
func (e *ResultError) Is(target error) bool {
	t, ok := target.(*ResultError)
	return ok && t != nil && *t == *e
}

// answerResult returns the outcome of an answer from its Result-Code (0 when absent) and
// Experimental-Result (nil when absent). RFC 6733 §7.6 makes them alternatives: an answer that
// carries neither, or both, is malformed.
func answerResult(cmd string, resultCode uint32, er *ExperimentalResult) (Result, error) {
	switch {
	case resultCode != 0 && er != nil:
		return Result{}, fmt.Errorf("%w: %s carries both Result-Code and Experimental-Result", ErrMalformed, cmd)
	case er != nil:
		if er.ExperimentalResultCode == 0 {
			return Result{}, fmt.Errorf("%w: %s Experimental-Result has no Experimental-Result-Code", ErrMalformed, cmd)
		}
		return Result{Code: er.ExperimentalResultCode, VendorID: er.VendorID, Experimental: true}, nil
	case resultCode != 0:
		return Result{Code: resultCode}, nil
	default:
		return Result{}, fmt.Errorf("%w: %s carries neither Result-Code nor Experimental-Result", ErrMalformed, cmd)
	}
}

// resultName returns the spec name of a result code, or "".
func resultName(code, vendor uint32, experimental bool) string {
	if experimental {
		if vendor != VendorID3GPP {
			return ""
		}
		switch code {
		case ExpUserUnknown:
			return "DIAMETER_ERROR_USER_UNKNOWN"
		case ExpIdentitiesDontMatch:
			return "DIAMETER_ERROR_IDENTITIES_DONT_MATCH"
		case ExpAuthSchemeNotSupported:
			return "DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED"
		case ExpIMPIUnknown:
			return "DIAMETER_ERROR_IMPI_UNKNOWN"
		case ExpNotAuthorized:
			return "DIAMETER_ERROR_NOT_AUTHORIZED"
		case ExpTransactionIdentifierInvalid:
			return "DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID"
		}
		return ""
	}
	return baseResultName(code)
}
