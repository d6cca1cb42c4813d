package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/logbuf"
	"github.com/moat-registry/moat/internal/server"
	"github.com/moat-registry/moat/internal/tlsauto"
	"github.com/spf13/cobra"
)

func newServe() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the moat server (embedded SQLite and filesystem storage by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return err
			}
			// A request allocates little but often: at the default GOGC=100 the
			// collector was ~8% of a manifest HEAD's CPU. 400 trades some heap
			// (idle RSS stays far below 100 MiB) for ~10% more HEADs per second
			// (docs/benchmarks.md). GOGC in the environment wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			// Batched: one write per line was a large share of a request's cost.
			logs := logbuf.New(cmd.ErrOrStderr(), 100*time.Millisecond)
			defer logs.Close()
			setupLogging(cfg.LogFormat, logs)
			if cfg.TLSAuto {
				var addrs []string
				for _, l := range cfg.Listeners {
					addrs = append(addrs, l.Address)
				}
				// A wildcard for the suffix, never a port: SANs carry none.
				files, err := tlsauto.Ensure(filepath.Join(cfg.DataDir, "tls"), tlsauto.Names(addrs, cfg.LoginServerSuffix))
				if err != nil {
					return fmt.Errorf("--tls-auto: %w", err)
				}
				// From here on the generated files are the TLS configuration.
				cfg.TLSCert, cfg.TLSKey, cfg.TLSAuto = files.Cert, files.Key, false
				fmt.Fprintf(cmd.OutOrStdout(), "moat TLS: clients must trust the local CA at %s\n", files.CA)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			for _, n := range srv.Notices {
				fmt.Fprintln(cmd.OutOrStdout(), "moat:", n)
			}
			scheme := "http"
			if cfg.TLSCert != "" {
				scheme = "https"
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					// Re-read flags, environment and the config file; apply the listeners.
					next, err := config.Load(cmd.Flags(), os.Getenv)
					if err == nil {
						err = srv.Reload(next)
					}
					if err != nil {
						slog.Error("reload on SIGHUP failed; the previous listeners stay", "err", err)
					} else {
						slog.Info("listeners, trusted proxies and TLS certificates reloaded")
					}
				}
			}()
			return srv.Run(ctx, func(addrs []net.Addr) {
				for _, a := range addrs {
					fmt.Fprintf(cmd.OutOrStdout(), "moat listening on %s://%s (data in %s, subscription %s)\n", scheme, a, cfg.DataDir, srv.Subscription())
				}
				slog.Info("moat started", "dataDir", cfg.DataDir, "blobStore", cfg.S3.Describe())
			})
		},
	}
	config.Flags(cmd.Flags())
	cmd.SetContext(context.Background())
	return cmd
}
