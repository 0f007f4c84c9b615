package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/privlink/privlink/proxy"
)

func newFaultCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fault add|ls|rm",
		Short: "Add, list and remove faults of a running privlink (docs/faults.md)",
		Long: `fault talks to the admin API of a running privlink (GET/POST /v1/faults,
DELETE /v1/faults/{id}). See docs/faults.md for every kind and its AWS counterpart.`,
	}
	cmd.AddCommand(newFaultAddCmd(), newFaultLsCmd(), newFaultRmCmd())
	return cmd
}

// faultParamFlags are add's flags that become JSON keys of the fault, by
// flag name (JSON key: the flag's name with - as _).
var faultParamFlags = []struct{ name, usage string }{
	{"id", "fault ID (default: the kind and a number)"},
	{"direction", "stream toxics: to_target or to_client (default both)"},
	{"start-after", "start this long after adding (Go duration)"},
	{"duration", "end this long after starting (default: until removed)"},
	{"latency", "latency: delay added to each segment"},
	{"jitter", "latency: ± random extra delay"},
	{"after", "reset_peer: reset this long after the flow starts"},
	{"timeout", "timeout: close after this long (0: hold forever)"},
	{"delay", "slow_close: delay of the close; slicer: delay between slices"},
	{"idle-timeout", "idle_timeout: the listener's idle timeout while the fault lasts"},
}

// faultIntFlags are add's integer parameters.
var faultIntFlags = []struct{ name, usage string }{
	{"rate-kbps", "bandwidth: KB/s per direction"},
	{"bytes", "reset_peer, limit_data: bytes after which the flow is reset or closed"},
	{"size", "slicer: bytes per slice"},
	{"budget", "port_budget: the pool's budget while the fault lasts"},
}

func newFaultAddCmd() *cobra.Command {
	var admin, kind, scope, body string
	var toxicity float64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add --kind KIND [--scope KEY=VALUE,...] [--PARAM VALUE ...] | add --json BODY",
		Short: "Add a fault (POST /v1/faults)",
		Example: `  privlink fault add --kind az_outage --scope az=use1-az1 --duration 30s
  privlink fault add --kind latency --latency 200ms --jitter 20ms --direction to_client --scope service=vpce-svc-03d5ebb7d9579a2b3
  privlink fault add --json '{"kind":"bandwidth","rate_kbps":512}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if body == "" {
				b, err := faultBody(cmd.Flags(), kind, scope, toxicity)
				if err != nil {
					return err
				}
				body = b
			}
			return addFault(cmd.Context(), cmd.OutOrStdout(), admin, body, asJSON)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&admin, "admin", DefaultAdminURL, "admin API of the running privlink (URL or host:port)")
	fs.StringVar(&kind, "kind", "", "the fault's kind: az_outage, target_blackhole, target_reset, node_reset_all, port_budget, idle_timeout, latency, bandwidth, reset_peer, timeout, slow_close, slicer, limit_data")
	fs.StringVar(&scope, "scope", "", "what it applies to: endpoint=,az=,node=,service=,target_group=,target=IP:PORT,listener=PORT")
	fs.Float64Var(&toxicity, "toxicity", 1, "chance (0-1) that a new flow gets the fault")
	fs.StringVar(&body, "json", "", "the whole fault as the JSON body of POST /v1/faults (other flags ignored)")
	fs.BoolVar(&asJSON, "print-json", false, "print the API's answer as JSON")
	for _, p := range faultParamFlags {
		fs.String(p.name, "", p.usage)
	}
	for _, p := range faultIntFlags {
		fs.Int(p.name, 0, p.usage)
	}
	return cmd
}

// faultBody builds the JSON body of POST /v1/faults from add's flags:
// only those given become keys, so the server names what is wrong.
func faultBody(fs *pflag.FlagSet, kind, scope string, toxicity float64) (string, error) {
	if kind == "" {
		return "", usageErr("--kind is required (or give the whole fault with --json)")
	}
	m := map[string]any{"kind": kind, "toxicity": toxicity}
	sc, err := parseScope(scope)
	if err != nil {
		return "", err
	}
	if len(sc) > 0 {
		m["scope"] = sc
	}
	for _, p := range faultParamFlags {
		if f := fs.Lookup(p.name); f.Changed {
			m[strings.ReplaceAll(p.name, "-", "_")] = f.Value.String()
		}
	}
	for _, p := range faultIntFlags {
		if f := fs.Lookup(p.name); f.Changed {
			n, _ := strconv.Atoi(f.Value.String())
			m[strings.ReplaceAll(p.name, "-", "_")] = n
		}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// parseScope reads KEY=VALUE,... into the scope's JSON object.
func parseScope(s string) (map[string]any, error) {
	out := map[string]any{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return nil, usageErr("--scope: %q is not KEY=VALUE (keys: endpoint, az, node, service, target_group, target, listener)", kv)
		}
		if k == "listener" {
			p, err := strconv.Atoi(v)
			if err != nil {
				return nil, usageErr("--scope: listener=%q is not a port", v)
			}
			out[k] = p
			continue
		}
		out[k] = v
	}
	return out, nil
}

func addFault(ctx context.Context, w io.Writer, admin, body string, asJSON bool) error {
	base, err := adminURL(admin)
	if err != nil {
		return err
	}
	resp, err := faultRequest(ctx, http.MethodPost, base+"/v1/faults", body, http.StatusCreated)
	if err != nil {
		return err
	}
	if asJSON {
		_, err = w.Write(resp)
		return err
	}
	var fi proxy.FaultInfo
	if err := json.Unmarshal(resp, &fi); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("/v1/faults: unexpected answer: %w", err)}
	}
	fmt.Fprintf(w, "added fault %s (%s, %s)\n", fi.ID, fi.Kind, fi.State)
	return nil
}

func newFaultLsCmd() *cobra.Command {
	var admin string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls [--admin URL] [--json]",
		Short: "List the faults (GET /v1/faults)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := adminURL(admin)
			if err != nil {
				return err
			}
			body, err := faultRequest(cmd.Context(), http.MethodGet, base+"/v1/faults", "", http.StatusOK)
			if err != nil {
				return err
			}
			if asJSON {
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			var fs []proxy.FaultInfo
			if err := json.Unmarshal(body, &fs); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("/v1/faults: unexpected answer: %w", err)}
			}
			printFaults(cmd.OutOrStdout(), fs)
			return nil
		},
	}
	cmd.Flags().StringVar(&admin, "admin", DefaultAdminURL, "admin API of the running privlink (URL or host:port)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	return cmd
}

func printFaults(w io.Writer, fs []proxy.FaultInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tSCOPE\tTOXICITY\tFLOWS\tSOURCE")
	for _, f := range fs {
		scope := f.Scope.String()
		if scope == "" {
			scope = "everything"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%g\t%d\t%s\n", f.ID, f.Kind, f.State, scope, float64(f.Toxicity), f.Flows, f.Source)
	}
	tw.Flush()
	if len(fs) == 0 {
		fmt.Fprintln(w, "(no faults)")
	}
}

func newFaultRmCmd() *cobra.Command {
	var admin string
	cmd := &cobra.Command{
		Use:   "rm ID... [--admin URL]",
		Short: "Remove faults (DELETE /v1/faults/{id})",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			base, err := adminURL(admin)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := faultRequest(cmd.Context(), http.MethodDelete, base+"/v1/faults/"+url.PathEscape(id), "", http.StatusNoContent); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed fault %s\n", id)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&admin, "admin", DefaultAdminURL, "admin API of the running privlink (URL or host:port)")
	return cmd
}

// faultRequest sends one request to the fault API and returns the body of
// an answer with status want; anything else is one clear sentence.
func faultRequest(ctx context.Context, method, u, body string, want int) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &exitError{code: 1, err: fmt.Errorf("cannot reach the admin API at %s (is privlink run running? set --admin): %w", req.URL.Host, errors.Unwrap(err))}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &exitError{code: 1, err: fmt.Errorf("admin API %s %s: %s: %s", method, req.URL.Path, resp.Status, e.Error)}
	}
	return b, nil
}
