package bsf

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

const shutdownTimeout = 10 * time.Second

// OpsHandler serves /metrics (the BSF's own registry), /healthz (the process runs) and
// /readyz (503 while the VectorSource reports no HSS peer up).
func (b *BSF) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !b.vs.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("no HSS peer up\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Run listens on ub.listen and ops.listen and serves until ctx is done (see Serve).
func (b *BSF) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ub, err := lc.Listen(ctx, "tcp", b.cfg.Ub.Listen)
	if err != nil {
		return err
	}
	ops, err := lc.Listen(ctx, "tcp", b.cfg.Ops.Listen)
	if err != nil {
		_ = ub.Close()
		return err
	}
	return b.Serve(ctx, ub, ops)
}

// Serve serves Ub on ub (HTTPS when ub.tls is configured) and the operations endpoints on
// ops (nil: none), sweeps expired sessions every store.sweep_interval, and shuts down
// gracefully when ctx is done. It returns nil after a clean shutdown.
func (b *BSF) Serve(ctx context.Context, ub, ops net.Listener) error {
	u := b.cfg.Ub
	errLog := slog.NewLogLogger(b.log.Handler(), slog.LevelWarn)
	ubSrv := &http.Server{
		Handler:           b.Handler(),
		ReadHeaderTimeout: u.ReadHeaderTimeout,
		ReadTimeout:       u.ReadTimeout,
		WriteTimeout:      u.WriteTimeout,
		IdleTimeout:       u.IdleTimeout,
		MaxHeaderBytes:    u.MaxHeaderBytes,
		ErrorLog:          errLog,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	opsSrv := &http.Server{
		Handler:           b.OpsHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          errLog,
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if u.TLS.CertFile != "" {
			err = ubSrv.ServeTLS(ub, u.TLS.CertFile, u.TLS.KeyFile)
		} else {
			err = ubSrv.Serve(ub)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	if ops != nil {
		g.Go(func() error {
			if err := opsSrv.Serve(ops); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		b.sweepLoop(gctx)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return errors.Join(ubSrv.Shutdown(sctx), opsSrv.Shutdown(sctx))
	})
	b.log.LogAttrs(ctx, slog.LevelInfo, "bsf serving", slog.String("ub", ub.Addr().String()), slog.Bool("tls", u.TLS.CertFile != ""))
	return g.Wait()
}

func (b *BSF) sweepLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.Store.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := b.store.Sweep(ctx)
			if err != nil {
				b.log.LogAttrs(ctx, slog.LevelWarn, "sweep failed", slog.String("error", err.Error()))
				continue
			}
			if n > 0 {
				b.log.LogAttrs(ctx, slog.LevelDebug, "swept expired sessions", slog.Int64("count", n))
			}
		}
	}
}
