// Package gba implements the key derivation and identifiers of the Generic Bootstrapping
// Architecture, 3GPP TS 33.220 V18 (Annex B KDF, Ks_NAF, TMPI, Annex H NAF_Id, §4.5.2 B-TID).
package gba

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors. Messages never carry key material.
var (
	// ErrKDFParam reports a KDF input parameter longer than 65535 octets (TS 33.220 §B.2).
	ErrKDFParam = errors.New("gba: kdf parameter longer than 65535 octets")
	// ErrKeyLength reports key material of the wrong length.
	ErrKeyLength = errors.New("gba: wrong key length")
	// ErrRANDLength reports a RAND that is not 16 octets.
	ErrRANDLength = errors.New("gba: RAND must be 16 octets")
	// ErrInvalidIMPI reports an empty, over-long or non-UTF-8 IMPI.
	ErrInvalidIMPI = errors.New("gba: invalid IMPI")
	// ErrKeyMarshal is returned when a Key is asked to serialise itself.
	ErrKeyMarshal = errors.New("gba: refusing to marshal key material")
)

// FC values of TS 33.220 Annex B.
const (
	// FCNAF is the FC of the NAF-specific key derivation (Ks_NAF, Ks_ext_NAF, Ks_int_NAF,
	// TS 33.220 §B.3) and of the TMPI derivation (TS 33.220 §B.4).
	FCNAF byte = 0x01
)

// P0 labels of TS 33.220 §B.3.
const (
	labelGBAME = "gba-me" // Ks_NAF (GBA_ME) and Ks_ext_NAF (GBA_U), TS 33.220 §B.3
	labelGBAU  = "gba-u"  // Ks_int_NAF (GBA_U), TS 33.220 §B.3
)

const maxParamLen = 0xFFFF

// KDFInput returns the KDF input string S = FC || P0 || L0 || P1 || L1 || … of
// TS 33.220 §B.2, where each Li is the length of Pi as 2 octets, big-endian, written after Pi.
func KDFInput(fc byte, params ...[]byte) ([]byte, error) {
	n := 1
	for i, p := range params {
		if len(p) > maxParamLen {
			return nil, fmt.Errorf("%w: P%d is %d octets", ErrKDFParam, i, len(p))
		}
		n += len(p) + 2
	}
	s := make([]byte, 0, n)
	s = append(s, fc)
	for _, p := range params {
		s = append(s, p...)
		s = append(s, byte(len(p)>>8), byte(len(p)))
	}
	return s, nil
}

// KDF returns HMAC-SHA-256(key, S) with S built by KDFInput: the generic key derivation
// function of TS 33.220 §B.2. The output is 32 octets.
func KDF(key []byte, fc byte, params ...[]byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty KDF key", ErrKeyLength)
	}
	s, err := KDFInput(fc, params...)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write(s)
	return m.Sum(nil), nil
}

// KsNAF derives Ks_NAF (GBA_ME) from Ks, TS 33.220 §B.3: FC 0x01, P0 "gba-me",
// P1 RAND, P2 IMPI (UTF-8, TS 33.220 §B.2.1), P3 NAF_Id; Key = Ks.
// For GBA_U the same derivation yields Ks_ext_NAF (see KsExtNAF).
func KsNAF(ks Key, rand []byte, impi string, nafID NAFID) (Key, error) {
	return nafKey(ks, labelGBAME, rand, impi, nafID)
}

// KsExtNAF derives Ks_ext_NAF for GBA_U, TS 33.220 §B.3; it is computed exactly as Ks_NAF
// (P0 "gba-me").
func KsExtNAF(ks Key, rand []byte, impi string, nafID NAFID) (Key, error) {
	return nafKey(ks, labelGBAME, rand, impi, nafID)
}

// KsIntNAF derives Ks_int_NAF for GBA_U, TS 33.220 §B.3: as Ks_NAF but with P0 "gba-u".
func KsIntNAF(ks Key, rand []byte, impi string, nafID NAFID) (Key, error) {
	return nafKey(ks, labelGBAU, rand, impi, nafID)
}

func nafKey(ks Key, label string, rand []byte, impi string, nafID NAFID) (Key, error) {
	if err := nafID.Validate(); err != nil {
		return Key{}, err
	}
	return deriveKey(ks, label, rand, impi, nafID.Bytes())
}

func deriveKey(ks Key, label string, rand []byte, impi string, p3 []byte) (Key, error) {
	if ks.IsZero() {
		return Key{}, fmt.Errorf("%w: Ks is unset", ErrKeyLength)
	}
	if len(rand) != RANDSize {
		return Key{}, fmt.Errorf("%w: got %d", ErrRANDLength, len(rand))
	}
	if err := checkIMPI(impi); err != nil {
		return Key{}, err
	}
	out, err := KDF(ks.k()[:], FCNAF, []byte(label), rand, []byte(impi), p3)
	if err != nil {
		return Key{}, err
	}
	return keyFrom(out), nil
}

// checkIMPI enforces the character string encoding of TS 33.220 §B.2.1 (UTF-8) and the
// 2-octet length field of §B.2.
func checkIMPI(impi string) error {
	switch {
	case impi == "":
		return fmt.Errorf("%w: empty", ErrInvalidIMPI)
	case len(impi) > maxParamLen:
		return fmt.Errorf("%w: longer than 65535 octets", ErrInvalidIMPI)
	case !utf8.ValidString(impi):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidIMPI)
	}
	return nil
}
