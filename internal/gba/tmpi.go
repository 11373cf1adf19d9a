package gba

import (
	"encoding/base64"
	"fmt"
)

// TMPIRealm is the realm of every TMPI, TS 33.220 §B.4.
const TMPIRealm = "tmpi.bsf.3gppnetwork.org"

const tmpiOctets = 24 // "the 24 most significant octets of the output of KDF", TS 33.220 §B.4

// BSFID returns BSF_Id = UTF-8(BSF FQDN) || 01 00 00 01 00, the P3 of the TMPI derivation,
// TS 33.220 §B.4 and §H.3.
func BSFID(bsfFQDN string) (NAFID, error) {
	n, err := NewNAFID(bsfFQDN, UaIDTMPI)
	if err != nil {
		return NAFID{}, fmt.Errorf("gba: BSF_Id: %w", err)
	}
	return n, nil
}

// TMPI derives the temporary IMPI of TS 33.220 §B.4: the NAF key derivation of §B.3 with
// P0 "gba-me" and P3 = BSF_Id (see BSFID), keyed with Ks; the TMPI is
// base64(first 24 octets of the KDF output) "@tmpi.bsf.3gppnetwork.org".
func TMPI(ks Key, rand []byte, impi, bsfFQDN string) (string, error) {
	bsfID, err := BSFID(bsfFQDN)
	if err != nil {
		return "", err
	}
	k, err := deriveKey(ks, labelGBAME, rand, impi, bsfID.Bytes())
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k.k()[:tmpiOctets]) + "@" + TMPIRealm, nil
}
