package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/loadtest"
)

type loadtestFlags struct {
	target, mode, direction, source string
	conns, size                     int
	rate                            float64
	duration, timeout, resetWindow  time.Duration
	json                            bool
}

func newLoadtestCmd() *cobra.Command {
	f := &loadtestFlags{}
	cmd := &cobra.Command{
		Use:   "loadtest --target ADDR --mode connect|echo|stream [--conns N] [--rate R] [--duration D] [--size B] [--source CIDR] [--json]",
		Short: "Load-test a service (directly or through privlink): connections/s, echo latency, throughput",
		Long: `loadtest drives a TCP service and reports rates, HDR-histogram latency percentiles and
errors by class (refused, reset_before_data, reset, timeout, other).

  connect  open a connection, echo --size bytes (0: none), close; reports connections/s
  echo     --conns persistent connections sending --size-byte messages; msgs/s, latency
  stream   --conns connections moving --size-byte chunks; --direction up (target: sink),
           down (target: source) or both (target: echo); MB/s

Without --rate, --conns workers run back to back (closed loop). With --rate, operations
start on a fixed schedule (connect: new connections/s, echo: messages/s) and latency counts
from the scheduled start, so queueing is not hidden; --conns then caps those in flight.
--source spreads connections over the addresses of a CIDR (they must be local; any
127.0.0.0/8 address is). A progress line is shown when stderr is a terminal. The exit
status is 1 when no operation succeeded. Every flag can also be set from the environment
as PRIVLINK_LOADTEST_<FLAG>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLoadtest(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.target, "target", "", "host:port to load (required)")
	fs.StringVar(&f.mode, "mode", "echo", "connect, echo or stream")
	fs.IntVar(&f.conns, "conns", 8, "workers (closed loop) or the cap on operations in flight (with --rate; default then 1024)")
	fs.Float64Var(&f.rate, "rate", 0, "open loop: connections/s (connect) or messages/s (echo); 0 = closed loop")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run")
	fs.IntVar(&f.size, "size", 64, "message bytes (connect, echo) or chunk bytes (stream; default 65536)")
	fs.StringVar(&f.source, "source", "", "CIDR to spread source addresses over, e.g. 127.0.100.0/24")
	fs.StringVar(&f.direction, "direction", "up", "stream mode: up, down or both")
	fs.DurationVar(&f.timeout, "timeout", loadtest.DefaultTimeout, "bound on each connect, message or chunk")
	fs.DurationVar(&f.resetWindow, "reset-window", loadtest.DefaultResetWindow, "ignored")
	fs.MarkDeprecated("reset-window", "it is ignored: a reset is reset_before_data when no data came back before it, however late it comes")
	fs.BoolVar(&f.json, "json", false, "print one JSON object instead of the table")
	return cmd
}

func runLoadtest(cmd *cobra.Command, f *loadtestFlags) error {
	if err := applyEnv(cmd.LocalNonPersistentFlags(), "PRIVLINK_LOADTEST_"); err != nil {
		return err
	}
	opts, err := f.options(cmd)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	prog := newProgressLine(cmd.ErrOrStderr())
	res, err := loadtest.Run(ctx, opts, prog.show)
	prog.clear()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	out := cmd.OutOrStdout()
	if f.json {
		b, err := json.Marshal(res)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		fmt.Fprintln(out, string(b))
	} else {
		res.WriteText(out)
	}
	if res.Ops == 0 && res.BytesReceived == 0 {
		return &exitError{code: 1, err: fmt.Errorf("loadtest: no operation succeeded against %s", opts.Target)}
	}
	return nil
}

// options turns the flags into loadtest.Options; bad values are usage
// errors that name the flag.
func (f *loadtestFlags) options(cmd *cobra.Command) (loadtest.Options, error) {
	mode, err := loadtest.ParseWorkload(f.mode)
	if err != nil {
		return loadtest.Options{}, usageErr("--mode: %v", err)
	}
	o := loadtest.Options{Target: f.target, Mode: mode, Conns: f.conns, Rate: f.rate, Duration: f.duration,
		Size: f.size, Timeout: f.timeout}
	if err := f.check(); err != nil {
		return o, err
	}
	if f.rate > 0 && !cmd.Flags().Changed("conns") {
		o.Conns = 0 // the open-loop default
	}
	if mode == loadtest.WorkloadStream && !cmd.Flags().Changed("size") {
		o.Size = 0 // the stream default
	}
	switch f.direction {
	case "up":
		o.Upload = true
	case "down":
		o.Download = true
	case "both":
		o.Upload, o.Download = true, true
	default:
		return o, usageErr("--direction: %q is not up, down or both", f.direction)
	}
	if f.source != "" {
		p, err := parseTrust(f.source)
		if err != nil {
			return o, usageErr("--source: %q is not a CIDR or IP address", f.source)
		}
		o.Source = p
	}
	return o, nil
}

// check validates the flags loadtest.Options would also reject, so the
// message names the flag and the exit status is 2.
func (f *loadtestFlags) check() error {
	switch {
	case f.target == "":
		return usageErr("--target is required: the host:port to load")
	case !validHostPort(f.target):
		return usageErr("--target: %q is not host:port", f.target)
	case f.conns < 1:
		return usageErr("--conns: %d is not a positive number", f.conns)
	case f.rate < 0:
		return usageErr("--rate: %g is negative", f.rate)
	case f.rate > 0 && f.mode == string(loadtest.WorkloadStream):
		return usageErr("--rate: stream mode has no rate (it sends as fast as it can)")
	case f.duration <= 0:
		return usageErr("--duration: %v is not a positive duration", f.duration)
	case f.size < 0 || f.size > loadtest.MaxSize:
		return usageErr("--size: %d is not between 0 and %d", f.size, loadtest.MaxSize)
	case f.size == 0 && f.mode == string(loadtest.WorkloadEcho):
		return usageErr("--size: echo mode needs at least 1 byte")
	case f.timeout <= 0:
		return usageErr("--timeout: %v is not a positive duration", f.timeout)
	}
	return nil
}

// progressLine rewrites one status line on a terminal; on anything else
// it writes nothing.
type progressLine struct {
	w     io.Writer
	shown bool
}

func newProgressLine(w io.Writer) *progressLine {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		return &progressLine{w: w}
	}
	return &progressLine{}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (p *progressLine) show(s loadtest.Snapshot) {
	if p.w == nil {
		return
	}
	p.shown = true
	fmt.Fprintf(p.w, "\r\033[K%5.1fs  %d ops  %.0f/s  %d conns  up %.1f MB/s  down %.1f MB/s  %d errors",
		s.Elapsed.Seconds(), s.Ops, s.OpsPerSec, s.Conns, s.UploadMBps, s.DownloadMBps, s.Errors)
}

func (p *progressLine) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
