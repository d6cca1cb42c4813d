// Command moat-bench is moat's load generator and the limit server it is
// compared with (docs/benchmarks.md). It is a tool beside the product: the
// moat binary does not carry it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moat-registry/moat/tools/bench"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	if err := newBench().Execute(); err != nil {
		os.Exit(1)
	}
}

// newBench is `moat-bench` (the load generator of docs/benchmarks.md),
// `moat-bench limit-server` (the reference server it is compared with) and
// `moat-bench prepare` (the benchmark registry on a moat server).
func newBench() *cobra.Command {
	var cfg bench.Config
	var proxySource string
	var blobMiB int
	cmd := &cobra.Command{
		Use:   "moat-bench",
		Short: "Load-test a registry: blob push/pull MB/s, manifest HEAD and token req/s, many nodes pulling one image (JSON)",
		Long: "Runs the benchmark workload against --registry and prints JSON. Only that URL is contacted.\n" +
			"When /v2/ answers a Bearer challenge, --username/--password get a token from its realm (cached).\n" +
			"Blobs are generated from a PRNG and streamed; pulled blobs are verified against their digests.",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if proxySource != "" {
				a, err := netip.ParseAddr(proxySource)
				if err != nil {
					return fmt.Errorf("--proxy-source: %v", err)
				}
				cfg.ProxySource = a.Unmap()
			}
			cfg.BlobSize = int64(blobMiB) << 20
			return printRun(cmd, func(ctx context.Context) (*bench.Result, error) { return bench.Run(ctx, cfg) })
		},
	}
	generatorFlags(cmd.Flags(), &cfg, &blobMiB, &proxySource)
	_ = cmd.MarkFlagRequired("registry")
	_ = cmd.MarkFlagRequired("repository")
	cmd.AddCommand(newBenchLimitServer(), newBenchPrepare(), newBenchReport(), newBenchS3Direct())
	return cmd
}

// printRun runs a benchmark until it ends or the process is interrupted and
// prints its result as JSON.
func printRun(cmd *cobra.Command, run func(context.Context) (*bench.Result, error)) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// generatorFlags are the load generator's flags, shared with s3-direct so
// that scripts/bench passes both the same arguments.
func generatorFlags(f *pflag.FlagSet, cfg *bench.Config, blobMiB *int, proxySource *string) {
	f.StringVar(&cfg.Registry, "registry", "", "registry base URL, e.g. http://127.0.0.1:5000 (required)")
	f.StringVar(&cfg.Repository, "repository", "", "repository as the client addresses it, e.g. reg1/bench (required)")
	f.StringVar(&cfg.Username, "username", "", "user for Docker token auth (used when the registry asks for a token)")
	f.StringVar(&cfg.Password, "password", "", "password for --username")
	f.StringVar(proxySource, "proxy-source", "", "open every connection with a PROXY protocol v2 header claiming this source IP")
	f.IntVar(&cfg.Blobs, "blobs", 16, "blobs pushed then pulled")
	f.IntVar(blobMiB, "blob-mib", 32, "size of each blob in MiB")
	f.IntVar(&cfg.Concurrency, "concurrency", 4, "blob transfers in flight")
	f.IntVar(&cfg.HeadConc, "head-concurrency", 16, "manifest HEAD and token requests in flight")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the manifest HEAD run and of the token run")
	f.IntVar(&cfg.MaxRequests, "max-requests", 1_000_000, "most requests of the manifest HEAD run and of the token run")
	f.IntVar(&cfg.Nodes, "nodes", 8, "clients of the many-nodes-pulling-one-image run")
	f.IntVar(&cfg.Layers, "layers", 4, "layers of that image (taken from the pushed blobs)")
	f.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "bound of the whole run")
	f.BoolVar(&cfg.HeadOnly, "head-only", false, "stop after the manifest HEAD run (with small --blobs/--blob-mib: a short HEAD slice)")
	f.IntVar(&cfg.ServerPID, "server-pid", 0, "the registry's process on this host: report its resident memory around the blob push and pull")
}

func newBenchS3Direct() *cobra.Command {
	var cfg bench.Config
	var d bench.S3Direct
	var blobMiB, partMiB int
	var ignored string
	cmd := &cobra.Command{
		Use:   "s3-direct",
		Short: "The baseline of moat on S3: push and pull the same blobs straight to and from a bucket, as moat's store would (JSON)",
		Long: "Pushes --blobs blobs of --blob-mib MiB at --concurrency into the bucket of --s3 (multipart, parts of --part-mib,\n" +
			"UNSIGNED-PAYLOAD, the S3 client moat builds), pulls them back verifying digests, deletes them, and prints\n" +
			"the generator's JSON (blob_push, blob_pull). The generator's other flags are accepted and ignored.",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.BlobSize = int64(blobMiB) << 20
			d.PartSize = int64(partMiB) << 20
			return printRun(cmd, func(ctx context.Context) (*bench.Result, error) { return bench.RunS3Direct(ctx, cfg, d) })
		},
	}
	generatorFlags(cmd.Flags(), &cfg, &blobMiB, &ignored)
	cmd.Flags().StringVar(&d.URL, "s3", "", "bucket as http://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET (required)")
	cmd.Flags().IntVar(&partMiB, "part-mib", 0, "multipart part size in MiB (0: moat's default)")
	_ = cmd.MarkFlagRequired("s3")
	return cmd
}

func newBenchPrepare() *cobra.Command {
	var s bench.Setup
	cmd := &cobra.Command{
		Use:   "prepare",
		Short: "Create the benchmark registry on a moat server: Premium, default action Deny, IP and virtual-network rules",
		Long: "Creates or updates --name through the management API. With --ip-rules > 0 the registry denies by default\n" +
			"and only its last IP rule allows the address printed, to pass to moat-bench --proxy-source.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := bench.Prepare(cmd.Context(), s)
			if err != nil {
				return err
			}
			if addr.IsValid() {
				fmt.Fprintln(cmd.OutOrStdout(), addr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Server, "server", "", "moat base URL, e.g. http://127.0.0.1:5000 (required)")
	f.StringVar(&s.Username, "username", "admin", "user who may create registries")
	f.StringVar(&s.Password, "password", "", "password for --username (required)")
	f.StringVar(&s.Registry, "name", "benchreg", "registry name")
	f.IntVar(&s.IPRules, "ip-rules", 200, "IP rules (0: default action Allow, no rules)")
	f.IntVar(&s.VNetRules, "vnet-rules", 100, "virtual-network rules (with --ip-rules > 0)")
	f.IntVar(&s.Extra, "extra-registries", 0, "also create this many registries <name>x0001... with default settings")
	_ = cmd.MarkFlagRequired("server")
	_ = cmd.MarkFlagRequired("password")
	return cmd
}

func newBenchLimitServer() *cobra.Command {
	var listen, dir string
	var durable bool
	cmd := &cobra.Command{
		Use:   "limit-server",
		Short: "Run the reference limit registry (no metadata, no auth) that moat-bench results are compared with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := bench.NewLimitServer(dir)
			if err != nil {
				return err
			}
			s.Durable = durable
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "limit server: http://%s\n", ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); ln.Close() }()
			return s.Serve(ln)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5001", "address to listen on (port 0: any free port)")
	cmd.Flags().StringVar(&dir, "dir", "", "directory for blobs and uploads (required)")
	cmd.Flags().BoolVar(&durable, "fsync", false, "fsync each blob before acknowledging it (the least work of a durable registry)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newBenchReport() *cobra.Command {
	var dir, appendTo string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Summarise a scripts/bench result directory: medians, per-slice ratios, a Markdown section (and summary.json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := bench.LoadReport(dir)
			if err != nil {
				return err
			}
			raw, _ := json.MarshalIndent(r, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(raw, '\n'), 0o644); err != nil {
				return err
			}
			r.Markdown(cmd.OutOrStdout())
			if appendTo == "" {
				return nil
			}
			f, err := os.OpenFile(appendTo, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			r.Markdown(f)
			return f.Close()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "test-results/bench", "directory of the run's JSON results")
	cmd.Flags().StringVar(&appendTo, "append", "", "also append the Markdown section to this file (docs/benchmarks.md)")
	return cmd
}
