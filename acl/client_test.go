package acl

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

func TestAdmittedClient(t *testing.T) {
	const any = `cidr: 127.0.0.0/8}]`
	iface := netip.MustParseAddrPort("127.0.1.10:8443")
	tests := []struct {
		name, sg string
		usable   func(netip.Addr) bool
		want     string // "" = none
	}{
		{"loopback admitted", any, nil, "127.0.0.1"},
		{"consumer subnet only", `cidr: 127.0.1.0/24}]`, nil, "127.0.1.50"},
		{"one client only", `cidr: 127.0.2.77/32}]`, nil, "127.0.2.77"},
		{"admitted but not usable", `cidr: 127.0.2.77/32}]`, func(netip.Addr) bool { return false }, ""},
		{"members only", `source_group: sg-endpoint}]`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(string(config.DefaultYAML()), any, tt.sg, 1)
			cfg, err := config.Parse("t.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			a, ok := Compile(cfg).AdmittedClient(cfg, iface, tt.usable)
			if got := map[bool]string{true: a.String(), false: ""}[ok]; got != tt.want {
				t.Fatalf("AdmittedClient = %q, want %q", got, tt.want)
			}
		})
	}
	cfg := config.Default()
	if _, ok := Compile(cfg).AdmittedClient(cfg, netip.MustParseAddrPort("127.0.1.10:1"), nil); ok {
		t.Fatal("a client admitted to a port no endpoint listens on")
	}
}
