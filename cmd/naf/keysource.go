package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/service"
)

// errZnNotWired is returned until the Diameter Zn client is constructed below.
var errZnNotWired = errors.New("naf: the Zn client is not wired yet (cmd/naf/keysource.go); only --role maf can run")

// newKeySource constructs the KeySource the MEF uses to fetch Ks_NAF from the BSF over Zn
// (TS 29.109 §5.2). It is called only when the role serves the MEF. The service puts a
// naf.Cache in front of the returned KeySource. closeFn (may be nil) is called on exit.
//
// ======================================================================================
// ZN CLIENT CONSTRUCTION GOES HERE (owner: the Zn client, naf/zn.go).
//
//   - configuration: cfg.Zn (naf.ZnConfig: origin_host, origin_realm, bsfs, timeout,
//     request_impi, gba_u_aware) and the NAF_Id parts cfg.NAF.FQDN, cfg.UaID();
//   - metrics: observe m.ZnLatency (labels naf.ZnResult*) for every BIR round trip;
//   - logging: log (component "zn"); never log keys;
//   - errors: wrap naf.ErrBTIDUnknown (5403), naf.ErrNotAuthorized (5402),
//     naf.ErrBSFUnavailable (transport, timeout, no peer);
//   - readiness: implement Ready(ctx) error to take part in /readyz.
//
// Until then this returns errZnNotWired and the MEF role does not start (no fake BSF here).
// ======================================================================================
func newKeySource(ctx context.Context, cfg service.Config, m *naf.Metrics, log *slog.Logger) (keys naf.KeySource, closeFn func(), err error) {
	_, _, _, _ = ctx, cfg, m, log
	return nil, nil, errZnNotWired
}
