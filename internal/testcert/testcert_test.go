package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func verify(t *testing.T, c tls.Certificate, roots *x509.CertPool, host string, usage x509.ExtKeyUsage) error {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func TestIssueVerifiesOnlyAgainstItsCA(t *testing.T) {
	ca, other := NewCA(t), NewCA(t)
	c := ca.Issue(t, "hss.opengba.test")
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := verify(t, c, ca.Pool, "hss.opengba.test", u); err != nil {
			t.Errorf("usage %v: %v", u, err)
		}
	}
	if err := verify(t, c, ca.Pool, "127.0.0.1", x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("IP SAN: %v", err)
	}
	if err := verify(t, c, other.Pool, "hss.opengba.test", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("a leaf verified against another CA")
	}
	if d := ca.Issue(t, "x"); d.Certificate[0] == nil || string(d.Certificate[0]) == string(c.Certificate[0]) {
		t.Error("two issues gave the same certificate")
	}
}

func TestSelfSignedAndPEM(t *testing.T) {
	c, roots := SelfSigned(t, "bsf.opengba.test")
	if err := verify(t, c, roots, "bsf.opengba.test", x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := WritePEM(t, dir, "server", c)
	loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(loaded.Certificate[0]) != string(c.Certificate[0]) {
		t.Error("PEM round trip changed the certificate")
	}
	ca := NewCA(t)
	if p := ca.WritePEM(t, dir, "ca"); p == "" {
		t.Fatal("no CA path")
	} else if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(mustRead(t, p)) {
		t.Error("CA PEM does not parse")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
