package proxy

import (
	"testing"

	"github.com/privlink/privlink/config"
)

// An endpoint created by a user of an account whose root the service
// allows is available and carries traffic (AWS: the account's root allows
// every principal in it).
func TestPrincipalOfAllowedAccountCarriesTraffic(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    allowed_principals: [\"arn:aws:iam::444455556666:root\"]\n",
		"    security_groups: [sg-endpoint]\n", "    principal: arn:aws:iam::444455556666:user/alice\n    security_groups: [sg-endpoint]\n")
	if len(l.cfg.Warnings) != 0 {
		t.Errorf("warnings %v", l.cfg.Warnings)
	}
	l.echoTarget("10.20", false)
	l.start()
	if ep := l.srv.Endpoint(endpointID); ep.State != EndpointAvailable {
		t.Fatalf("endpoint %+v, want available", ep)
	}
	if err := echo(t, l.dial("1.50", "1.10"), "alice"); err != nil {
		t.Fatalf("traffic through alice's endpoint: %v", err)
	}
}
