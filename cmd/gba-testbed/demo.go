package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opengba/opengba/internal/testbed"
)

// oneDevice runs the first demo subscriber through bootstrap and enrolment and prints the
// message ladder and the result.
func oneDevice(ctx context.Context, tb *testbed.Testbed, o options, startedAt time.Time, stdout, stderr io.Writer) int {
	ep := tb.Endpoints()
	fmt.Fprintf(stdout, "OpenGBA testbed: HSS, BSF, MEF (NAF) and MAF up in %s\n", fmtDur(time.Since(startedAt)))
	fmt.Fprintf(stdout, "  data   %s\n", dataNote(tb, o))
	fmt.Fprintf(stdout, "  HSS    Zh %s (%s)   provisioning %s\n", ep.HSSZh.Addr, ep.HSSZh.OriginHost, ep.HSSProvisioningURL)
	fmt.Fprintf(stdout, "  BSF    Ub %s   Zn %s (%s)\n", ep.UbURL, ep.BSFZn.Addr, ep.BSFZn.OriginHost)
	fmt.Fprintf(stdout, "  MEF    %s (NAF %s, Ua id %s)\n", ep.MEFURL, ep.NAFFQDN, ep.UaID)
	fmt.Fprintf(stdout, "  MAF    %s (%s)\n", ep.MAFURL, ep.MAFID)
	demo := tb.Demo()
	if len(demo) == 0 {
		fmt.Fprintln(stderr, "gba-testbed: no demo subscriber")
		return exitFailure
	}
	sub := demo[0]
	fmt.Fprintf(stdout, "\nDevice %s: bootstrap over Ub, then oneM2M enrolment with the MEF over Ua\n", sub.IMPI)
	if o.showKeys {
		fmt.Fprintf(stdout, "  USIM K %x  OPc %x\n", sub.K.Bytes(), sub.OPc.Bytes())
	} else {
		fmt.Fprintln(stdout, "  keys are shown as SHA-256 fingerprints (--show-keys prints them)")
	}
	fmt.Fprintln(stdout)

	rctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	res, err := tb.RunDevice(rctx, sub, testbed.RunOptions{Ladder: true})
	if res != nil && res.Ladder != nil {
		writeTextLadder(stdout, res.Ladder, o.showKeys)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gba-testbed: device %s: %v\n", sub.IMPI, err)
		if res != nil && res.Ladder == nil {
			fmt.Fprintln(stderr, "gba-testbed: (run with --log-level warn to see the nodes' logs)")
		}
		return exitFailure
	}
	rows := resultRows(res, o.showKeys)
	fmt.Fprintln(stdout, "\nResult")
	for _, r := range rows {
		fmt.Fprintf(stdout, "  %-16s %s\n", r[0], r[1])
	}
	same := "no"
	if res.SameKmr {
		same = "yes"
	}
	fmt.Fprintf(stdout, "\nUE and MAF hold the same Kmr: %s\n", same)
	if o.html != "" {
		var b bytes.Buffer
		title := "OpenGBA testbed: bootstrap and oneM2M enrolment of " + sub.IMPI
		if err := writeHTMLLadder(&b, res.Ladder, htmlResult{Title: title, Rows: append(rows, [2]string{"UE and MAF hold the same Kmr", same})}, o.showKeys); err != nil {
			fmt.Fprintf(stderr, "gba-testbed: --html: %v\n", err)
			return exitFailure
		}
		if err := os.WriteFile(o.html, b.Bytes(), 0o644); err != nil {
			fmt.Fprintf(stderr, "gba-testbed: --html: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "Ladder written to %s\n", o.html)
	}
	if !res.SameKmr {
		return exitFailure
	}
	return exitOK
}

func resultRows(res *testbed.DeviceResult, showKeys bool) [][2]string {
	key := func(s testbed.Secret) string {
		if showKeys {
			return s.Hex()
		}
		return s.Fingerprint()
	}
	e := res.Enrolment
	cse := e.CSEID
	if cse == "" {
		cse = "(none)"
	}
	return [][2]string{
		{"Node-ID", e.NodeID},
		{"Kmr-ID", e.KmrID},
		{"Kmr expiry", e.Expires.UTC().Format(time.RFC3339)},
		{"CSE-ID", cse},
		{"IN-CSE-ID", e.INCSEID},
		{"MAF-ID", e.MAFID},
		{"Kmr at the UE", key(res.Kmr)},
		{"Kmr at the MAF", key(res.MAF.Kmr) + " (Node-ID " + res.MAF.NodeID + ")"},
		{"timing", fmt.Sprintf("bootstrap %s, enrolment %s, total %s", fmtDur(res.BootstrapTime), fmtDur(res.EnrolTime), fmtDur(res.Total))},
	}
}

// removeIfEmpty removes the --html placeholder created by the early writability check.
func removeIfEmpty(path string) {
	if path == "" {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		_ = os.Remove(path)
	}
}
