package dashboard_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/privlink/privlink/proxy"
)

// nodeIDs are the data-node names the page gives the topology's boxes.
func nodeIDs(top proxy.DashTopology) []string {
	var out []string
	for _, c := range top.Clients {
		out = append(out, "client:"+c.CIDR.String())
	}
	for _, ep := range top.Endpoints {
		for _, in := range ep.Interfaces {
			out = append(out, "iface:"+ep.ID+":"+in.IP.String())
		}
	}
	for _, sv := range top.Services {
		for _, n := range sv.Nodes {
			out = append(out, "node:"+sv.ID+":"+n.IP.String())
		}
		for _, g := range sv.TargetGroups {
			out = append(out, "tg:"+sv.ID+":"+g.Name)
			for _, t := range g.Targets {
				out = append(out, "target:"+sv.ID+":"+g.Name+":"+t.Target.String())
			}
		}
	}
	slices.Sort(out)
	return out
}

// ruleLayers is what each interface, node and target box must name: its
// security groups and its subnet's NACL (or the default NACL).
func ruleLayers(top proxy.DashTopology) map[string][]string {
	nacl := func(id string) string {
		if id == "" {
			return "default NACL"
		}
		return "NACL " + id
	}
	out := map[string][]string{}
	for _, ep := range top.Endpoints {
		for _, in := range ep.Interfaces {
			out["iface:"+ep.ID+":"+in.IP.String()] = append(slices.Clone(ep.SecurityGroups), nacl(in.NACL))
		}
	}
	for _, sv := range top.Services {
		for _, n := range sv.Nodes {
			out["node:"+sv.ID+":"+n.IP.String()] = append(slices.Clone(sv.SecurityGroups), nacl(n.NACL))
		}
		for _, g := range sv.TargetGroups {
			for _, x := range g.Targets {
				out["target:"+sv.ID+":"+g.Name+":"+x.Target.String()] = append(slices.Clone(x.SecurityGroups), nacl(x.NACL))
			}
		}
	}
	return out
}

// TestBrowser drives the dashboard in headless Chromium against a running
// topology: it draws every box, shows a new connection in the live counts
// within 2 s and a denied one with its hop, and its buttons act.
func TestBrowser(t *testing.T) {
	ctx := browser(t, 1280, 800) // first: skips without Chromium
	srv, url := startLab(t, nil)
	run(t, ctx, 30*time.Second, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#feed[data-state="live"]`)))
	waitJS(t, ctx, 10*time.Second, "the topology drawn", `document.querySelectorAll('[data-node^="target:"]').length === 2`)

	t.Run("every node drawn", func(t *testing.T) {
		want := nodeIDs(srv.DashboardTopology())
		got := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-node]')].map(e => e.dataset.node).sort()`)
		if !slices.Equal(got, want) {
			t.Fatalf("boxes drawn:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(want) != 2+4+2+1+2 {
			t.Fatalf("the lab topology has %d boxes, want 11: %v", len(want), want)
		}
		if eval[int](t, ctx, `document.querySelectorAll('#wires path').length`) == 0 {
			t.Error("no wires drawn between the columns at 1280×800")
		}
	})

	t.Run("rule layers on every box", func(t *testing.T) {
		got := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('[data-node]')]
			.filter(e => e.querySelector('.rules')).map(e => [e.dataset.node, e.querySelector('.rules').textContent]))`)
		for node, want := range ruleLayers(srv.DashboardTopology()) {
			text, ok := got[node]
			if !ok {
				t.Errorf("%s: no rule layers shown", node)
				continue
			}
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("%s: rules %q lack %q", node, text, w)
				}
			}
		}
	})

	t.Run("connection in live counts within 2s", func(t *testing.T) {
		zone := fmt.Sprintf(`document.querySelector('#panel-traffic tr[data-zone="%s|use1-az1"]')`, service)
		before := eval[string](t, ctx, zone+`.querySelector('td.new').textContent`)
		c, err := dialFrom("127.87.1.50", srv.Endpoint(epOpen).Addr("use1-az1", 8443))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := echo(c); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitJS(t, ctx, 2*time.Second, "the new flow in the traffic panel",
			fmt.Sprintf(`Number(%s.querySelector('td.new').textContent) > %s && Number(%s.querySelector('td.active').textContent) >= 1`, zone, before, zone))
		t.Logf("the connection showed in the live counts after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("denied connection with its hop", func(t *testing.T) {
		c, err := dialFrom("127.87.2.50", srv.Endpoint(epOpen).Addr("use1-az2", 8443))
		if err == nil {
			c.Close() // deny_action reset: the RST may come after the handshake
		}
		defer func() {
			if t.Failed() {
				t.Logf("denied panel: %s", eval[string](t, ctx, `document.querySelector('#panel-denied').innerText`))
			}
		}()
		waitJS(t, ctx, 5*time.Second, "the denied flow",
			`[...document.querySelectorAll('#panel-denied tr[data-hop="endpoint_sg_ingress"]')].some(r => r.textContent.includes('127.87.2.50') && r.textContent.includes('no matching rule'))`)
		waitJS(t, ctx, 5*time.Second, "the rejection counted at the endpoint interfaces' column",
			`document.querySelector('#col-interfaces .hopcount').textContent.includes('endpoint_sg_ingress 1')`)
	})

	t.Run("explain form", func(t *testing.T) {
		run(t, ctx, 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`#explain-form input[name="from"]`), "127.87.2.50"),
			chromedp.SetValue(chromedp.CSS(`#explain-form select[name="endpoint"]`), epOpen),
			chromedp.SetValue(chromedp.CSS(`#explain-form input[name="port"]`), "8443"),
			chromedp.Click(chromedp.CSS(`#explain-form button[type="submit"]`)))
		waitJS(t, ctx, 5*time.Second, "the hop table denying at the endpoint SG",
			`[...document.querySelectorAll('#explain-out tr[data-verdict="deny"]')].some(r => r.textContent.includes('endpoint_sg_ingress'))`)
		out := eval[string](t, ctx, `document.querySelector('#explain-out').innerText`)
		if !strings.Contains(out, "From 127.87.2.50 to "+epOpen) || !strings.Contains(out, "endpoint_state") {
			t.Errorf("explain output:\n%s", out)
		}
	})

	t.Run("accept button", func(t *testing.T) {
		if st := srv.Endpoint(epPending).State; st != proxy.EndpointPendingAcceptance {
			t.Fatalf("endpoint %s is %s before the click, want pendingAcceptance", epPending, st)
		}
		sel := fmt.Sprintf(`button[data-action="accept"][data-endpoint="%s"]`, epPending)
		settle(t, ctx)
		run(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS(sel)))
		waitJS(t, ctx, 5*time.Second, "the endpoint shown available",
			fmt.Sprintf(`document.querySelector('[data-endpoint-state="%s"]').textContent.includes('available')`, epPending))
		if st := srv.Endpoint(epPending).State; st != proxy.EndpointAvailable {
			t.Fatalf("endpoint %s is %s after the click, want available", epPending, st)
		}
		status := eval[string](t, ctx, `document.querySelector('#action-status').textContent`)
		if !strings.Contains(status, "accept "+epPending+": done") {
			t.Errorf("status line %q, want it to say the accept is done", status)
		}
	})

	t.Run("deregister button", func(t *testing.T) {
		node := fmt.Sprintf(`[data-node="target:%s:tg-echo:127.87.11.20:9443"]`, service)
		settle(t, ctx)
		run(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS(node+` button[data-action="deregister"]`)))
		waitJS(t, ctx, 5*time.Second, "the target draining or gone",
			fmt.Sprintf(`!document.querySelector('%s') || document.querySelector('%s').textContent.includes('draining')`, node, node))
		for _, ti := range srv.Targets() {
			if ti.Target.String() == "127.87.11.20:9443" && ti.State != proxy.StateDraining {
				t.Fatalf("target after the click: %+v, want draining or deregistered", ti)
			}
		}
	})

	t.Run("register form", func(t *testing.T) {
		form := fmt.Sprintf(`[data-node="tg:%s:tg-echo"] form.register`, service)
		settle(t, ctx)
		run(t, ctx, 10*time.Second,
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-node="tg:%s:tg-echo"] summary`, service))),
			chromedp.SetValue(chromedp.CSS(form+` input[name="ip"]`), "127.87.11.30"),
			chromedp.SetValue(chromedp.CSS(form+` input[name="az"]`), "use1-az2"),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
		waitJS(t, ctx, 5*time.Second, "the registered target drawn",
			fmt.Sprintf(`!!document.querySelector('[data-node="target:%s:tg-echo:127.87.11.30:9443"]')`, service))
		if !slices.ContainsFunc(srv.Targets(), func(ti proxy.TargetInfo) bool {
			return ti.Target.String() == "127.87.11.30:9443" && ti.AZ == "use1-az2"
		}) {
			t.Fatalf("targets after Register: %+v", srv.Targets())
		}
		// The redraw keeps the keyboard where it was: the form open, its button focused.
		waitJS(t, ctx, 5*time.Second, "the focus kept on Register", fmt.Sprintf(
			`document.activeElement === document.querySelector('%s button[type="submit"]') && document.querySelector('[data-node="tg:%s:tg-echo"] details').open`, form, service))
	})

	t.Run("reject by keyboard", func(t *testing.T) {
		sel := fmt.Sprintf(`button[data-action="reject"][data-endpoint="%s"]`, epPending)
		settle(t, ctx)
		// Focused in one step (a redraw keeps the focus), then a real Enter key.
		waitJS(t, ctx, 5*time.Second, "the focus on Reject", fmt.Sprintf(`(document.querySelector('%s').focus(), document.activeElement.matches('%s'))`, sel, sel))
		run(t, ctx, 10*time.Second, chromedp.KeyEvent("\r"))
		waitJS(t, ctx, 5*time.Second, "the endpoint shown rejected",
			fmt.Sprintf(`document.querySelector('[data-endpoint-state="%s"]').textContent.includes('✖ rejected')`, epPending))
		if st := srv.Endpoint(epPending).State; st != proxy.EndpointRejected {
			t.Fatalf("endpoint %s is %s after Enter on Reject, want rejected", epPending, st)
		}
	})

	t.Run("fault add and remove", func(t *testing.T) {
		form := `#fault-form`
		set := func(kind, key, value, params string) {
			run(t, ctx, 10*time.Second,
				chromedp.SetValue(chromedp.CSS(form+` select[name="kind"]`), kind),
				chromedp.SetValue(chromedp.CSS(form+` select[name="scope_key"]`), key),
				chromedp.SetValue(chromedp.CSS(form+` input[name="scope_value"]`), value),
				chromedp.SetValue(chromedp.CSS(form+` input[name="params"]`), params),
				chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
		}
		// A fault the API refuses: the status line names the field.
		set("latency", "az", "use1-az1", `{"latency":"soon"}`)
		waitJS(t, ctx, 5*time.Second, "the refusal naming the field",
			`document.querySelector('#action-status').dataset.ok === 'no' && document.querySelector('#action-status').textContent.includes('latency')`)
		set("latency", "az", "use1-az1", `{"latency":"200ms"}`)
		waitJS(t, ctx, 5*time.Second, "the fault listed as active",
			`[...document.querySelectorAll('#panel-faults tr[data-fault]')].some(r => r.textContent.includes('latency') && r.textContent.includes('az=use1-az1') && r.textContent.includes('active'))`)
		fs := srv.Faults()
		if len(fs) != 1 || fs[0].Kind != "latency" || fs[0].Scope.AZ != "use1-az1" || time.Duration(fs[0].Latency) != 200*time.Millisecond {
			t.Fatalf("faults after Add: %+v", fs)
		}
		run(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#panel-faults tr[data-fault="%s"] button`, fs[0].ID))))
		waitJS(t, ctx, 5*time.Second, "the fault gone from the panel", `!document.querySelector('#panel-faults tr[data-fault]')`)
		if fs := srv.Faults(); len(fs) != 0 {
			t.Fatalf("faults after Remove: %+v", fs)
		}
	})

	t.Run("readable wide and narrow", func(t *testing.T) {
		layout(t, ctx, 1280, 800, false)
		layout(t, ctx, 480, 800, true)
		layout(t, ctx, 1280, 800, false)
	})
}

// settle waits until the page is not fetching or redrawing the topology, so
// that an action's node is not replaced between its lookup and its use.
func settle(t *testing.T, ctx context.Context) {
	t.Helper()
	waitJS(t, ctx, 5*time.Second, "the topology settled", `topo !== null && !topoBusy && !topoAgain`)
}

// layout sets the window size and checks the page fits its width (no
// sideways scrolling), every box is shown, and the columns sit side by
// side (wide) or stack in path order (narrow).
func layout(t *testing.T, ctx context.Context, w, h int64, stacked bool) {
	t.Helper()
	run(t, ctx, 10*time.Second, chromedp.EmulateViewport(w, h))
	waitJS(t, ctx, 5*time.Second, fmt.Sprintf("the page fitting %d px", w), `document.documentElement.scrollWidth <= window.innerWidth`)
	hidden := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-node]')].filter(e => e.getBoundingClientRect().width < 100).map(e => e.dataset.node)`)
	if len(hidden) > 0 {
		t.Errorf("at %d px, boxes squeezed or hidden: %v", w, hidden)
	}
	side := eval[bool](t, ctx, `(() => {
		const cols = [...document.querySelectorAll('#graph .col')].map(c => c.getBoundingClientRect());
		return cols.every((r, i) => i === 0 || r.left > cols[i-1].left && Math.abs(r.top - cols[0].top) < 2);
	})()`)
	if side == stacked {
		t.Errorf("at %d px: columns side by side = %v, want %v", w, side, !stacked)
	}
}
