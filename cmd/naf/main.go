// Command naf serves the oneM2M M2M Enrolment Function acting as a GBA NAF (TS 33.220
// §4.4.3, Ua per TS 24.109 §5.2, Zn per TS 29.109 §5.2) and the M2M Authentication Function,
// together or alone (--role mef|maf|both).
//
//	naf [serve] --config naf.yaml [--role mef|maf|both] [--log-level debug]
//	naf check-config --config naf.yaml [--role …]
//	naf registration put    --config naf.yaml --impi IMPI --subscription ID [--node-id ID] [--cse-id /ID] [--expires RFC3339]
//	naf registration get    --config naf.yaml --impi IMPI
//	naf registration delete --config naf.yaml --impi IMPI
//	naf registration list   --config naf.yaml
//	naf enrolment list|get  --config naf.yaml [--impi IMPI]
//	naf healthcheck URL [--timeout D]
//
// healthcheck GETs URL (e.g. http://127.0.0.1:9090/readyz) and exits 0 on a 2xx status, 1
// with a one-line reason otherwise (2 on a usage error): the compose healthcheck of an
// image without a shell.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv, newKeySource: newKeySource})
	stop()
	os.Exit(code)
}
