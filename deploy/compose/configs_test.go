// Package compose holds the docker-compose lab's configuration; its test checks that the
// example configurations beside the components and the lab configurations here each form a
// working set: every file loads and validates, and the identities and addresses that one
// node expects of another agree (TS 33.220 §4.5.2 B-TID domain, TS 29.109 Zh and Zn peers).
package compose

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/opengba/opengba/bsf"
	hsssim "github.com/opengba/opengba/hss-sim"
	"github.com/opengba/opengba/naf/service"
)

// nodes is one set of configurations, loaded and validated.
type nodes struct {
	hss hsssim.Config
	bsf bsf.Config
	naf service.Config
}

func load(t *testing.T, hssPath, bsfPath, nafPath string, env map[string]string) nodes {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var n nodes
	var err error
	if n.hss, err = hsssim.LoadConfig(hssPath, lookup); err != nil {
		t.Fatal(err)
	}
	if n.bsf, err = bsf.LoadConfig(bsfPath, lookup); err != nil {
		t.Fatal(err)
	}
	if n.naf, err = service.LoadConfig(nafPath, lookup); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]interface{ Validate() error }{"hss-sim": &n.hss, "bsf": &n.bsf, "naf": &n.naf} {
		if err := v.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	return n
}

func port(t *testing.T, field, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", field, addr, err)
	}
	return p
}

func ports(t *testing.T, field string, addrs []string) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, port(t, field, a))
	}
	return out
}

// crossCheck checks what each node expects of its peers.
func crossCheck(t *testing.T, n nodes) {
	t.Helper()
	h, b, f := n.hss.Diameter, n.bsf, n.naf

	// Zh (TS 29.109 §4): the BSF reaches the HSS, and each accepts the other.
	if len(b.Zh.Peers) == 0 {
		t.Fatal("bsf zh.peers is empty")
	}
	hssPorts := ports(t, "hss-sim diameter.listen_tcp", h.ListenTCP)
	for i, p := range b.Zh.Peers {
		if p.Host != h.OriginHost {
			t.Errorf("bsf zh.peers[%d].host %q != hss-sim diameter.origin_host %q", i, p.Host, h.OriginHost)
		}
		if pp := port(t, "bsf zh.peers.address", p.Address); !slices.Contains(hssPorts, pp) {
			t.Errorf("bsf zh.peers[%d].address %s: port not in hss-sim diameter.listen_tcp %v", i, p.Address, h.ListenTCP)
		}
	}
	if b.Zh.DestinationRealm != h.OriginRealm {
		t.Errorf("bsf zh.destination_realm %q != hss-sim diameter.origin_realm %q", b.Zh.DestinationRealm, h.OriginRealm)
	}
	if !h.Open && !slices.Contains(h.Peers, b.Zh.OriginHost) {
		t.Errorf("hss-sim diameter.peers %v lacks bsf zh.origin_host %q", h.Peers, b.Zh.OriginHost)
	}
	hssTLS, bsfTLS := h.TLS.CertFile != "", b.Zh.TLS != (bsf.DiameterTLSConfig{})
	if hssTLS != bsfTLS {
		t.Errorf("Zh TLS: hss-sim diameter.tls on=%v, bsf zh.tls on=%v", hssTLS, bsfTLS)
	}

	// Zn (TS 29.109 §5): the NAF picks the BSF by the B-TID's domain (TS 33.220 §4.5.2)
	// and reaches its Zn listener; the BSF knows the NAF and lets it have the IMPI.
	if len(f.Zn.BSFs) == 0 {
		t.Fatal("naf zn.bsfs is empty")
	}
	znPorts := ports(t, "bsf zn.listen_tcp", b.Zn.ListenTCP)
	for i, p := range f.Zn.BSFs {
		if p.Realm != b.Ub.Domain && p.Realm != "*" {
			t.Errorf("naf zn.bsfs[%d].realm %q != bsf ub.domain %q (the B-TID domain)", i, p.Realm, b.Ub.Domain)
		}
		if pp := port(t, "naf zn.bsfs.address", p.Address); !slices.Contains(znPorts, pp) {
			t.Errorf("naf zn.bsfs[%d].address %s: port not in bsf zn.listen_tcp %v", i, p.Address, b.Zn.ListenTCP)
		}
		if p.Host != "" && p.Host != b.Zn.OriginHost {
			t.Errorf("naf zn.bsfs[%d].host %q != bsf zn.origin_host %q", i, p.Host, b.Zn.OriginHost)
		}
	}
	if b.Zn.TLS.CertFile != "" {
		t.Error("bsf zn.tls is on, but the NAF's Zn client has no TLS settings")
	}
	policy, known := b.Zn.NAFs[f.Zn.OriginHost]
	if !known {
		t.Fatalf("bsf zn.nafs lacks naf zn.origin_host %q", f.Zn.OriginHost)
	}
	if !slices.Contains(policy.FQDNs, f.NAF.FQDN) {
		t.Errorf("bsf zn.nafs[%s].fqdns %v lacks naf naf.fqdn %q (the NAF_Id FQDN)", f.Zn.OriginHost, policy.FQDNs, f.NAF.FQDN)
	}
	if f.Zn.RequestIMPI && (policy.IMPI == "" || policy.IMPI == bsf.IMPINever) {
		t.Errorf("naf zn.request_impi is set, but bsf zn.nafs[%s].impi is %q", f.Zn.OriginHost, policy.IMPI)
	}
}

// TestExampleConfigs: the three example files beside the components run together on one
// host out of the box (only the secrets come from the environment).
func TestExampleConfigs(t *testing.T) {
	env := map[string]string{
		"BSF_KEK":       base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)),
		"MAF_KEK":       base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32)),
		"MAF_MEF_TOKEN": "example-mef-token-0123456789",
		"MAF_CSE_TOKEN": "example-cse-token-0123456789",
	}
	n := load(t, "../../hss-sim/hss-sim.example.yaml", "../../bsf/bsf.example.yaml", "../../naf/naf.example.yaml", env)
	crossCheck(t, n)

	// One host: no two listeners share a port, and each peer address is a loopback one.
	listeners := map[string]string{
		"hss-sim provisioning.listen": n.hss.Provisioning.Listen,
		"bsf ub.listen":               n.bsf.Ub.Listen,
		"bsf ops.listen":              n.bsf.Ops.Listen,
		"naf ops.listen":              n.naf.Ops.Listen,
		"naf mef.listen":              n.naf.MEF.Listen,
		"naf maf.listen":              n.naf.MAF.Listen,
	}
	for i, a := range n.hss.Diameter.ListenTCP {
		listeners[fmt.Sprintf("hss-sim diameter.listen_tcp[%d]", i)] = a
	}
	for i, a := range n.bsf.Zn.ListenTCP {
		listeners[fmt.Sprintf("bsf zn.listen_tcp[%d]", i)] = a
	}
	byPort := map[string]string{}
	for field, addr := range listeners {
		p := port(t, field, addr)
		if other, dup := byPort[p]; dup {
			t.Errorf("%s and %s both listen on port %s", field, other, p)
		}
		byPort[p] = field
	}
	for field, addr := range map[string]string{"bsf zh.peers[0].address": n.bsf.Zh.Peers[0].Address, "naf zn.bsfs[0].address": n.naf.Zn.BSFs[0].Address} {
		if host, _, _ := net.SplitHostPort(addr); !net.ParseIP(host).IsLoopback() {
			t.Errorf("%s %q is not a loopback address", field, addr)
		}
	}
}

// labEnv reads deploy/compose/lab.env (KEY=VALUE lines), as docker-compose does.
func labEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("lab.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("lab.env: bad line %q", line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// TestLabConfigs: the lab's files (docker-compose.yml mounts them) form a working set too,
// with the UE profile pointing at the BSF's Ub port and the MEF's FQDN and port.
func TestLabConfigs(t *testing.T) {
	n := load(t, "hss-sim.yaml", "bsf.yaml", "naf.yaml", labEnv(t))
	crossCheck(t, n)

	b, err := os.ReadFile("ue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ue struct {
		IMPI string `yaml:"impi"`
		BSF  string `yaml:"bsf"`
		MEF  string `yaml:"mef"`
	}
	if err := yaml.Unmarshal(b, &ue); err != nil {
		t.Fatal(err)
	}
	bsfURL, err := url.Parse(ue.BSF)
	if err != nil {
		t.Fatal(err)
	}
	if bsfURL.Port() != port(t, "bsf ub.listen", n.bsf.Ub.Listen) {
		t.Errorf("ue.yaml bsf %s: port != bsf ub.listen %s", ue.BSF, n.bsf.Ub.Listen)
	}
	mefURL, err := url.Parse(ue.MEF)
	if err != nil {
		t.Fatal(err)
	}
	// TS 33.222 §5.3.0: the UE checks the Ua realm against the host it asked for.
	if mefURL.Hostname() != n.naf.NAF.FQDN || mefURL.Port() != port(t, "naf mef.listen", n.naf.MEF.Listen) {
		t.Errorf("ue.yaml mef %s: want host %s, port of naf mef.listen %s", ue.MEF, n.naf.NAF.FQDN, n.naf.MEF.Listen)
	}
	subs, err := os.ReadFile("subscribers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(subs, []byte("impi: "+ue.IMPI+"\n")) {
		t.Errorf("subscribers.yaml lacks the UE's IMPI %q", ue.IMPI)
	}
}
