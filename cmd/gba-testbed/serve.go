package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opengba/opengba/internal/testbed"
)

// serveDoc is the --serve --json document.
type serveDoc struct {
	DataDir     string         `json:"data_dir"`
	Temporary   bool           `json:"temporary"`
	HSS         serveHSS       `json:"hss"`
	BSF         serveBSF       `json:"bsf"`
	MEF         serveMEF       `json:"mef"`
	MAF         serveMAF       `json:"maf"`
	Subscribers []serveSub     `json:"subscribers"`
	UEProfile   string         `json:"ue_profile"`
	GBAUE       string         `json:"gba_ue_command"`
	Identities  map[string]any `json:"identities"`
}

type serveDiameter struct {
	Address     string `json:"address"`
	Transport   string `json:"transport"`
	OriginHost  string `json:"origin_host"`
	OriginRealm string `json:"origin_realm"`
}

type serveHSS struct {
	Zh                serveDiameter `json:"zh"`
	ProvisioningURL   string        `json:"provisioning_url"`
	ProvisioningToken string        `json:"provisioning_token"`
}

type serveBSF struct {
	UbURL     string        `json:"ub_url"`
	BTIDRealm string        `json:"btid_realm"`
	Zn        serveDiameter `json:"zn"`
	OpsURL    string        `json:"ops_url"`
}

type serveMEF struct {
	URL          string `json:"url"`
	EnrolmentURL string `json:"enrolment_url"`
	Address      string `json:"address"`
	NAFFQDN      string `json:"naf_fqdn"`
	UaID         string `json:"ua_id"`
	ZnOriginHost string `json:"zn_origin_host"`
	OpsURL       string `json:"ops_url"`
}

type serveMAF struct {
	URL         string `json:"url"`
	LookupURL   string `json:"lookup_url"`
	LookupToken string `json:"lookup_token"`
	MAFID       string `json:"maf_id"`
}

type serveSub struct {
	IMPI string `json:"impi"`
	K    string `json:"k,omitempty"`
	OPc  string `json:"opc,omitempty"`
}

func diameterDoc(d testbed.Diameter) serveDiameter {
	return serveDiameter{Address: d.Addr, Transport: d.Transport, OriginHost: d.OriginHost, OriginRealm: d.OriginRealm}
}

// writeProfile writes a gba-ue profile (YAML, 0600) for sub into the data directory and
// returns its path: the ready-to-paste command then carries no key on the command line.
func writeProfile(tb *testbed.Testbed, sub testbed.Subscriber) (string, error) {
	ep := tb.Endpoints()
	name := "ue-" + strings.SplitN(sub.IMPI, "@", 2)[0] + ".yaml"
	path := filepath.Join(tb.DataDir(), name)
	body := fmt.Sprintf("# gba-ue profile written by gba-testbed --serve (K and OPc are secrets)\nimpi: %q\nk: %q\nopc: %q\nbsf: %q\nmef: %q\n",
		sub.IMPI, hex.EncodeToString(sub.K.Bytes()), hex.EncodeToString(sub.OPc.Bytes()), ep.UbURL, ep.MEFURL)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// serve prints the endpoints and waits for ctx (Ctrl-C) or a node failure.
func serve(ctx context.Context, tb *testbed.Testbed, o options, stdout, stderr io.Writer) int {
	ep, tok, demo := tb.Endpoints(), tb.Tokens(), tb.Demo()
	doc := serveDoc{
		DataDir: tb.DataDir(), Temporary: o.data == "",
		HSS: serveHSS{Zh: diameterDoc(ep.HSSZh), ProvisioningURL: ep.HSSProvisioningURL, ProvisioningToken: tok.HSSProvisioning},
		BSF: serveBSF{UbURL: ep.UbURL, BTIDRealm: ep.BSFDomain, Zn: diameterDoc(ep.BSFZn), OpsURL: ep.BSFOpsURL},
		MEF: serveMEF{URL: ep.MEFURL, EnrolmentURL: tb.EnrolmentURL(), Address: ep.MEFAddr, NAFFQDN: ep.NAFFQDN, UaID: ep.UaID,
			ZnOriginHost: ep.MEFZnOriginHost, OpsURL: ep.MEFOpsURL},
		MAF: serveMAF{URL: ep.MAFURL, LookupURL: ep.MAFKeysURL, LookupToken: tok.MAFLookup, MAFID: ep.MAFID},
		Identities: map[string]any{
			"realm": testbed.Realm, "sp_id": testbed.SPID, "in_cse_id": testbed.INCSEID, "naf_group": testbed.NAFGroup,
			"impi_format": "user<6 digits>@" + testbed.IMSDomain,
		},
	}
	doc.Subscribers = []serveSub{}
	for _, s := range demo {
		d := serveSub{IMPI: s.IMPI}
		if o.showKeys {
			d.K, d.OPc = hex.EncodeToString(s.K.Bytes()), hex.EncodeToString(s.OPc.Bytes())
		}
		doc.Subscribers = append(doc.Subscribers, d)
	}
	if len(demo) > 0 {
		path, err := writeProfile(tb, demo[0])
		if err != nil {
			fmt.Fprintf(stderr, "gba-testbed: gba-ue profile: %v\n", err)
			return exitFailure
		}
		doc.UEProfile = path
		doc.GBAUE = "go run ./cmd/gba-ue enrol --profile " + shellQuote(path)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			fmt.Fprintf(stderr, "gba-testbed: %v\n", err)
			return exitFailure
		}
	} else {
		writeServeText(stdout, doc, demo, o.showKeys)
	}
	select {
	case <-ctx.Done():
		return exitOK
	case err := <-tb.Err():
		fmt.Fprintf(stderr, "gba-testbed: %v\n", err)
		return exitFailure
	}
}

func writeServeText(w io.Writer, d serveDoc, demo []testbed.Subscriber, showKeys bool) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("OpenGBA testbed is up.\n")
	if d.Temporary {
		p("Data directory: %s (temporary, removed when stopped)\n\n", d.DataDir)
	} else {
		p("Data directory: %s (kept)\n\n", d.DataDir)
	}
	p("  HSS  Zh (Diameter)   %-40s Origin-Host %s, realm %s\n", d.HSS.Zh.Address, d.HSS.Zh.OriginHost, d.HSS.Zh.OriginRealm)
	p("       provisioning    %-40s Authorization: Bearer %s\n", d.HSS.ProvisioningURL+"/v1/subscribers", d.HSS.ProvisioningToken)
	p("  BSF  Ub (HTTP)       %-40s B-TID realm %s\n", d.BSF.UbURL, d.BSF.BTIDRealm)
	p("       Zn (Diameter)   %-40s Origin-Host %s, realm %s\n", d.BSF.Zn.Address, d.BSF.Zn.OriginHost, d.BSF.Zn.OriginRealm)
	p("       ops             %s/metrics\n", d.BSF.OpsURL)
	p("  MEF  Ua, enrolment   %-40s NAF FQDN %s, Ua id %s (listens on %s)\n", d.MEF.EnrolmentURL, d.MEF.NAFFQDN, d.MEF.UaID, d.MEF.Address)
	p("       Zn client       Origin-Host %s\n", d.MEF.ZnOriginHost)
	p("       ops             %s/metrics\n", d.MEF.OpsURL)
	p("  MAF  key lookup      %-40s Authorization: Bearer %s\n", d.MAF.LookupURL+"?kmr_id=…", d.MAF.LookupToken)
	p("\nDemo subscribers:\n")
	for _, s := range demo {
		if showKeys {
			p("  %s  K %x  OPc %x\n", s.IMPI, s.K.Bytes(), s.OPc.Bytes())
		} else {
			p("  %s  (K and OPc: --show-keys, or the profile below)\n", s.IMPI)
		}
	}
	if d.GBAUE != "" {
		p("\nEnrol a device with the gba-ue client (from the repository root):\n  %s\n", d.GBAUE)
		if showKeys && len(demo) > 0 {
			s := demo[0]
			p("or, without the profile:\n  go run ./cmd/gba-ue enrol --bsf %s --mef %s --impi %s --k %x --opc %x\n", d.BSF.UbURL, d.MEF.URL, s.IMPI, s.K.Bytes(), s.OPc.Bytes())
		}
	}
	p("\nStop with Ctrl-C.\n")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
