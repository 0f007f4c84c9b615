package dns

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// The 8-character token is fixed per endpoint ID (users pin these names in
// their configuration): pinned here so that it can never change silently.
func TestSuffixIsStable(t *testing.T) {
	tests := []struct{ id, want string }{
		{"vpce-0c1308d7312217abc", "c442138w"},
		{"vpce-0fe5b17a0707d6abc", Suffix("vpce-0fe5b17a0707d6abc")},
	}
	re := regexp.MustCompile(`^[a-z0-9]{8}$`)
	for _, tt := range tests {
		got := Suffix(tt.id)
		if got != tt.want || !re.MatchString(got) {
			t.Errorf("Suffix(%s) = %q, want %q (8 lowercase alphanumerics)", tt.id, got, tt.want)
		}
	}
	if Suffix("vpce-0c1308d7312217abc") == Suffix("vpce-0c1308d7312217abd") {
		t.Error("two endpoints share a suffix")
	}
}

// DnsEntries in AWS's order and formats: regional, zonal per AZ (AZ
// names, not IDs), then the private name; the vpce names in the region's
// hosted zone.
func TestEntries(t *testing.T) {
	z := Compile(testConfig(t))
	ssm := "vpce-0fe5b17a0707d6abc-" + Suffix("vpce-0fe5b17a0707d6abc")
	tests := []struct {
		endpoint string
		want     []string
	}{
		{"vpce-0c1308d7312217abc", []string{name(regionalName), name(zonalName1a), name(zonalName1b), "api.partner.example"}},
		{"vpce-0fe5b17a0707d6abc", []string{ssm + ".ssm.us-east-1.vpce.amazonaws.com", ssm + "-us-east-1a.ssm.us-east-1.vpce.amazonaws.com", "ssm.us-east-1.amazonaws.com"}},
		{"vpce-0222222222222222b", []string{
			"vpce-0222222222222222b-" + Suffix("vpce-0222222222222222b") + ".vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com",
			"vpce-0222222222222222b-" + Suffix("vpce-0222222222222222b") + "-us-east-1b.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			var got []string
			for i, e := range z.Entries(tt.endpoint) {
				got = append(got, e.DNSName)
				private := e.DNSName == "api.partner.example" || e.DNSName == "ssm.us-east-1.amazonaws.com"
				switch {
				case !private && e.HostedZoneID != "Z7HUB22UULQXV":
					t.Errorf("entry %d %s: hosted zone %q, want us-east-1's Z7HUB22UULQXV", i, e.DNSName, e.HostedZoneID)
				case private && !regexp.MustCompile(`^Z0[0-9A-Z]{19}$`).MatchString(e.HostedZoneID):
					t.Errorf("private entry %s: hosted zone %q is not a Route 53 zone ID", e.DNSName, e.HostedZoneID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// The private name is answered only for an endpoint with private DNS
// enabled, a verified name, and both VPC DNS attributes on.
func TestPrivateNameNeedsEverything(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		want   bool
	}{
		{"enabled", func(*config.Config) {}, true},
		{"private DNS off", func(c *config.Config) { c.Endpoints[0].PrivateDNSEnabled = false }, false},
		{"dns support off", func(c *config.Config) { c.VPC.EnableDNSSupport = false }, false},
		{"dns hostnames off", func(c *config.Config) { c.VPC.EnableDNSHostnames = false }, false},
		{"name not verified", func(c *config.Config) { c.Services[0].PrivateDNSVerification = config.PendingVerification }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.mutate(cfg)
			r, _, owned := Compile(cfg).Lookup("API.partner.example.")
			if got := r != nil; got != tt.want || owned != tt.want {
				t.Fatalf("answered %v owned %v, want %v", got, owned, tt.want)
			}
		})
	}
}

func TestLookupOwnership(t *testing.T) {
	z := Compile(testConfig(t))
	tests := []struct {
		name        string
		found, owns bool
		zone        string
	}{
		{name(regionalName), true, true, VPCEZone},
		{strings.ToUpper(name(zonalName1b)) + ".", true, true, VPCEZone},
		{"vpce-0nope-abcdefgh.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com", false, true, VPCEZone},
		{"vpce.amazonaws.com", false, true, VPCEZone},
		{"www.api.partner.example", false, true, "api.partner.example"},
		{"partner.example", false, false, ""},
		{"example.com", false, false, ""},
		{"avpce.amazonaws.com", false, false, ""},
	}
	for _, tt := range tests {
		r, zone, owned := z.Lookup(tt.name)
		if (r != nil) != tt.found || owned != tt.owns || zone != tt.zone {
			t.Errorf("Lookup(%s) = %v, %q, %v; want found %v, %q, owned %v", tt.name, r != nil, zone, owned, tt.found, tt.zone, tt.owns)
		}
	}
}

func TestWriteHosts(t *testing.T) {
	var b strings.Builder
	if err := WriteHosts(&b, Compile(testConfig(t))); err != nil {
		t.Fatal(err)
	}
	want := "127.53.201.10   " + name(regionalName) + " " + name(zonalName1a) + " api.partner.example\n"
	if !strings.Contains(b.String(), want) || !strings.HasPrefix(b.String(), "# BEGIN privlink") {
		t.Fatalf("hosts block:\n%s\nlacks line:\n%s", b.String(), want)
	}
}

func TestResolveExplainsMisses(t *testing.T) {
	cfg := testConfig(t, "    service: vpce-svc-0ssm0000000000000\n    private_dns_enabled: true\n", "    service: vpce-svc-0ssm0000000000000\n")
	tests := []struct{ name, want string }{
		{name(zonalName1b), ""},
		{"ssm.us-east-1.amazonaws.com", "no endpoint of it has private_dns_enabled: true"},
		{"vpce-0nope-abcdefgh.vpce-svc-03d5ebb7d9579a2b3.us-east-1.vpce.amazonaws.com", "no endpoint has the name"},
		{"example.com", "outside privlink's zones"},
	}
	for _, tt := range tests {
		r, err := Resolve(cfg, tt.name)
		switch {
		case tt.want == "" && (err != nil || r.Kind != Zonal || r.AZ != "use1-az2"):
			t.Errorf("Resolve(%s) = %+v, %v; want the zonal record of use1-az2", tt.name, r, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Resolve(%s) error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}
