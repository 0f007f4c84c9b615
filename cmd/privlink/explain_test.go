package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/acl"
)

// explainYAML is the embedded default with a NACL on the az1 endpoint subnet
// that lets replies reach only part of the Linux ephemeral range.
const explainYAML = `
subnets:
  - {id: subnet-c, az: use1-az1, cidr: 127.61.1.0/24, network_acl: acl-c}
  - {id: subnet-p, az: use1-az1, cidr: 127.61.10.0/24}
network_acls:
  - id: acl-c
    ingress: [{rule: 100, protocol: tcp, ports: "8443", cidr: 127.0.0.0/8, action: allow}]
    egress: [{rule: 100, protocol: tcp, ports: 32768-50000, cidr: 127.0.0.0/8, action: allow}]
security_groups:
  - id: sg-ep
    ingress: [{protocol: tcp, ports: "8443", cidr: 127.0.0.0/8}]
services:
  - id: vpce-svc-0123456789abcdef0
    load_balancer:
      nodes: [{subnet: subnet-p, ip: 127.61.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - {name: tg, port: 9443, targets: [{ip: 127.61.10.20, subnet: subnet-p}]}
endpoints:
  - id: vpce-0123456789abcdef0
    service: vpce-svc-0123456789abcdef0
    security_groups: [sg-ep]
    interfaces: [{subnet: subnet-c, ip: 127.61.1.10}]
`

func TestExplainCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "explain.yaml")
	if err := os.WriteFile(file, []byte(explainYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ep := "vpce-0123456789abcdef0"
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"allowed with a port", []string{"--from", "127.62.0.1:40000", "--endpoint", ep}, 0, "verdict: ALLOWED", ""},
		{"partial return path", []string{"--from", "127.62.0.1", "--endpoint", ep}, 1,
			"deny (ports 50001-60999)", ""},
		{"suggestion", []string{"--from", "127.62.0.1", "--endpoint", ep, "--port", "8443"}, 1,
			`add to network ACL acl-c egress: {rule: 110, protocol: tcp, ports: "32768-60999", cidr: 127.62.0.1/32, action: allow}`, ""},
		{"unknown endpoint", []string{"--from", "127.62.0.1", "--endpoint", "vpce-nope"}, 1, "",
			`privlink: acl: unknown endpoint "vpce-nope" (endpoints: vpce-0123456789abcdef0)`},
		{"unknown port", []string{"--from", "127.62.0.1", "--endpoint", ep, "--port", "80"}, 1, "",
			"has no listener on port 80 (listeners: 8443)"},
		{"missing from", []string{"--endpoint", ep}, 2, "", "--from is required"},
		{"bad from", []string{"--from", "nowhere", "--endpoint", ep}, 2, "", `--from: "nowhere" is not an IP address or IP:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"explain", "-c", file}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.wantStdout) || !strings.Contains(errOut, tt.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout ∋ %q, stderr ∋ %q",
					code, out, errOut, tt.code, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestExplainJSON(t *testing.T) {
	code, out, errOut := runCmd(t, "explain", "--from", "127.0.1.50:41000", "--endpoint", "vpce-0c1308d7312217abc", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Verdict string `json:"verdict"`
		Paths   []struct {
			Interface string `json:"interface"`
			Consumer  []struct {
				Hop     string `json:"hop"`
				Verdict string `json:"verdict"`
			} `json:"consumer"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Verdict != "allowed" || len(r.Paths) != 2 || r.Paths[0].Consumer[3].Hop != "endpoint_sg_ingress" || r.Paths[0].Consumer[3].Verdict != "allow" {
		t.Fatalf("report %+v", r)
	}
}

// validate accepts a rule that can never match (AWS does) but warns,
// naming the file, line and rule.
func TestValidateWarnsShadowedRule(t *testing.T) {
	y := strings.Replace(explainYAML,
		`ingress: [{rule: 100, protocol: tcp, ports: "8443", cidr: 127.0.0.0/8, action: allow}]`,
		`ingress: [{rule: 100, protocol: tcp, ports: "8443", cidr: 127.0.0.0/8, action: allow}, {rule: 200, protocol: tcp, ports: "8443", cidr: 127.0.1.0/24, action: deny}]`, 1)
	file := filepath.Join(t.TempDir(), "shadow.yaml")
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "validate", "-c", file)
	if code != 0 || !strings.Contains(stdout, "valid") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "warning: "+file+":7: network_acls[0].ingress[1]") || !strings.Contains(stderr, "rule 200 can never match") {
		t.Fatalf("no shadowed-rule warning in:\n%s", stderr)
	}
}

// explain --admin asks a running privlink: its endpoint's state decides
// (here rejected: the principal is not allowed), which the configuration
// alone explains otherwise once the endpoint is accepted at run time.
func TestExplainAdmin(t *testing.T) {
	y := strings.Replace(explainYAML, "  - id: vpce-svc-0123456789abcdef0\n",
		"  - id: vpce-svc-0123456789abcdef0\n    allowed_principals: [\"arn:aws:iam::444455556666:root\"]\n", 1)
	srv := startServer(t, "explain.yaml", "admin: {listen: \"127.61.0.1:0\"}\ndns: {listen: \"off\"}\n"+y)
	admin := srv.AdminAddr()
	args := []string{"explain", "--admin", admin, "--from", "127.62.0.1:40000", "--endpoint", "vpce-0123456789abcdef0"}
	code, out, errOut := runCmd(t, args...)
	if code != 1 || !strings.Contains(out, "live: the running instance's") ||
		!strings.Contains(out, "endpoint_state: vpce-0123456789abcdef0 state rejected: principal arn:aws:iam::111122223333:root is not in the allowed_principals") ||
		!strings.Contains(out, "verdict: DENIED") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	if err := srv.Accept("vpce-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, append(args, "--json")...)
	var r acl.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || !r.Live || r.Verdict != "allowed" || r.Paths[0].Targets[0].State != "initial" {
		t.Fatalf("after accept: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-c", "x.yaml"}, 2, "give -c FILE (offline) or --admin URL (a running privlink), not both"},
		{[]string{"--endpoint", "vpce-nope"}, 1, "admin API /v1/explain: 404 Not Found: acl: unknown endpoint"},
	} {
		code, _, errOut := runCmd(t, append(args, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d containing %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	// --to NAME: the running instance resolves the endpoint DNS name.
	eps := srv.Endpoints()
	if len(eps) == 0 || len(eps[0].DNSEntries) == 0 {
		t.Fatalf("no DNS entries: %+v", eps)
	}
	name := eps[0].DNSEntries[0].DNSName
	toArgs := []string{"explain", "--admin", admin, "--from", "127.62.0.1:40000", "--to", name, "--json"}
	code, out, errOut = runCmd(t, toArgs...)
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || !r.Live || r.Endpoint != "vpce-0123456789abcdef0" {
		t.Fatalf("--to %s: exit %d, stderr %q, stdout:\n%s", name, code, errOut, out)
	}
	code, _, errOut = runCmd(t, "explain", "--admin", admin, "--from", "127.62.0.1", "--to", "nope.example.com")
	if code != 1 || !strings.Contains(errOut, `query parameter "to"`) {
		t.Errorf("--to an unknown name: exit %d, stderr %q", code, errOut)
	}
}
