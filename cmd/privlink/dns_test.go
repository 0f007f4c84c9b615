package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy"
	"github.com/privlink/privlink/proxy/dns"
)

// The embedded default's endpoint and its names.
const defaultEndpoint = "vpce-0c1308d7312217abc"

func defaultName(az string) string {
	n := defaultEndpoint + "-" + dns.Suffix(defaultEndpoint)
	if az != "" {
		n += "-" + az
	}
	return n + ".vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"
}

// dnsYAML is the default topology moved to 127.55.x with DNS on
// 127.55.0.53 (port 0) and a private DNS name.
func dnsYAML(t *testing.T) string {
	t.Helper()
	y := strings.ReplaceAll(string(config.DefaultYAML()), "127.0.", "127.55.")
	y = strings.ReplaceAll(y, "127.55.0.0/8", "127.0.0.0/8")
	y = strings.Replace(y, "127.55.0.1:9480", "127.55.0.1:0", 1)
	y = strings.Replace(y, "127.55.0.1:8053, upstream: system", "127.55.0.53:0, upstream: \"off\"", 1)
	y = strings.Replace(y, "    acceptance_required: false\n", "    acceptance_required: false\n    private_dns_name: api.partner.example\n", 1)
	y = strings.Replace(y, "    security_groups: [sg-endpoint]\n", "    security_groups: [sg-endpoint]\n    private_dns_enabled: true\n", 1)
	file := filepath.Join(t.TempDir(), "dns.yaml")
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestHostsCommand(t *testing.T) {
	code, out, errOut := runCmd(t, "hosts", "-c", dnsYAML(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"127.55.1.10     " + defaultName("") + " " + defaultName("us-east-1a") + " api.partner.example\n",
		"127.55.2.10     " + defaultName("") + " " + defaultName("us-east-1b") + " api.partner.example\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hosts block lacks\n%s\n%s", want, out)
		}
	}
	if code, _, errOut := runCmd(t, "hosts", "-c", "/nonexistent.yaml"); code != 1 || !strings.Contains(errOut, "nonexistent.yaml") {
		t.Fatalf("missing file: exit %d %s", code, errOut)
	}
}

// explain --to takes a DNS name: a zonal name explains its AZ only.
func TestExplainTo(t *testing.T) {
	file := dnsYAML(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		azs    []string
		stderr string
	}{
		{"regional", []string{"--to", defaultName("")}, 0, []string{"use1-az1", "use1-az2"}, ""},
		{"zonal", []string{"--to", defaultName("us-east-1b")}, 0, []string{"use1-az2"}, ""},
		{"private name with port", []string{"--to", "API.partner.example.:8443"}, 0, []string{"use1-az1", "use1-az2"}, ""},
		{"unknown port", []string{"--to", defaultName("") + ":80"}, 1, nil, "has no listener on port 80"},
		{"ports disagree", []string{"--to", defaultName("") + ":8443", "--port", "80"}, 2, nil, "disagree on the port"},
		{"unknown name", []string{"--to", "vpce-0nope-abcdefgh.vpce-svc-1.us-east-1.vpce.amazonaws.com"}, 1, nil, "no endpoint has the name"},
		{"outside", []string{"--to", "example.com"}, 1, nil, "outside privlink's zones"},
		{"both", []string{"--to", "example.com", "--endpoint", defaultEndpoint}, 2, nil, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"explain", "-c", file, "--from", "127.55.1.50:41000", "--json"}, tt.args...)
			code, out, errOut := runCmd(t, args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("exit %d stderr %q; want %d ∋ %q", code, errOut, tt.code, tt.stderr)
			}
			if tt.azs == nil {
				return
			}
			var r struct {
				Endpoint string `json:"endpoint"`
				Paths    []struct {
					AZ string `json:"az"`
				} `json:"paths"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			var azs []string
			for _, p := range r.Paths {
				azs = append(azs, p.AZ)
			}
			if r.Endpoint != defaultEndpoint || !slices.Equal(azs, tt.azs) {
				t.Fatalf("explained %s in %v, want %v", r.Endpoint, azs, tt.azs)
			}
		})
	}
}

// The run banner names the regional name and how to dig it; the name
// answers on the DNS server.
func TestRunBannerDNS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "-c", dnsYAML(t), "--log-level", "warn"}, &out, &errb) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	}()
	dig := regexp.MustCompile(`dig @127\.55\.0\.53 -p (\d+) (\S+)`)
	deadline := time.Now().Add(5 * time.Second)
	for !dig.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no dig line; stdout %q stderr %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := dig.FindStringSubmatch(out.String())
	if m[2] != defaultName("") || !strings.Contains(out.String(), "DNS name   "+defaultName("")) {
		t.Fatalf("banner:\n%s", out.String())
	}
	got := digA(t, "127.55.0.53:"+m[1], m[2])
	if !slices.Equal(got, []string{"127.55.1.10", "127.55.2.10"}) {
		t.Fatalf("dig %s: %v", m[2], got)
	}
}

// digA asks server for the A records of name over UDP, as dig would.
func digA(t *testing.T, server, name string) []string {
	t.Helper()
	r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(new(mdns.Msg).SetQuestion(mdns.Fqdn(name), mdns.TypeA), server)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range r.Answer {
		out = append(out, rr.(*mdns.A).A.String())
	}
	return out
}

// The embedded default answers on 127.0.0.1:8053. That address may be
// taken by a privlink running on this machine, so the test runs itself
// again in a fresh network namespace (root and unshare needed).
func TestEmbeddedDefaultDNS(t *testing.T) {
	if os.Getenv("PRIVLINK_TEST_NETNS") == "" {
		runInNetns(t, "TestEmbeddedDefaultDNS")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--log-level", "warn"}, &out, &errb) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	}()
	want := "dig @127.0.0.1 -p 8053 " + defaultName("")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("banner lacks %q:\n%s\n%s", want, out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := digA(t, netip.MustParseAddrPort("127.0.0.1:8053").String(), defaultName("us-east-1b")); !slices.Equal(got, []string{"127.0.2.10"}) {
		t.Fatalf("zonal name on the default address: %v", got)
	}
}

// runInNetns runs one test of this binary in a new network namespace with
// only loopback up, and fails when it fails there.
func runInNetns(t *testing.T, test string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) to make a network namespace")
	}
	cmd := exec.Command(unshare, "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "netns",
		os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PRIVLINK_TEST_NETNS=1")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "unshare failed") {
		t.Skipf("cannot make a network namespace here: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s in a network namespace: %v\n%s", test, err, out)
	}
}

// The banner's dig hint names an endpoint that has DNS names, not an empty
// name when the first endpoint (an S3 interface endpoint) has none.
func TestDNSBannerSkipsEndpointsWithoutNames(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:8053")
	var b strings.Builder
	dnsBanner(&b, addr, []proxy.EndpointInfo{{ID: "vpce-0s3"}, {ID: "vpce-0a", DNSEntries: []dns.Entry{{DNSName: "vpce-0a-x.example"}}}})
	if want := "  DNS server: 127.0.0.1:8053 (UDP and TCP)  try: dig @127.0.0.1 -p 8053 vpce-0a-x.example\n"; b.String() != want {
		t.Errorf("banner %q, want %q", b.String(), want)
	}
	b.Reset()
	dnsBanner(&b, addr, []proxy.EndpointInfo{{ID: "vpce-0s3"}})
	if want := "  DNS server: 127.0.0.1:8053 (UDP and TCP)\n"; b.String() != want {
		t.Errorf("banner without names %q, want %q", b.String(), want)
	}
}
