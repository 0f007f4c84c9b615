package config

import (
	"net/netip"
	"strings"
	"testing"
)

// admin.pprof is off unless the file, PRIVLINK_ADMIN_PPROF or a flag turns it on.
func TestAdminPProfKey(t *testing.T) {
	c, err := Load("testdata/valid/minimal.yaml")
	if err != nil || c.Admin.PProf {
		t.Fatalf("default pprof %v, %v; want off", c.Admin.PProf, err)
	}
	c, err = Parse("t.yaml", []byte("admin: {listen: 127.0.0.1:9480, pprof: true}\n"+minimalYAML(t)))
	if err != nil || !c.Admin.PProf {
		t.Fatalf("admin.pprof: true gave %v, %v", c.Admin.PProf, err)
	}
	t.Setenv("PRIVLINK_ADMIN_PPROF", "true")
	c, err = Load("testdata/valid/minimal.yaml", OverridesFromViper(NewViper(nil, nil), nil, nil)...)
	if err != nil || !c.Admin.PProf {
		t.Fatalf("PRIVLINK_ADMIN_PPROF=true gave %v, %v", c.Admin.PProf, err)
	}
	_, err = Parse("t.yaml", []byte("admin: {pprof: yes}\n"+minimalYAML(t)))
	if err == nil || !strings.Contains(err.Error(), `t.yaml:1: admin.pprof: expected true or false, got "yes"`) {
		t.Fatalf("pprof: yes gave %v", err)
	}
}

func TestListenCovers(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name       string
		listen, to netip.AddrPort
		want       bool
	}{
		{"same address", ap("127.0.0.1:9480"), ap("127.0.0.1:9480"), true},
		{"other port", ap("127.0.0.1:9480"), ap("127.0.0.1:9481"), false},
		{"other loopback address", ap("127.0.0.1:9480"), ap("127.0.0.2:9480"), false},
		{"wildcard covers loopback", ap("0.0.0.0:9480"), ap("127.66.0.1:9480"), true},
		{"v6 wildcard covers v4 loopback", ap("[::]:9480"), ap("127.0.0.1:9480"), true},
		{"wildcard covers wildcard", ap("0.0.0.0:9480"), ap("0.0.0.0:9480"), true},
		{"wildcard does not cover remote hosts", ap("0.0.0.0:9480"), ap("10.0.0.7:9480"), false},
		{"port 0 covers nothing", ap("127.0.0.1:0"), ap("127.0.0.1:0"), false},
		{"v4-mapped target", ap("127.0.0.1:9480"), ap("[::ffff:127.0.0.1]:9480"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ListenCovers(tc.listen, tc.to); got != tc.want {
				t.Errorf("ListenCovers(%s, %s) = %v, want %v", tc.listen, tc.to, got, tc.want)
			}
		})
	}
}

func TestAdminCoversHostnames(t *testing.T) {
	for _, tc := range []struct {
		listen string
		to     string
		want   bool
	}{
		{"localhost:9480", "127.0.0.1:9480", true},
		{"localhost:9480", "[::1]:9480", true},
		{":9480", "127.5.5.5:9480", true},
		{"127.0.0.1:9480", "127.0.0.1:9480", true},
		{"example.com:9480", "127.0.0.1:9480", false},
		{"garbage", "127.0.0.1:9480", false},
	} {
		if got := listenCovers(tc.listen, netip.MustParseAddrPort(tc.to)); got != tc.want {
			t.Errorf("listenCovers(%q, %s) = %v, want %v", tc.listen, tc.to, got, tc.want)
		}
	}
}
