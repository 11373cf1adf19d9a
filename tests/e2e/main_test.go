package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// suite is what the tests of one run share: the log sink every node and process writes
// into, the key material of every subscriber and session used (searched for in that sink
// after the last test), and the binaries built for the process tests.
var suite = newSuiteState()

// TestMain runs the tests, then the secrets check over every captured log line: one hit
// of K, OPc, CK, IK, RES, Ks or Ks_NAF (hex, either case, or base64) fails the run.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // no route table on stdout
	code := m.Run()
	logs := suite.logs.Bytes()
	if path := os.Getenv("E2E_LOG_DUMP"); path != "" {
		// For a human: every captured log line of the run.
		if err := os.WriteFile(path, logs, 0o600); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: E2E_LOG_DUMP: %v\n", err)
		}
	}
	secrets := suite.secrets.all()
	findings := FindSecrets(logs, secrets)
	switch {
	case len(findings) > 0:
		fmt.Fprintf(os.Stderr, "FAIL: secrets check: %d finding(s) in %d octets of captured logs:\n", len(findings), len(logs))
		for _, f := range findings {
			fmt.Fprintf(os.Stderr, "  %s\n", f)
		}
		code = 1
	case code == 0 && testing.Verbose():
		fmt.Fprintf(os.Stderr, "secrets check: %d secrets, %d log lines (%d octets): no finding\n", len(secrets), countLines(logs), len(logs))
	}
	suite.close()
	os.Exit(code)
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
