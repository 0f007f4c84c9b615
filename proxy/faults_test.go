package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
)

const svcID = "vpce-svc-03d5ebb7d9579a2b3"

// denyReset makes the lab answer denials (and an az_outage) with an RST.
var denyReset = []string{`admin: {listen: "off"}`, "admin: {listen: \"off\"}\ndeny_action: reset"}

// addFault adds f to the lab's server or fails the test.
func (l *lab) addFault(f config.Fault) FaultInfo {
	l.t.Helper()
	fi, err := l.srv.AddFault(f)
	if err != nil {
		l.t.Fatalf("AddFault: %v", err)
	}
	return fi
}

// newFault returns a fault of kind with toxicity 1 and scope sc.
func newFault(kind config.FaultKind, sc config.FaultScope) config.Fault {
	f := config.NewFault(kind)
	f.Scope = sc
	return f
}

// echoes dials az's interface ("1.10", "2.10") as client and checks an echo.
func (l *lab) echoes(client, iface string) error {
	c, err := l.tryDial(client, iface)
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(l.t, c, "ping")
}

func TestFaultAPI(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	base := l.admin()
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"unknown field", `{"kind":"latency","latency":"1s","lag":"2s"}`, 400, `unknown field "lag"`},
		{"bad kind", `{"kind":"teleport"}`, 400, `field "kind": unknown fault kind "teleport"`},
		{"bad duration", `{"kind":"latency","latency":"soon"}`, 400, `field "latency": invalid duration "soon"`},
		{"wrong type", `{"kind":"bandwidth","rate_kbps":"fast"}`, 400, `field "rate_kbps"`},
		{"field check", `{"kind":"az_outage","scope":{"az":"use1-az7"}}`, 400, `scope.az: no subnet or node is in AZ "use1-az7"`},
		{"two values", `{"kind":"latency","latency":"1s"} {}`, 400, "more than one JSON value"},
		{"created", `{"id":"slow","kind":"latency","scope":{"service":"` + svcID + `"},"direction":"to_client","latency":"200ms","jitter":"20ms","toxicity":1}`, 201, `"id": "slow"`},
		{"conflict", `{"id":"slow","kind":"latency","latency":"1s"}`, 409, `fault "slow" exists`},
		{"id filled", `{"kind":"az_outage","scope":{"az":"use1-az2"},"duration":"30s"}`, 201, `"id": "az_outage-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, base+"/v1/faults", tt.body)
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) == nil && e.Error != "" {
				body = e.Error
			}
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("POST %s: %d %s, want %d containing %q", tt.body, code, body, tt.code, tt.want)
			}
		})
	}
	if fs := l.srv.Faults(); len(fs) != 2 || fs[0].State != FaultActive || fs[1].EndsAt == nil {
		t.Fatalf("faults = %+v, want slow and az_outage-1 active, the second with an end", fs)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/v1/faults/slow", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d, want 204", resp.StatusCode)
	}
	if err := l.srv.RemoveFault("slow"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v, want ErrNotFound", err)
	}
	if code, body := post(t, base+"/v1/faults/az_outage-1", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST on a fault: %d %s, want 405", code, body)
	}
}

// The Go API names the field at fault.
func TestAddFaultErrorsNameTheField(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData).start()
	f := newFault(config.FaultLatency, config.FaultScope{})
	_, err := l.srv.AddFault(f)
	if !errors.Is(err, ErrInvalidFault) || !strings.Contains(err.Error(), "latency: is required for latency") {
		t.Fatalf("AddFault without latency: %v", err)
	}
	// A pool is shared by every flow to its target: it shrinks for all or
	// none, so a chance per flow has no meaning for port_budget.
	f = newFault(config.FaultPortBudget, config.FaultScope{TargetGroup: "tg"})
	f.Budget, f.Toxicity = 10, 0.5
	if _, err = l.srv.AddFault(f); !errors.Is(err, ErrInvalidFault) || !strings.Contains(err.Error(), "toxicity: does not apply to port_budget") {
		t.Fatalf("AddFault of port_budget with toxicity 0.5: %v", err)
	}
}

// toxicity 0.5 affects about half of 400 flows (binomial: σ = 10, the
// bounds are 6σ away) and the count in /v1/faults matches what the
// clients saw.
func TestFaultToxicity(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	f := newFault(config.FaultTargetReset, config.FaultScope{TargetGroup: "tg"})
	f.Toxicity = 0.5
	fi := l.addFault(f)
	reset := 0
	for i := range 400 {
		c, err := l.tryDial("1.50", "1.10")
		if err == nil {
			err = echo(t, c, "x")
			c.Close()
		}
		switch {
		case err == nil:
		case isConnReset(err):
			reset++
		default:
			t.Fatalf("flow %d: %v", i, err)
		}
	}
	if reset < 140 || reset > 260 {
		t.Fatalf("%d of 400 flows reset with toxicity 0.5, want 140-260", reset)
	}
	if fi, _ = l.srv.Fault(fi.ID); fi.Flows != uint64(reset) {
		t.Fatalf("fault counted %d flows, the clients saw %d resets", fi.Flows, reset)
	}
}

// A fault starts after start_after and ends after duration; in between it
// acts, before and after it does not.
func TestFaultSchedule(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.start()
	f := newFault(config.FaultTargetReset, config.FaultScope{TargetGroup: "tg"})
	f.StartAfter, f.Duration = config.Duration(400*time.Millisecond), config.Duration(600*time.Millisecond)
	added := time.Now()
	fi := l.addFault(f)
	if fi.State != FaultPending {
		t.Fatalf("state %s, want pending", fi.State)
	}
	if err := l.echoes("1.50", "1.10"); err != nil && time.Since(added) < 400*time.Millisecond {
		t.Fatalf("before start_after: %v", err)
	}
	waitFor(t, func() bool { fi, _ = l.srv.Fault(fi.ID); return fi.State == FaultActive }, "the fault to start")
	if fi.StartedAt.Sub(added) < 400*time.Millisecond || fi.EndsAt.Sub(*fi.StartedAt) != 600*time.Millisecond {
		t.Fatalf("started %s after adding, ends %s after starting; want ≥400ms and 600ms", fi.StartedAt.Sub(added), fi.EndsAt.Sub(*fi.StartedAt))
	}
	c, err := l.tryDial("1.50", "1.10")
	if err := resetSeen(c, err); err != nil && time.Since(*fi.StartedAt) < 600*time.Millisecond {
		t.Fatalf("while active: %v", err)
	}
	waitFor(t, func() bool { fi, _ = l.srv.Fault(fi.ID); return fi.State == FaultEnded }, "the fault to end")
	if err := l.echoes("1.50", "1.10"); err != nil {
		t.Fatalf("after the fault ended: %v", err)
	}
	if n := l.metric(l.srv.faults.activeG.WithLabelValues("target_reset")); n != 0 {
		t.Fatalf("privlink_faults_active{kind=target_reset} = %v after the end, want 0", n)
	}
}

// Faults declared in the configuration start with the server.
func TestFaultFromConfig(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, `dns: {listen: "off"}`,
		"dns: {listen: \"off\"}\nfaults: [{id: cfg-reset, kind: target_reset, scope: {target_group: tg}}]")
	l.echoTarget("10.20", false)
	l.start()
	c, err := l.tryDial("1.50", "1.10")
	if err := resetSeen(c, err); err != nil {
		t.Fatal(err)
	}
	if fs := l.srv.Faults(); len(fs) != 1 || fs[0].Source != "config" || fs[0].Flows != 1 {
		t.Fatalf("faults %+v, want cfg-reset from config with 1 flow", fs)
	}
}

func netipAP(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// Live explain says which fault blocks a path: an AZ outage blocks its
// AZ's path (partial), a target_reset of every target blocks them all.
func TestLiveExplainFaults(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.start()
	url := l.admin()
	l.addFault(config.Fault{ID: "az1-down", Kind: config.FaultAZOutage, Scope: config.FaultScope{AZ: "use1-az1"}, Toxicity: 1})
	r := liveExplain(t, url, l.addr("1.50").String())
	text := reportText(r)
	if r.Verdict != "partial" || r.Paths[0].Allowed || !r.Paths[1].Allowed || !strings.Contains(text, "fault az1-down (az_outage)") {
		t.Fatalf("az_outage explained as:\n%s", text)
	}
	l.addFault(config.Fault{ID: "refuse", Kind: config.FaultTargetReset, Scope: config.FaultScope{TargetGroup: "tg"}, Toxicity: 1})
	r = liveExplain(t, url, l.addr("1.50").String())
	if text = reportText(r); r.Verdict != "denied" || !strings.Contains(text, "fault refuse (target_reset): the target refuses connections") {
		t.Fatalf("target_reset explained as:\n%s", text)
	}
	if err := l.srv.RemoveFault("refuse"); err != nil {
		t.Fatal(err)
	}
	if err := l.srv.RemoveFault("az1-down"); err != nil {
		t.Fatal(err)
	}
	if r = liveExplain(t, url, l.addr("1.50").String()); r.Verdict != "allowed" {
		t.Fatalf("without faults:\n%s", reportText(r))
	}
}

// A reload reconciles the configuration's faults: an unchanged one keeps
// its state, a removed one ends, a new one starts; API faults stay.
func TestFaultsFollowReload(t *testing.T) {
	withFaults := func(list string) []string {
		return []string{`dns: {listen: "off"}`, "dns: {listen: \"off\"}\nfaults: " + list}
	}
	l := newLab(t, false, config.PlacementFirstData,
		withFaults("[{id: keep, kind: latency, latency: 1s, toxicity: 0}, {id: gone, kind: slicer, size: 8}]")...).start()
	l.addFault(newFault(config.FaultNodeResetAll, config.FaultScope{AZ: "use1-az2"}))
	before, _ := l.srv.Fault("keep")
	next := newLab(t, false, config.PlacementFirstData,
		withFaults("[{id: keep, kind: latency, latency: 1s, toxicity: 0}, {id: new, kind: limit_data, bytes: 9}]")...)
	cfg, err := config.Parse("reload.yaml", []byte(strings.ReplaceAll(next.yaml, next.p+".", l.p+".")))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, fi := range l.srv.Faults() {
		ids = append(ids, fi.ID+"/"+fi.Source)
	}
	if got := strings.Join(ids, " "); got != "keep/config node_reset_all-1/api new/config" {
		t.Fatalf("faults after reload: %s", got)
	}
	if after, _ := l.srv.Fault("keep"); !after.StartedAt.Equal(*before.StartedAt) {
		t.Fatalf("the unchanged fault restarted: %v, then %v", before.StartedAt, after.StartedAt)
	}
}

// scrapeMetrics reads the lab's /metrics as its text lines.
func (l *lab) scrapeMetrics() []string {
	l.t.Helper()
	resp, err := http.Get(l.admin() + "/metrics")
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		l.t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	return strings.Split(string(body), "\n")
}

// The fault metrics through the admin API's /metrics: faults active by
// kind (a pending fault is not), and the flows each kind affected.
func TestFaultMetricsServed(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	l.echoTarget("10.20", false)
	l.echoTarget("11.20", false)
	l.start()
	l.addFault(config.Fault{ID: "refuse", Kind: config.FaultTargetReset, Scope: config.FaultScope{Target: netipAP(l.addr("10.20"), 9443)}, Toxicity: 1})
	l.addFault(config.Fault{ID: "slow", Kind: config.FaultLatency, Latency: config.Duration(time.Millisecond), Scope: config.FaultScope{AZ: "use1-az2"}, Toxicity: 1})
	l.addFault(config.Fault{ID: "later", Kind: config.FaultSlicer, Size: 1, StartAfter: config.Duration(time.Hour), Toxicity: 1})
	for _, client := range []string{"1.50", "1.51"} {
		if err := resetSeen(l.tryDial(client, "1.10")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.echoes("2.50", "2.10"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`privlink_faults_active{kind="target_reset"} 1`,
		`privlink_faults_active{kind="latency"} 1`,
		`privlink_fault_flows_total{kind="target_reset"} 2`,
		`privlink_fault_flows_total{kind="latency"} 1`,
	}
	lines := l.scrapeMetrics()
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	for _, line := range lines {
		if strings.Contains(line, `kind="slicer"`) && !strings.HasSuffix(line, " 0") {
			t.Errorf("/metrics counts the pending slicer: %s", line)
		}
	}
	if err := l.srv.RemoveFault("refuse"); err != nil {
		t.Fatal(err)
	}
	if lines = l.scrapeMetrics(); !slices.Contains(lines, `privlink_faults_active{kind="target_reset"} 0`) {
		t.Errorf("privlink_faults_active{kind=target_reset} after the removal, want 0:\n%s", strings.Join(lines, "\n"))
	}
}
