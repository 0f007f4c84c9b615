package config

import (
	"strings"
	"testing"
	"time"
)

func TestDNSDefaults(t *testing.T) {
	c, err := Load("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"dns.listen", c.DNS.Listen, "127.0.0.1:8053"},
		{"dns.upstream", c.DNS.Upstream, "system"},
		{"dns.ttl", c.DNS.TTL.D(), 60 * time.Second},
		{"dns on", c.DNS.Enabled(), true},
		{"vpc.enable_dns_support", c.VPC.EnableDNSSupport, true},
		{"vpc.enable_dns_hostnames", c.VPC.EnableDNSHostnames, true},
		{"az_name derived", c.Subnets[0].AZName, "us-east-1a"},
		{"private_dns_enabled", c.Endpoints[0].PrivateDNSEnabled, false},
		{"verification", c.Services[0].PrivateDNSVerification, Verified},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if d := Default(); d.DNS.Listen != DefaultDNSListen || !d.DNS.Enabled() {
		t.Errorf("embedded default dns %+v", d.DNS)
	}
}

func TestAZName(t *testing.T) {
	tests := []struct {
		region, id, want string
	}{
		{"us-east-1", "use1-az1", "us-east-1a"},
		{"us-east-1", "use1-az6", "us-east-1f"},
		{"us-west-2", "usw2-az2", "us-west-2b"},
		{"eu-central-1", "euc1-az3", "eu-central-1c"},
		{"ap-southeast-2", "apse2-az1", "ap-southeast-2a"},
		{"ap-northeast-1", "apne1-az4", "ap-northeast-1d"},
		{"us-east-1", "usw2-az1", ""}, // another region's AZ ID
		{"us-east-1", "use1-az0", ""},
		{"us-east-1", "az1", ""},
		{"us-gov-west-1", "usgw1-az1", ""}, // not derivable: give az_name
	}
	for _, tt := range tests {
		got, ok := AZName(tt.region, tt.id)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("AZName(%s, %s) = %q, %v; want %q", tt.region, tt.id, got, ok, tt.want)
		}
	}
}

// A valid private DNS setup, and two endpoints claiming one private name
// in the VPC (AWS's "conflicting DNS domain").
func TestPrivateDNSConfig(t *testing.T) {
	y := minimalYAML(t)
	y = strings.Replace(y, "  - id: vpce-svc-0123456789abcdef0\n", "  - id: vpce-svc-0123456789abcdef0\n    private_dns_name: API.Example.com.\n", 1)
	y = strings.Replace(y, "    service: vpce-svc-0123456789abcdef0\n", "    service: vpce-svc-0123456789abcdef0\n    private_dns_enabled: true\n", 1)
	c, err := Parse("ok.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].PrivateName(c.Region); got != "api.example.com" {
		t.Fatalf("private name %q, want api.example.com (lower case, no final dot)", got)
	}
	y += "  - {id: vpce-0123456789abcdef1, service: vpce-svc-0123456789abcdef0, private_dns_enabled: true, interfaces: [{subnet: subnet-c, ip: 127.0.1.11}]}\n"
	_, err = Parse("conflict.yaml", []byte(y))
	want := "conflict.yaml:20: endpoints[1].private_dns_enabled: InvalidParameter: private-dns-enabled cannot be set because there is already a conflicting DNS domain for api.example.com in the VPC (endpoints[0] enables it)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestAWSServiceNames(t *testing.T) {
	s := Service{ID: "vpce-svc-1", AWSService: "ssm"}
	if got := s.PrivateName("eu-west-1"); got != "ssm.eu-west-1.amazonaws.com" {
		t.Errorf("private name %q", got)
	}
	if got := s.ServiceName("eu-west-1"); got != "com.amazonaws.eu-west-1.ssm" {
		t.Errorf("service name %q", got)
	}
	if got := (&Service{ID: "vpce-svc-1"}).ServiceName("us-east-1"); got != "com.amazonaws.vpce.us-east-1.vpce-svc-1" {
		t.Errorf("endpoint service name %q", got)
	}
}

func TestDNSListenOverride(t *testing.T) {
	c, err := Load("testdata/valid/minimal.yaml", Override{Key: "dns.listen", Value: "off", Source: "flag --dns"})
	if err != nil || c.DNS.Enabled() {
		t.Fatalf("dns.listen off: %v %+v", err, c)
	}
	_, err = Load("testdata/valid/minimal.yaml", Override{Key: "dns.listen", Value: "127.0.0.1:9480", Source: "flag --dns"})
	if err == nil || !strings.Contains(err.Error(), "dns.listen: DNS server 127.0.0.1:9480 is already used by admin server") {
		t.Fatalf("dns on the admin address: %v", err)
	}
}
