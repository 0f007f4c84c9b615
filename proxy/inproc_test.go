package proxy

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// EndpointAddr fails naming what does not exist, where EndpointInfo.Addr
// returned the zero AddrPort for a wrong AZ (issue 18).
func TestEndpointAddr(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	tests := []struct {
		name, id, az string
		port         uint16
		want         string // address, or the error's text
	}{
		{"az1", endpointID, "use1-az1", 8443, l.p + ".1.10:8443"},
		{"az2 first listener", endpointID, "use1-az2", 0, l.p + ".2.10:8443"},
		{"first interface", endpointID, "", 0, l.p + ".1.10:8443"},
		{"AZ name instead of ID", endpointID, "us-east-1a", 8443, `not found: endpoint vpce-0c1308d7312217abc has no interface in AZ "us-east-1a" (have: use1-az1, use1-az2; AZ IDs such as use1-az1)`},
		{"no such port", endpointID, "use1-az2", 80, `not found: endpoint vpce-0c1308d7312217abc has no listener on port 80 (have: 8443)`},
		{"no such endpoint", "vpce-nope", "", 0, `not found: no endpoint "vpce-nope" (have: vpce-0c1308d7312217abc)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap, err := l.srv.EndpointAddr(tt.id, tt.az, tt.port)
			got := ap.String()
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("error %v does not wrap ErrNotFound", err)
				}
			}
			if got != tt.want {
				t.Errorf("EndpointAddr(%q, %q, %d) = %s, want %s", tt.id, tt.az, tt.port, got, tt.want)
			}
		})
	}
}

// Conns lists a live connection as GET /v1/connections does, and Explain
// weighs the live state as GET /v1/explain does.
func TestConnsAndExplain(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, "admin:", "deny_action: reset\nadmin:")
	l.echoTarget("10.20", false)
	l.start()
	c := l.dial("1.50", "1.10")
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	views := l.srv.Conns(conntrack.Filter{Endpoint: endpointID})
	if len(views) != 1 || views[0].Client != addrPort(c.LocalAddr()) || views[0].State != conntrack.StateEstablished {
		t.Fatalf("Conns = %+v, want the one established connection from %s", views, c.LocalAddr())
	}
	if n := len(l.srv.Conns(conntrack.Filter{Endpoint: "vpce-other"})); n != 0 {
		t.Errorf("Conns of another endpoint: %d, want 0", n)
	}

	if err := l.srv.Reject(endpointID); err != nil {
		t.Fatal(err)
	}
	rep, err := l.srv.Explain(acl.Query{From: l.addr("1.50"), Endpoint: endpointID, Port: 8443})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Live || rep.Allowed || !strings.Contains(rep.EndpointState.Rule, "rejected") {
		t.Errorf("Explain after reject: live %v allowed %v endpoint state %+v", rep.Live, rep.Allowed, rep.EndpointState)
	}
	if _, err := l.srv.Explain(acl.Query{From: l.addr("1.50"), Endpoint: "vpce-nope"}); !errors.Is(err, acl.ErrUnknownEndpoint) {
		t.Errorf("Explain of an unknown endpoint: %v, want acl.ErrUnknownEndpoint", err)
	}
}
