package diameter

import (
	"errors"
	"fmt"
	"testing"
)

func TestAnswerResult(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rc      uint32
		er      *ExperimentalResult
		want    Result
		success bool
		bad     bool
	}{
		{name: "2001", rc: ResultSuccess, want: Result{Code: 2001}, success: true},
		{name: "2002 is success too", rc: 2002, want: Result{Code: 2002}, success: true},
		{name: "5012", rc: ResultUnableToComply, want: Result{Code: 5012}},
		{name: "3002 protocol error", rc: ResultUnableToDeliver, want: Result{Code: 3002}},
		{name: "5401 experimental", er: &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpIMPIUnknown},
			want: Result{Code: 5401, VendorID: 10415, Experimental: true}},
		{name: "experimental 2001", er: &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: 2001},
			want: Result{Code: 2001, VendorID: 10415, Experimental: true}, success: true},
		{name: "neither", bad: true},
		{name: "both", rc: ResultSuccess, er: &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: 5401}, bad: true},
		{name: "experimental without code", er: &ExperimentalResult{VendorID: VendorID3GPP}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, a := range []interface {
				Result() (Result, error)
				Err() error
			}{
				&MAA{ResultCode: tc.rc, ExperimentalResult: tc.er},
				&BIA{ResultCode: tc.rc, ExperimentalResult: tc.er},
			} {
				got, err := a.Result()
				if tc.bad {
					if !errors.Is(err, ErrMalformed) || !errors.Is(a.Err(), ErrMalformed) {
						t.Fatalf("%T: Result() = %v, %v; want ErrMalformed", a, got, err)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Fatalf("%T: Result() = %+v, %v; want %+v", a, got, err, tc.want)
				}
				if got.Success() != tc.success {
					t.Fatalf("Success() = %v", got.Success())
				}
				err = a.Err()
				if tc.success {
					if err != nil {
						t.Fatalf("Err() = %v, want nil", err)
					}
					continue
				}
				var re *ResultError
				if !errors.As(err, &re) {
					t.Fatalf("Err() = %v, not a *ResultError", err)
				}
				if re.Code != tc.want.Code || re.VendorID != tc.want.VendorID || re.Experimental != tc.want.Experimental {
					t.Fatalf("ResultError = %+v, want %+v", *re, tc.want)
				}
			}
		})
	}
}

func TestResultErrorIsAndText(t *testing.T) {
	err := fmt.Errorf("naf: zn: %w", (&BIA{ExperimentalResult: &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpTransactionIdentifierInvalid}}).Err())
	if !errors.Is(err, &ResultError{Code: 5403, VendorID: 10415, Experimental: true}) {
		t.Fatalf("errors.Is(%v, 5403) = false", err)
	}
	if errors.Is(err, &ResultError{Code: 5403}) {
		t.Fatal("a plain Result-Code 5403 matched an Experimental-Result 5403")
	}
	if got, want := err.Error(), "naf: zn: diameter: experimental result 5403 DIAMETER_ERROR_TRANSACTION_IDENTIFIER_INVALID (vendor 10415)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got, want := (&ResultError{Code: ResultUnableToComply}).Error(), "diameter: result 5012 DIAMETER_UNABLE_TO_COMPLY"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got, want := (Result{Code: 5999, VendorID: 99, Experimental: true}).String(), "5999 (vendor 99)"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func ExampleBIA_Err() {
	bia := &BIA{ExperimentalResult: &ExperimentalResult{VendorID: VendorID3GPP, ExperimentalResultCode: ExpTransactionIdentifierInvalid}}
	var re *ResultError
	if err := bia.Err(); errors.As(err, &re) && re.Experimental && re.Code == ExpTransactionIdentifierInvalid {
		fmt.Println("B-TID unknown or expired: challenge the UE to bootstrap again")
	}
	// Output: B-TID unknown or expired: challenge the UE to bootstrap again
}
