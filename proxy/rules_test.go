package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/privlink/privlink/config"
)

// rulesLab is a one-AZ topology with every hop's rules replaceable:
//
//	client subnet P.5.0/24 ─▶ endpoint P.1.10:8443 (subnet P.1.0/24)
//	  ─▶ node P.10.5 (subnet P.10.0/24) ─▶ built-in echo target P.20.20:9443 (subnet P.20.0/24)
const rulesLabYAML = `
admin: {listen: "off"}
dns: {listen: "off"}
deny_action: reset
subnets:
  - {id: subnet-client, az: use1-az1, cidr: P.5.0/24, network_acl: "CLIENT_NACL"}
  - {id: subnet-ep, az: use1-az1, cidr: P.1.0/24, network_acl: "EP_NACL"}
  - {id: subnet-node, az: use1-az1, cidr: P.10.0/24, network_acl: "NODE_NACL"}
  - {id: subnet-target, az: use1-az1, cidr: P.20.0/24, network_acl: "TARGET_NACL"}
clients: CLIENTS
security_groups:
  - {id: sg-open, ingress: [{protocol: tcp, ports: 1-65535, cidr: 127.0.0.0/8}]}
SGS
network_acls:
  - id: acl-open
    ingress: [{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}]
    egress: [{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}]
NACLS
services:
  - id: vpce-svc-03d5ebb7d9579a2b3
    load_balancer:
      security_groups: NLB_SGS
      enforce_inbound_rules_on_privatelink: ENFORCE
      nodes: [{subnet: subnet-node, ip: P.10.5}]
      listeners: [{port: 8443, target_group: tg}]
    target_groups:
      - name: tg
        port: 9443
        health_check: {enabled: false}
        targets: [{ip: P.20.20, subnet: subnet-target, security_groups: TARGET_SGS, builtin: echo}]
endpoints:
  - id: vpce-0c1308d7312217abc
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: EP_SGS
    interfaces: [{subnet: subnet-ep, ip: P.1.10}]
`

type rulesCase struct {
	name string
	// vars replace the placeholders of rulesLabYAML (defaults: everything open).
	vars map[string]string
	// client host part (e.g. "5.50") and the hop that must deny it ("" = allowed).
	client string
	hop    string
}

func (rc rulesCase) yaml(p string) string {
	vars := map[string]string{
		"CLIENT_NACL": "", "EP_NACL": "", "NODE_NACL": "", "TARGET_NACL": "",
		"CLIENTS": "[]", "SGS": "", "NACLS": "", "NLB_SGS": "[]", "ENFORCE": "true",
		"TARGET_SGS": "[sg-open]", "EP_SGS": "[sg-open]",
	}
	for k, v := range rc.vars {
		vars[k] = v
	}
	var pairs []string
	for _, k := range []string{"CLIENT_NACL", "EP_NACL", "NODE_NACL", "TARGET_NACL", "CLIENTS", "NLB_SGS", "ENFORCE", "TARGET_SGS", "EP_SGS", "SGS", "NACLS"} {
		pairs = append(pairs, k, vars[k])
	}
	y := strings.NewReplacer(pairs...).Replace(rulesLabYAML)
	return strings.ReplaceAll(y, "P.", p+".")
}

// AWS's documented rule behaviours, each decided by a real connection
// and by GET /v1/explain, which must agree.
func TestRulesOverRealSockets(t *testing.T) {
	for _, rc := range []rulesCase{
		{name: "everything open", client: "5.50"},
		{name: "stateless return path needs the client's ephemeral port",
			vars: map[string]string{"EP_NACL": "acl-ep", "NACLS": `  - id: acl-ep
    ingress: [{rule: 100, protocol: tcp, ports: "8443", cidr: 127.0.0.0/8, action: allow}]
    egress: [{rule: 100, protocol: tcp, ports: 1024-32767, cidr: 127.0.0.0/8, action: allow}]`},
			client: "5.50", hop: "endpoint_nacl_egress_return"},
		{name: "return path with the ephemeral range allowed",
			vars: map[string]string{"EP_NACL": "acl-ep", "NACLS": `  - id: acl-ep
    ingress: [{rule: 100, protocol: tcp, ports: "8443", cidr: 127.0.0.0/8, action: allow}]
    egress: [{rule: 100, protocol: tcp, ports: 1024-65535, cidr: 127.0.0.0/8, action: allow}]`},
			client: "5.50"},
		{name: "first match wins over a later allow",
			vars: map[string]string{"EP_NACL": "acl-ep", "NACLS": `  - id: acl-ep
    ingress: [{rule: 90, protocol: tcp, ports: "8443", cidr: P.5.50/32, action: deny}, {rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}]
    egress: [{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}]`},
			client: "5.50", hop: "endpoint_nacl_ingress"},
		{name: "a lower-numbered allow wins over a later deny",
			vars: map[string]string{"EP_NACL": "acl-ep", "NACLS": `  - id: acl-ep
    ingress: [{rule: 80, protocol: all, cidr: 0.0.0.0/0, action: allow}, {rule: 90, protocol: tcp, ports: "8443", cidr: P.5.50/32, action: deny}]
    egress: [{rule: 100, protocol: all, cidr: 0.0.0.0/0, action: allow}]`},
			client: "5.50"},
		{name: "same subnet skips NACLs",
			vars:   map[string]string{"EP_NACL": "acl-deny", "NACLS": "  - {id: acl-deny, ingress: [], egress: []}"},
			client: "1.50"},
		{name: "a custom NACL without rules denies all",
			vars:   map[string]string{"EP_NACL": "acl-deny", "NACLS": "  - {id: acl-deny, ingress: [], egress: []}"},
			client: "5.50", hop: "endpoint_nacl_ingress"},
		{name: "SG union: first group",
			vars: sgUnion(), client: "5.50"},
		{name: "SG union: second group",
			vars: sgUnion(), client: "5.200"},
		{name: "SG union: neither group",
			vars: sgUnion(), client: "6.50", hop: "endpoint_sg_ingress"},
		{name: "endpoint without SGs: VPC default SG admits no outsider",
			vars: map[string]string{"EP_SGS": "[]"}, client: "5.50", hop: "endpoint_sg_ingress"},
		{name: "referenced SG: member",
			vars: referenced(), client: "5.50"},
		{name: "referenced SG: non-member",
			vars: referenced(), client: "5.60", hop: "endpoint_sg_ingress"},
		{name: "known client SG egress",
			vars: map[string]string{"CLIENTS": "[{cidr: P.5.50/32, subnet: subnet-client, security_groups: [sg-noegress]}]",
				"SGS": "  - {id: sg-noegress, egress: []}"},
			client: "5.50", hop: "client_sg_egress"},
		{name: "NLB SG enforced: source is the client IP",
			vars: nlbSG("true"), client: "5.200", hop: "nlb_sg_ingress"},
		{name: "NLB SG enforced: allowed client",
			vars: nlbSG("true"), client: "5.50"},
		{name: "NLB SG not enforced on PrivateLink traffic",
			vars: nlbSG("false"), client: "5.200"},
		{name: "target SG must allow the node IP, not the client",
			vars: map[string]string{"TARGET_SGS": "[sg-clients-only]",
				"SGS": "  - {id: sg-clients-only, ingress: [{protocol: tcp, ports: \"9443\", cidr: P.5.0/24}]}"},
			client: "5.50", hop: "target_sg_ingress"},
		{name: "target SG allowing the node subnet",
			vars: map[string]string{"TARGET_SGS": "[sg-nodes]",
				"SGS": "  - {id: sg-nodes, ingress: [{protocol: tcp, ports: \"9443\", cidr: P.10.0/24}]}"},
			client: "5.50"},
		{name: "target SG referencing the NLB SG",
			vars: map[string]string{"TARGET_SGS": "[sg-from-nlb]", "NLB_SGS": "[sg-open]",
				"SGS": "  - {id: sg-from-nlb, ingress: [{protocol: tcp, ports: \"9443\", source_group: sg-open}]}"},
			client: "5.50"},
		{name: "target NACL return path to the node's port",
			vars: map[string]string{"TARGET_NACL": "acl-t", "NACLS": `  - id: acl-t
    ingress: [{rule: 100, protocol: tcp, ports: "9443", cidr: 127.0.0.0/8, action: allow}]
    egress: [{rule: 100, protocol: tcp, ports: "9443", cidr: 127.0.0.0/8, action: allow}]`},
			client: "5.50", hop: "target_nacl_egress_return"},
	} {
		t.Run(rc.name, func(t *testing.T) {
			p := labNet()
			cfg, err := config.Parse(t.Name()+".yaml", []byte(rc.yaml(p)))
			if err != nil {
				t.Fatalf("%v\n%s", err, rc.yaml(p))
			}
			reg := prometheus.NewRegistry()
			srv, err := Start(cfg, Options{Registry: reg, DialTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			client := netip.MustParseAddr(p + "." + rc.client)
			// By a real connection.
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, 0)), Timeout: 2 * time.Second}
			c, err := d.Dial("tcp", p+".1.10:8443")
			var conn *net.TCPConn
			if err == nil {
				conn = c.(*net.TCPConn)
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				if rc.hop == "" {
					if err := echo(t, conn, "allowed?"); err != nil {
						t.Fatalf("allowed flow: %v", err)
					}
				}
			}
			if rc.hop != "" {
				if err := resetSeen(conn, err); err != nil {
					t.Fatalf("denied flow: %v", err)
				}
				want := 1.0
				if got := testutil.ToFloat64(srv.m.rejected.WithLabelValues("vpce-svc-03d5ebb7d9579a2b3", rc.hop)); got != want {
					t.Errorf("rejected_flows_total{hop=%s} = %v, want %v", rc.hop, got, want)
				}
			}
			// By explain on the running instance.
			rep := explainHTTP(t, srv, client)
			if allowed := rep.Verdict == "allowed"; allowed != (rc.hop == "") {
				t.Fatalf("explain verdict %q, connection said hop=%q", rep.Verdict, rc.hop)
			}
			if rc.hop != "" && !strings.Contains(rep.raw, `"hop": "`+rc.hop+`"`) {
				t.Fatalf("explain does not name hop %s:\n%s", rc.hop, rep.raw)
			}
		})
	}
}

func sgUnion() map[string]string {
	return map[string]string{"EP_SGS": "[sg-low, sg-high]", "SGS": `  - {id: sg-low, ingress: [{protocol: tcp, ports: "8443", cidr: P.5.0/25}]}
  - {id: sg-high, ingress: [{protocol: tcp, ports: "8443", cidr: P.5.128/25}]}`}
}

func referenced() map[string]string {
	return map[string]string{"EP_SGS": "[sg-ep]",
		"CLIENTS": "[{cidr: P.5.50/32, subnet: subnet-client, security_groups: [sg-client]}]",
		"SGS": `  - {id: sg-client}
  - {id: sg-ep, ingress: [{protocol: tcp, ports: "8443", source_group: sg-client}]}`}
}

func nlbSG(enforce string) map[string]string {
	return map[string]string{"NLB_SGS": "[sg-nlb]", "ENFORCE": enforce,
		"SGS": `  - {id: sg-nlb, ingress: [{protocol: tcp, ports: "8443", cidr: P.5.0/25}]}`}
}

type explainReply struct {
	Verdict string `json:"verdict"`
	raw     string
}

func explainHTTP(t *testing.T, srv *Server, client netip.Addr) explainReply {
	t.Helper()
	w := httptest.NewRecorder()
	req, _ := http.NewRequest("GET", "/v1/explain?from="+client.String()+"&endpoint="+endpointID+"&port=8443", nil)
	srv.Handler().ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("explain: %d %s", w.Code, w.Body.String())
	}
	var rep explainReply
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	rep.raw = w.Body.String()
	return rep
}

// Bad explain queries name the parameter at fault.
func TestExplainAPIErrors(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	url := l.admin()
	for q, want := range map[string]string{
		"":                                   `\"from\" is required`,
		"from=banana&endpoint=" + endpointID: `\"from\": \"banana\" is not an IP`,
		"from=127.0.0.1":                     `\"endpoint\" is required`,
		"from=127.0.0.1&endpoint=vpce-nope":  "vpce-nope",
		"from=127.0.0.1&endpoint=" + endpointID + "&port=99999": `\"port\": \"99999\" is not a port`,
	} {
		resp, err := http.Get(url + "/v1/explain?" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 || !strings.Contains(string(b), want) {
			t.Errorf("?%s: %d %s, want 4xx containing %q", q, resp.StatusCode, b, want)
		}
	}
}

// Health checks obey the rules: a target SG that does not allow the node
// fails them (as a timeout, AWS drops the SYN), naming the hop.
func TestHealthChecksObeyRules(t *testing.T) {
	p := labNet()
	rc := rulesCase{vars: map[string]string{"TARGET_SGS": "[sg-clients-only]",
		"SGS": "  - {id: sg-clients-only, ingress: [{protocol: tcp, ports: \"9443\", cidr: P.5.0/24}]}"}}
	y := strings.Replace(rc.yaml(p), "health_check: {enabled: false}",
		"health_check: {interval: 100ms, timeout: 80ms, healthy_threshold: 2, unhealthy_threshold: 2}", 1)
	cfg, err := config.Parse("health-rules.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(cfg, Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	waitFor(t, func() bool {
		ts := srv.Targets()
		return len(ts) == 1 && ts[0].State == StateUnhealthy
	}, "the target unhealthy")
	ti := srv.Targets()[0]
	if ti.Reason != ReasonFailedHealth || !strings.Contains(ti.Description, "target_sg_ingress") {
		t.Fatalf("target %+v: want Target.FailedHealthChecks naming target_sg_ingress", ti)
	}
}

// A reload that fails (here: a listener port already in use) changes no
// rule: the old generation's rules still decide new connections.
func TestFailedReloadKeepsRules(t *testing.T) {
	p := labNet()
	open := rulesCase{}
	parse := func(y string) *config.Config {
		cfg, err := config.Parse("rules.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	srv, err := Start(parse(open.yaml(p)), Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	blocker, err := net.Listen("tcp", p+".1.10:8444")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	closed := rulesCase{vars: map[string]string{"TARGET_SGS": "[sg-none]", "SGS": "  - {id: sg-none}"}}
	bad := strings.Replace(closed.yaml(p), "listeners: [{port: 8443, target_group: tg}]",
		"listeners: [{port: 8443, target_group: tg}, {port: 8444, target_group: tg}]", 1)
	if err := srv.Reload(parse(bad)); err == nil {
		t.Fatal("reload onto a used port succeeded")
	}
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(p + ".5.50:0")), Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", p+".1.10:8443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echo(t, c.(*net.TCPConn), "old rules"); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}
