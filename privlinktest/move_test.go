package privlinktest

import (
	"net/netip"
	"testing"
)

func TestMover(t *testing.T) {
	m := &mover{from: netip.MustParsePrefix("127.0.0.0/18"), to: netip.MustParsePrefix("127.16.64.0/18")}
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"127.0.1.10", "127.16.65.10", true},
		{"127.0.63.255", "127.16.127.255", true},
		{"127.0.0.1", "127.16.64.1", true},
		{"127.0.64.1", "127.0.64.1", false},
		{"10.1.2.3", "10.1.2.3", true},
		{"::1", "::1", true},
	} {
		got, ok := m.addr(netip.MustParseAddr(tt.in))
		if got.String() != tt.want || ok != tt.ok {
			t.Errorf("addr(%s) = %s %v, want %s %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"127.0.1.0/24", "127.16.65.0/24", true},
		{"127.0.1.50/32", "127.16.65.50/32", true},
		{"127.0.0.0/18", "127.16.64.0/18", true},
		{"127.0.0.0/16", "127.16.64.0/18", true}, // holds the topology: the block
		{"127.0.0.0/8", "127.0.0.0/8", true},
		{"0.0.0.0/0", "0.0.0.0/0", true},
		{"10.0.0.0/8", "10.0.0.0/8", true},
		{"127.1.0.0/16", "127.1.0.0/16", false},
		{"127.0.64.0/24", "127.0.64.0/24", false},
	} {
		got, ok := m.prefix(netip.MustParsePrefix(tt.in))
		if got.String() != tt.want || ok != tt.ok {
			t.Errorf("prefix(%s) = %s %v, want %s %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if got := m.hostPort("127.0.0.1:53"); got != "127.16.64.1:53" {
		t.Errorf("hostPort = %s", got)
	}
	if got := m.hostPort("system"); got != "system" {
		t.Errorf("hostPort(system) = %s", got)
	}
}
