package proxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// A rejected endpoint can be accepted again: it becomes available, carries
// traffic and the Accept notification goes out. AWS does not document it
// either way; privlink keeps it possible.
func TestAcceptRejectedEndpoint(t *testing.T) {
	wh := newWebhook(t)
	l := newLab(t, false, config.PlacementFirstData,
		"admin:", fmt.Sprintf("notifications: [{service: vpce-svc-03d5ebb7d9579a2b3, url: %q, events: [Accept, Reject]}]\ndeny_action: reset\nadmin:", wh.url))
	l.echoTarget("10.20", false)
	l.start()
	url := l.admin()
	if code, body := post(t, url+"/v1/endpoints/"+endpointID+"/reject", ""); code != 200 {
		t.Fatalf("reject: %d %s", code, body)
	}
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatalf("rejected endpoint: %v", err)
	}
	code, body := post(t, url+"/v1/endpoints/"+endpointID+"/accept", "")
	if code != 200 || !strings.Contains(body, `"state": "available"`) {
		t.Fatalf("accept of a rejected endpoint: %d %s", code, body)
	}
	if err := echo(t, l.dial("1.51", "1.10"), "back"); err != nil {
		t.Fatalf("traffic after accepting again: %v", err)
	}
	want := []string{"Reject:rejected", "Accept:available"}
	if got := wh.wait(t, 2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications %v, want %v", got, want)
	}
	code, body = post(t, url+"/v1/endpoints/"+endpointID+"/accept", "")
	if code != 409 || !strings.Contains(body, "only a pendingAcceptance or rejected endpoint can be accepted") {
		t.Fatalf("accept of an available endpoint: %d %s", code, body)
	}
}
