package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// Notifications added by a reload take effect, for the reload's own
// events too, although the process started without any.
func TestReloadAddsNotifications(t *testing.T) {
	wh := newWebhook(t)
	l := newLab(t, false, config.PlacementFirstData).start()
	y := strings.ReplaceAll(strings.Replace(l.yaml, "endpoints:", `endpoints:
  - id: vpce-0aaaaaaaaaaaaaaaa
    service: vpce-svc-03d5ebb7d9579a2b3
    security_groups: [sg-endpoint]
    interfaces: [{subnet: subnet-c1, ip: P.1.11}]`, 1), "P.", l.p+".")
	y = strings.Replace(y, "admin:", fmt.Sprintf("notifications: [{service: vpce-svc-03d5ebb7d9579a2b3, url: %q, events: [Connect, Delete]}]\nadmin:", wh.url), 1)
	cfg, err := config.Parse("reload.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := wh.wait(t, 1); fmt.Sprint(got) != "[Connect:available]" {
		t.Fatalf("notifications %v, want the new endpoint's Connect", got)
	}
}
