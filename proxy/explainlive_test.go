package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
)

// liveExplain asks GET /v1/explain of the lab for client from (IP or IP:port).
func liveExplain(t *testing.T, url, from string) *acl.Report {
	t.Helper()
	resp, err := http.Get(url + "/v1/explain?port=8443&endpoint=" + endpointID + "&from=" + from)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r acl.Report
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&r) != nil {
		t.Fatalf("explain: %s", resp.Status)
	}
	if !r.Live {
		t.Fatal("the admin API's report is not live")
	}
	return &r
}

func reportText(r *acl.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

// targetReport finds a target's traffic report on path i.
func targetReport(t *testing.T, r *acl.Report, i int, addr netip.AddrPort) acl.TargetReport {
	t.Helper()
	for _, tr := range r.Paths[i].Targets {
		if tr.Target == addr.String() && tr.Check == "traffic" {
			return tr
		}
	}
	t.Fatalf("no target %s on path %d:\n%s", addr, i, reportText(r))
	return acl.TargetReport{}
}

// Live explain weighs the endpoint's state: rejected and pendingAcceptance
// deny at hop endpoint_state, as the data path does; accepted, it allows.
func TestLiveExplainEndpointState(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, "admin:", "deny_action: reset\nadmin:")
	l.echoTarget("10.20", false)
	l.start()
	url := l.admin()
	if code, body := post(t, url+"/v1/endpoints/"+endpointID+"/reject", ""); code != 200 {
		t.Fatalf("reject: %d %s", code, body)
	}
	r := liveExplain(t, url, l.addr("1.50").String())
	st := r.EndpointState
	if r.Allowed || r.Verdict != "denied" || st.Hop != acl.HopEndpointState || st.Verdict != acl.Deny ||
		!strings.Contains(st.Rule, "state rejected") || !strings.Contains(st.Suggestion, "/v1/endpoints/"+endpointID+"/accept") {
		t.Fatalf("rejected endpoint explained as:\n%s", reportText(r))
	}
	if err := resetSeen(l.tryDial("1.50", "1.10")); err != nil {
		t.Fatalf("the data path disagrees: %v", err)
	}
	if code, body := post(t, url+"/v1/endpoints/"+endpointID+"/accept", ""); code != 200 {
		t.Fatalf("accept: %d %s", code, body)
	}
	if r := liveExplain(t, url, l.addr("1.51").String()+":40000"); !r.Paths[0].Allowed || r.EndpointState.Verdict != acl.Allow {
		t.Fatalf("accepted endpoint explained as:\n%s", reportText(r))
	}
	if err := echo(t, l.dial("1.51", "1.10"), "ok"); err != nil {
		t.Fatal(err)
	}

	p := newLab(t, false, config.PlacementFirstData,
		"  - id: vpce-svc-03d5ebb7d9579a2b3\n", "  - id: vpce-svc-03d5ebb7d9579a2b3\n    acceptance_required: true\n").start()
	r = liveExplain(t, p.admin(), p.addr("1.50").String())
	if r.Allowed || !strings.Contains(r.EndpointState.Rule, "state pendingAcceptance") || !strings.Contains(strings.Join(r.Suggestions, "\n"), "is pendingAcceptance: accept it") {
		t.Fatalf("pending endpoint explained as:\n%s", reportText(r))
	}
}

// Live explain lists the registered targets — from the file and the API —
// with their health; a draining target takes no new flows and does not
// decide the verdict; with a client port, the target the flow hash picks
// is the one a real connection from that port reaches.
func TestLiveExplainTargets(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, fastHealth("\n        deregistration_delay: 60s")...)
	a, b, c := l.echoTarget("10.20", false), l.echoTarget("10.21", false), l.echoTarget("10.22", false)
	l.start()
	url := l.admin()
	code, body := post(t, url+"/v1/target-groups/tg/register", fmt.Sprintf(`{"targets":[{"ip":"%s"}]}`, c.addr.Addr()))
	if code != 200 {
		t.Fatalf("register: %d %s", code, body)
	}
	for _, et := range []*echoTarget{a, b, c} {
		l.waitState(et.addr, StateHealthy, 5*time.Second)
	}
	// b drains.
	if code, body := post(t, url+"/v1/target-groups/tg/deregister", fmt.Sprintf(`{"targets":[{"ip":"%s"}]}`, b.addr.Addr())); code != 200 {
		t.Fatalf("deregister: %d %s", code, body)
	}
	r := liveExplain(t, url, l.addr("1.50").String())
	if !r.Paths[0].Allowed {
		t.Fatalf("az1 path denied:\n%s", reportText(r))
	}
	for _, want := range []struct {
		et       *echoTarget
		state    string
		newFlows bool
	}{{a, StateHealthy, true}, {b, StateDraining, false}, {c, StateHealthy, true}} {
		tr := targetReport(t, r, 0, want.et.addr)
		if tr.State != want.state || tr.NewFlows == nil || *tr.NewFlows != want.newFlows || tr.Picked {
			t.Errorf("target %s: state %q new flows %v picked %v, want %s %v\n%s", want.et.addr, tr.State, tr.NewFlows, tr.Picked, want.state, want.newFlows, reportText(r))
		}
	}
	if tr := targetReport(t, r, 0, b.addr); !strings.Contains(tr.Note, "draining") {
		t.Errorf("draining target's note: %q", tr.Note)
	}
	// With a port, the picked target is where the connection goes.
	for i := range 4 {
		client := netip.AddrPortFrom(l.addr(fmt.Sprintf("1.%d", 60+i)), uint16(41000+i))
		r := liveExplain(t, url, client.String())
		var picked []string
		for _, tr := range r.Paths[0].Targets {
			if tr.Picked {
				picked = append(picked, tr.Target)
			}
		}
		before := map[*echoTarget]int64{a: a.flows.Load(), c: c.flows.Load()}
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(client), Timeout: 2 * time.Second}
		conn, err := d.Dial("tcp", netip.AddrPortFrom(l.addr("1.10"), 8443).String())
		if err != nil {
			t.Fatal(err)
		}
		err = echo(t, conn.(*net.TCPConn), "x")
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		var reached []string
		for et, n := range before {
			if et.flows.Load() > n {
				reached = append(reached, et.addr.String())
			}
		}
		if len(picked) != 1 || fmt.Sprint(picked) != fmt.Sprint(reached) {
			t.Errorf("client %s: explain picked %v, the connection reached %v", client, picked, reached)
		}
	}
}

// With every target of the AZ unhealthy, live explain says the node fails
// open to them.
func TestLiveExplainFailOpen(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, fastHealth("")...)
	l.start()
	url := l.admin()
	l.waitState(netip.AddrPortFrom(l.addr("10.20"), 9443), StateUnhealthy, 5*time.Second)
	l.waitState(netip.AddrPortFrom(l.addr("10.21"), 9443), StateUnhealthy, 5*time.Second)
	r := liveExplain(t, url, l.addr("1.50").String())
	notes := strings.Join(r.Paths[0].Notes, "\n")
	tr := targetReport(t, r, 0, netip.AddrPortFrom(l.addr("10.20"), 9443))
	if !strings.Contains(notes, "fails open") || tr.State != StateUnhealthy || tr.NewFlows == nil || !*tr.NewFlows {
		t.Fatalf("fail open not explained:\n%s", reportText(r))
	}
}

// An exhausted port pool of the picked (node, target) denies, as the data
// path does with a port allocation error.
func TestLiveExplainExhaustedPortPool(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData, healthEdits, healthEdits+"\n        port_budget: 1\n        port_reuse_delay: 60s")
	l.echoTarget("10.20", false)
	l.start()
	url := l.admin()
	held := l.dial("1.50", "1.10")
	if err := echo(t, held, "holds the only port"); err != nil {
		t.Fatal(err)
	}
	r := liveExplain(t, url, l.addr("1.51").String()+":40001")
	tr := targetReport(t, r, 0, netip.AddrPortFrom(l.addr("10.20"), 9443))
	if r.Paths[0].Allowed || tr.Allowed || tr.Ports != "1/1 in use" || !strings.Contains(tr.Note, "exhausted") ||
		!strings.Contains(strings.Join(r.Suggestions, "\n"), "raise port_budget of tg") {
		t.Fatalf("exhausted pool not explained:\n%s", reportText(r))
	}
	if err := resetSeen(l.tryDial("1.51", "1.10")); err != nil {
		t.Fatalf("the data path disagrees: %v", err)
	}
}
