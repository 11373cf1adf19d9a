package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/opengba/opengba/naf"
	"github.com/opengba/opengba/naf/service"
)

// newKeySource constructs the KeySource the MEF uses to fetch Ks_NAF from the BSF over Zn
// (TS 29.109 §5.2): a naf.ZnClient built from cfg.Zn (origin, BSF peers selected by the
// B-TID realm, timeout, Private-Identity-Request, GBA_U awareness). It is called only when
// the role serves the MEF; the service puts a naf.Cache in front of the returned KeySource
// and asks its Ready for /readyz. The client connects in the background, so the process
// starts (not ready) while the BSF is down. closeFn sends DPR to every BSF peer
// (RFC 6733 §5.4) on exit.
func newKeySource(_ context.Context, cfg service.Config, m *naf.Metrics, log *slog.Logger) (keys naf.KeySource, closeFn func(), err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	zn, err := naf.NewZnClient(naf.ZnClientConfig{Zn: cfg.Zn, Metrics: m, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("naf: zn client: %w", err)
	}
	bsfs := make([]string, 0, len(cfg.Zn.BSFs))
	for _, p := range cfg.Zn.BSFs {
		bsfs = append(bsfs, p.Realm+"="+p.Address)
	}
	log.Info("zn client started", "if", "zn", "origin_host", cfg.Zn.OriginHost, "bsfs", bsfs)
	return zn, func() {
		if err := zn.Close(); err != nil {
			log.Warn("zn client: disconnect incomplete", "if", "zn", "error", err.Error())
			return
		}
		log.Info("zn client closed", "if", "zn")
	}, nil
}
