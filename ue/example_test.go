package ue_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/opengba/opengba/ue"
)

// newExampleClient builds the device of the examples: the TS 35.208 set 1 USIM and a
// client for the lab's BSF.
func newExampleClient(lab *exampleLab) *ue.Client {
	k, err := ue.ParseKey128("465b5ce8b199b49faa5f0a2ee238a6bc")
	if err != nil {
		log.Fatal(err)
	}
	opc, err := ue.ParseKey128("cd63cb71954a9f4e48a5994e37a02baf")
	if err != nil {
		log.Fatal(err)
	}
	usim, err := ue.NewUSIM("user1_private@home1.net", k, opc, nil)
	if err != nil {
		log.Fatal(err)
	}
	c, err := ue.NewClient(ue.Config{
		BSF:        "http://bsf.home1.net",
		USIM:       usim,
		HTTPClient: lab.HTTPClient, // a real device leaves these three nil
		Rand:       lab.Rand,
		Now:        lab.Now,
	})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func ExampleClient_Bootstrap() {
	lab := newExampleLab() // in-process BSF stand-in
	defer lab.Close()
	c := newExampleClient(lab)

	b, err := c.Bootstrap(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	ksNAF, err := b.KsNAF("naf.home1.net", ue.UaIDHTTPDigest)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("B-TID:  ", b.BTID)
	fmt.Println("expires:", b.Expires.Format(time.RFC3339))
	fmt.Println("Ks:     ", b.Ks())
	fmt.Println("Ks_NAF: ", ksNAF)
	// Output:
	// B-TID:   I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net
	// expires: 2025-06-01T13:00:00Z
	// Ks:      REDACTED
	// Ks_NAF:  REDACTED
}

func ExampleClient_Enrol() {
	lab := newExampleLab() // in-process BSF and MEF stand-ins
	defer lab.Close()
	c := newExampleClient(lab)

	// Bootstraps on demand, then POSTs to http://mef.home1.net/m2m/enrolment over Ua.
	e, err := c.Enrol(context.Background(), "http://mef.home1.net")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Node-ID:", e.NodeID)
	fmt.Println("IN-CSE: ", e.INCSEID)
	fmt.Println("MAF-ID: ", e.MAFID)
	fmt.Println("Kmr-ID: ", e.KmrID)
	fmt.Println("expires:", e.Expires.Format(time.RFC3339))
	fmt.Println("Kmr:    ", e.Kmr)
	fmt.Println("same Kmr as the MEF:", e.Kmr.Equal(lab.KmrAtMEF(e.KmrID)))
	// Output:
	// Node-ID: urn:oid:2.999.1
	// IN-CSE:  /in-cse-1
	// MAF-ID:  maf.home1.net
	// Kmr-ID:  I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net
	// expires: 2025-06-01T13:00:00Z
	// Kmr:     REDACTED
	// same Kmr as the MEF: true
}

func ExampleClient_Transport() {
	lab := newExampleLab()
	defer lab.Close()
	c := newExampleClient(lab)

	// Any HTTP request through the Transport answers a NAF's GBA challenge.
	hc := &http.Client{Transport: c.Transport()}
	resp, err := hc.Get("http://naf.home1.net/hello")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	fmt.Println(string(body))
	// Output:
	// 200 OK
	// hello, I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home1.net
}

func ExampleKey() {
	k, err := ue.NewKey(make([]byte, ue.KeySize))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v %x %+v %#v\n", k, k, k, k)
	// Output: REDACTED REDACTED REDACTED REDACTED
}
