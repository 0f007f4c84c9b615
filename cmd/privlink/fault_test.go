package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
)

// faultYAML runs on 127.97.0.0/16 (no other test uses it).
const faultYAML = `
admin: {listen: "127.97.0.1:0"}
dns: {listen: "off"}
deny_action: reset
subnets:
  - {id: subnet-c, az: use1-az1, cidr: 127.97.1.0/24}
  - {id: subnet-p, az: use1-az1, cidr: 127.97.10.0/24}
services:
  - id: vpce-svc-0123456789abcdef0
    load_balancer:
      nodes: [{subnet: subnet-p, ip: 127.97.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - {name: tg, port: 9443, targets: [{ip: 127.97.10.20, subnet: subnet-p, builtin: echo}]}
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    interfaces: [{subnet: subnet-c, ip: 127.97.1.10}]
`

func TestFaultCommands(t *testing.T) {
	admin := startServer(t, "fault.yaml", faultYAML).AdminAddr()
	steps := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"fault", "ls", "--admin", admin}, 0, "(no faults)", ""},
		{[]string{"fault", "add", "--admin", admin, "--kind", "latency", "--latency", "200ms", "--direction", "to_client", "--id", "slow", "--scope", "service=vpce-svc-0123456789abcdef0"}, 0, "added fault slow (latency, active)", ""},
		{[]string{"fault", "add", "--admin", admin, "--kind", "az_outage", "--scope", "az=use1-az1", "--start-after", "1h"}, 0, "added fault az_outage-1 (az_outage, pending)", ""},
		{[]string{"fault", "add", "--admin", admin, "--kind", "az_outage", "--scope", "az=use1-az9"}, 1, "", "scope.az: no subnet or node is in AZ \"use1-az9\""},
		{[]string{"fault", "add", "--admin", admin, "--kind", "bandwidth", "--latency", "1s", "--rate-kbps", "10"}, 1, "", "latency: is not a parameter of bandwidth"},
		{[]string{"fault", "add", "--admin", admin, "--json", `{"kind":"limit_data","bytes":10,"colour":"red"}`}, 1, "", `unknown field "colour"`},
		{[]string{"fault", "add", "--admin", admin, "--scope", "az"}, 2, "", "--kind is required"},
		{[]string{"fault", "ls", "--admin", admin}, 0, "az_outage-1  az_outage  pending  az=use1-az1", ""},
		{[]string{"fault", "rm", "--admin", admin, "slow"}, 0, "removed fault slow", ""},
		{[]string{"fault", "rm", "--admin", admin, "slow"}, 1, "", `404 Not Found: not found: fault "slow"`},
	}
	for _, s := range steps {
		code, out, errOut := runCmd(t, s.args...)
		if code != s.code || !strings.Contains(out, s.out) || !strings.Contains(errOut, s.errOut) {
			t.Fatalf("privlink %s: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout containing %q, stderr containing %q",
				strings.Join(s.args, " "), code, out, errOut, s.code, s.out, s.errOut)
		}
	}
}

// Offline explain weighs the configuration's faults.
func TestExplainOfflineFault(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.yaml")
	y := faultYAML + "faults: [{id: az1-down, kind: az_outage, scope: {az: use1-az1}}]\n"
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "explain", "-c", file, "--from", "127.97.1.50", "--endpoint", "vpce-0123456789abcdef0")
	if code != 1 || !strings.Contains(out, "note: fault az1-down (az_outage): the AZ's interface answers no new connection") || !strings.Contains(out, "verdict: DENIED") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// startServer runs privlink on a configuration until the test ends.
func startServer(t *testing.T, name, y string) *proxy.Server {
	t.Helper()
	cfg, err := config.Parse(name, []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.Start(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
