// Package testcert issues throw-away ECDSA P-256 certificates for tests of the TLS
// listeners and clients (Ub HTTPS, Diameter over TLS/TCP per RFC 6733 §2.1 and §13.1, the
// MEF→MAF link). Every certificate is valid from an hour ago to an hour from now, for
// 127.0.0.1 and its common name as DNS name. Only tests import this package.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	// Cert is the CA certificate; Pool holds only it.
	Cert *x509.Certificate
	Pool *x509.CertPool
	key  *ecdsa.PrivateKey
	next int64
}

// NewCA creates a CA named "test CA".
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	k := newKey(tb)
	tmpl := template(1, "test CA")
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	c := parse(tb, create(tb, tmpl, tmpl, k, k))
	return &CA{Cert: c, Pool: pool(c), key: k, next: 2}
}

// Issue returns a certificate for cn, signed by the CA, usable by servers and clients.
func (ca *CA) Issue(tb testing.TB, cn string) tls.Certificate {
	tb.Helper()
	k := newKey(tb)
	tmpl := leafTemplate(ca.next, cn)
	ca.next++
	return tls.Certificate{Certificate: [][]byte{create(tb, tmpl, ca.Cert, k, ca.key)}, PrivateKey: k}
}

// SelfSigned returns a self-signed server certificate for cn and a pool that trusts it.
func SelfSigned(tb testing.TB, cn string) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	k := newKey(tb)
	tmpl := leafTemplate(1, cn)
	der := create(tb, tmpl, tmpl, k, k)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, pool(parse(tb, der))
}

// WritePEM writes c as dir/name.pem (certificate chain) and dir/name-key.pem (EC private
// key) and returns both paths.
func WritePEM(tb testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	tb.Helper()
	k, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		tb.Fatalf("testcert: %T is not an ECDSA key", c.PrivateKey)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	var certPEM []byte
	for _, der := range c.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writeFile(tb, certFile, certPEM)
	writeFile(tb, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certFile, keyFile
}

// WritePEM writes the CA certificate as dir/name.pem and returns its path.
func (ca *CA) WritePEM(tb testing.TB, dir, name string) string {
	tb.Helper()
	p := filepath.Join(dir, name+".pem")
	writeFile(tb, p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	return p
}

func template(serial int64, cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
}

func leafTemplate(serial int64, cn string) *x509.Certificate {
	t := template(serial, cn)
	t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	t.DNSNames = []string{cn}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return t
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func create(tb testing.TB, tmpl, parent *x509.Certificate, k, signer *ecdsa.PrivateKey) []byte {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func parse(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func pool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}
