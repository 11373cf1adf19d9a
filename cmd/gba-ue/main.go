// Command gba-ue is a GBA device client (3GPP TS 33.220 §4.5, TS 24.109): it bootstraps
// with a BSF over Ub, enrols with a oneM2M M2M Enrolment Function and calls NAFs over Ua.
// Run "gba-ue help" for usage and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv})
	stop()
	os.Exit(code)
}
