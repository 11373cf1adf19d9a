package ue_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/opengba/opengba/ue"
	"github.com/opengba/opengba/ue/uetest"
)

// exampleLab is the in-process network of the examples: a BSF stand-in at bsf.home1.net
// holding the TS 35.208 set 1 subscriber, a NAF at naf.home1.net and an M2M Enrolment
// Function at mef.home1.net. A fixed clock and fixed random sources make the output
// reproducible.
type exampleLab struct {
	*uetest.Network
	HTTPClient *http.Client
	Rand       io.Reader
	Now        func() time.Time
	bsf        *uetest.BSF
}

func newExampleLab() *exampleLab {
	must := func(b []byte, err error) []byte {
		if err != nil {
			panic(err)
		}
		return b
	}
	k, _ := ue.ParseKey128("465b5ce8b199b49faa5f0a2ee238a6bc")
	opc, _ := ue.ParseKey128("cd63cb71954a9f4e48a5994e37a02baf")
	clock := uetest.NewClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))

	bsf := uetest.NewBSF("bsf.home1.net")
	bsf.Now = clock.Now
	bsf.Rand = uetest.RepeatReader(must(hex.DecodeString("23553cbe9637a89d218ae64dae47bf35")))
	if err := bsf.AddSubscriber("user1_private@home1.net", k, opc); err != nil {
		panic(err)
	}
	n := uetest.NewNetwork()
	n.Handle("bsf.home1.net", bsf)
	n.Handle("naf.home1.net", uetest.NewNAF("naf.home1.net", bsf.NAFKey, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := uetest.IdentityFrom(r.Context())
		_, _ = io.WriteString(w, "hello, "+id.BTID)
	})))
	n.Handle("mef.home1.net", uetest.NewNAF("mef.home1.net", bsf.NAFKey, uetest.EnrolmentHandler(func(id uetest.Identity) ue.EnrolmentResponse {
		return ue.EnrolmentResponse{
			NodeID:     "urn:oid:2.999.1",
			INCSEID:    "/in-cse-1",
			MAFID:      "maf.home1.net",
			KmrID:      id.BTID,
			KmrExpires: id.Expires,
		}
	})))
	return &exampleLab{
		Network:    n,
		HTTPClient: n.Client(),
		Rand:       uetest.RepeatReader([]byte{0x0a, 0x4f, 0x11, 0x3b}),
		Now:        clock.Now,
		bsf:        bsf,
	}
}

// KmrAtMEF is the Kmr the MEF obtains from the BSF over Zn for a B-TID.
func (l *exampleLab) KmrAtMEF(btid string) ue.Key {
	k, err := l.bsf.NAFKey(btid, "mef.home1.net", ue.UaIDHTTPDigest)
	if err != nil {
		return ue.Key{}
	}
	return k.KsNAF
}
