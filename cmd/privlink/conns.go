package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/conntrack"
)

// DefaultAdminURL is where privlink run serves its admin API by default.
const DefaultAdminURL = "http://127.0.0.1:9480"

type connsFlags struct {
	admin    string
	watch    bool
	json     bool
	endpoint string
	target   string
	state    string
}

func newConnsCmd() *cobra.Command {
	f := &connsFlags{}
	cmd := &cobra.Command{
		Use:   "conns [--admin URL] [--watch] [--json] [--endpoint ID] [--target IP[:PORT]] [--state STATE]",
		Short: "List (or stream) the connections a running privlink tracks",
		Long: `conns reads GET /v1/connections of a running privlink and prints one row per
connection: its original tuple (client → endpoint interface), its translated tuple
(node IP:allocated port → target), age and traffic. --watch follows
GET /v1/connections/stream instead: one line per event (new, established, closed,
denied with the hop and rule that denied it, failed with why the target was not
reached, expired) until interrupted. --json prints the API's JSON unchanged.
Every flag can also be set as PRIVLINK_CONNS_<FLAG>, e.g. PRIVLINK_CONNS_ADMIN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConns(cmd, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.admin, "admin", DefaultAdminURL, "admin API of the running privlink (URL or host:port)")
	fs.BoolVarP(&f.watch, "watch", "w", false, "stream connection events until interrupted")
	fs.BoolVar(&f.json, "json", false, "print JSON (an array, or one event per line with --watch)")
	fs.StringVar(&f.endpoint, "endpoint", "", "only connections of this endpoint ID")
	fs.StringVar(&f.target, "target", "", "only connections to this target IP or IP:port")
	fs.StringVar(&f.state, "state", "", "only connections in this state: new, established, closing, denied, expired, failed")
	return cmd
}

func runConns(cmd *cobra.Command, f *connsFlags) error {
	if err := applyEnv(cmd.LocalNonPersistentFlags(), "PRIVLINK_CONNS_"); err != nil {
		return err
	}
	base, query, err := f.request()
	if err != nil {
		return err
	}
	if f.watch {
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return watchConns(ctx, cmd.OutOrStdout(), base+"/v1/connections/stream?"+query, f.json)
	}
	return listConns(cmd.Context(), cmd.OutOrStdout(), base+"/v1/connections?"+query, f.json)
}

// request checks the flags and returns the admin base URL and the query.
func (f *connsFlags) request() (string, string, error) {
	base, err := adminURL(f.admin)
	if err != nil {
		return "", "", err
	}
	q := url.Values{}
	for name, v := range map[string]string{"endpoint": f.endpoint, "target": f.target, "state": f.state} {
		if v != "" {
			q.Set(name, v)
		}
	}
	if _, err := conntrack.ParseFilter(q); err != nil {
		return "", "", usageErr("--%s", err)
	}
	return base, q.Encode(), nil
}

// get performs a GET and turns transport failures and API errors into one
// clear sentence.
func get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &exitError{code: 1, err: fmt.Errorf("cannot reach the admin API at %s (is privlink run running? set --admin): %w", req.URL.Host, errors.Unwrap(err))}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Error string }
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return nil, &exitError{code: 1, err: fmt.Errorf("admin API %s: %s: %s", req.URL.Path, resp.Status, e.Error)}
	}
	return resp, nil
}

func listConns(ctx context.Context, w io.Writer, u string, raw bool) error {
	resp, err := get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("read /v1/connections: %w", err)}
	}
	if raw {
		_, err = w.Write(body)
		return err
	}
	var views []conntrack.View
	if err := json.Unmarshal(body, &views); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("/v1/connections: unexpected answer: %w", err)}
	}
	printConns(w, views, time.Now())
	return nil
}

// printConns writes the table of connections.
func printConns(w io.Writer, views []conntrack.View, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCLIENT\tENDPOINT-IFACE\tNODE\tTARGET\tAGE\tBYTES↑\tBYTES↓\tPKTS")
	for _, v := range views {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", v.ID, v.State,
			addr(v.Client), addr(v.Iface), addr(v.Node), addr(v.Target), age(now.Sub(v.Start)),
			size(v.ClientSide.BytesIn), size(v.ClientSide.BytesOut), v.ClientSide.PktsIn, v.ClientSide.PktsOut)
	}
	tw.Flush()
	if len(views) == 0 {
		fmt.Fprintln(w, "(no connections)")
	}
}

func watchConns(ctx context.Context, w io.Writer, u string, raw bool) error {
	resp, err := get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if raw {
			fmt.Fprintf(w, "%s\n", sc.Bytes())
			continue
		}
		var ev conntrack.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("/v1/connections/stream: unexpected line: %w", err)}
		}
		fmt.Fprintln(w, eventLine(&ev))
	}
	if ctx.Err() != nil {
		return nil // interrupted
	}
	if err := sc.Err(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("/v1/connections/stream: %w", err)}
	}
	return nil // the server closed the stream (shutdown)
}

// eventLine renders one event for --watch.
func eventLine(ev *conntrack.Event) string {
	ts := ev.Time.Local().Format("15:04:05.000")
	if ev.Type == conntrack.EventDropped {
		return fmt.Sprintf("%s dropped     %d events (this reader fell behind)", ts, ev.Dropped)
	}
	v := &ev.Conn
	line := fmt.Sprintf("%s %-11s #%d %s → %s", ts, ev.Type, v.ID, addr(v.Client), addr(v.Iface))
	if v.Node.IsValid() || v.Target.IsValid() {
		line += fmt.Sprintf(" via %s → %s", addr(v.Node), addr(v.Target))
	}
	line += " (" + v.Endpoint + ")"
	switch ev.Type {
	case conntrack.EventClosed, conntrack.EventExpired:
		line += fmt.Sprintf(" %s↑ %s↓ after %s", size(v.ClientSide.BytesIn), size(v.ClientSide.BytesOut), age(ev.Time.Sub(v.Start)))
	case conntrack.EventDenied:
		line += fmt.Sprintf(" hop=%s rule=%s", v.Hop, v.Rule)
	case conntrack.EventFailed:
		line += " reason=" + v.Reason
	}
	if v.Fault != "" {
		line += " fault=" + v.Fault
	}
	return line
}

func addr(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "-"
	}
	return ap.String()
}

// age is a duration in whole seconds (or milliseconds below a second).
func age(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// size is a byte count in B, KiB, MiB or GiB.
func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 2 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%s", v, [...]string{"KiB", "MiB", "GiB"}[i])
}
