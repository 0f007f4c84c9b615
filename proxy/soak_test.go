package proxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/conntrack"
)

// Soak sizes: every connection sends soakBytes and reads them echoed, in
// soakRounds rounds with a reload during each round after the first. The
// connections that live to the end alone move soakVolume each way
// ((soakConns-soakResets) × soakBytes = 202.5 MiB); those reset midway
// add what they moved before.
const (
	soakConns  = 100
	soakBytes  = 9 << 18 // 2.25 MiB
	soakRounds = 21
	soakResets = 10 // connections their client resets midway
	soakVolume = 200 << 20
)

// soakPattern is the data of every connection: connection i's byte at
// offset o is soakPattern[(o+i*977)%len(soakPattern)] (a prime length,
// so no two connections or chunks line up).
var soakPattern = func() []byte {
	b := make([]byte, 65521)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// soakData fills b with connection i's bytes from offset o.
func soakData(b []byte, i, o int) {
	for n := 0; n < len(b); {
		p := (o + n + i*977) % len(soakPattern)
		n += copy(b[n:], soakPattern[p:])
	}
}

// soakConn is one client connection of the soak and what it has moved.
type soakConn struct {
	i        int
	c        *net.TCPConn
	from     int // the round it opens in
	resetAt  int // the round its client resets it in (0: never)
	sent     int
	echoed   int        // what came back, valid once received has answered
	received chan error // the reader's verdict
}

// chunk is how much c sends in round r: soakBytes spread over its rounds.
func (c *soakConn) chunk(r int) int {
	n := soakRounds - c.from
	k := r - c.from
	return soakBytes*(k+1)/n - soakBytes*k/n
}

// send writes round r's chunk, or resets the connection in its reset round.
func (c *soakConn) send(r int, buf []byte) error {
	if c.resetAt != 0 && c.resetAt == r {
		c.c.SetLinger(0)
		return c.c.Close()
	}
	b := buf[:c.chunk(r)]
	soakData(b, c.i, c.sent)
	if _, err := c.c.Write(b); err != nil {
		return fmt.Errorf("connection %d round %d: write: %w", c.i, r, err)
	}
	c.sent += len(b)
	if r == soakRounds-1 {
		return c.c.CloseWrite() // half-close: the echo comes back in full, then the target's FIN
	}
	return nil
}

// read checks everything echoed against what was sent: soakBytes then EOF,
// or, for a connection its client resets, a correct prefix.
func (c *soakConn) read() {
	buf, want := make([]byte, 64<<10), make([]byte, 64<<10)
	got := 0
	for {
		n, err := c.c.Read(buf)
		soakData(want[:n], c.i, got)
		if !bytes.Equal(buf[:n], want[:n]) {
			c.received <- fmt.Errorf("connection %d: bytes %d–%d differ from those sent", c.i, got, got+n)
			return
		}
		got += n
		c.echoed = got
		switch {
		case err == nil:
			continue
		case c.resetAt != 0:
			c.received <- nil // reset by its own client: what came was right
		case err == io.EOF && got == soakBytes:
			c.received <- nil
		default:
			c.received <- fmt.Errorf("connection %d: %d of %d bytes echoed, then %v", c.i, got, soakBytes, err)
		}
		return
	}
}

// soakConfigs are the two generations the soak's reloads alternate: both
// keep built-in target P.10.20; A has P.10.21, B has P.10.22 and a second
// listener. Each reload removes a built-in target that carries live
// connections (it drains for 1 s, then is unused: they go on).
func soakConfigs(t *testing.T, l *lab) [2]*config.Config {
	var out [2]*config.Config
	p := strings.NewReplacer("P.", l.p+".")
	for k, extra := range []string{"P.10.21", "P.10.22"} {
		y := strings.Replace(l.yaml, p.Replace("        targets: [{ip: P.10.20, subnet: subnet-p1}, {ip: P.11.20, subnet: subnet-p2}]"),
			p.Replace(fmt.Sprintf("        deregistration_delay: 1s\n        targets: [{ip: P.10.20, subnet: subnet-p1, builtin: echo}, {ip: %s, subnet: subnet-p1, builtin: echo}]", extra)), 1)
		if k == 1 {
			y = strings.Replace(y, "listeners: [{port: 8443, target_group: tg}]", "listeners: [{port: 8443, target_group: tg}, {port: 8444, target_group: tg}]", 1)
		}
		if !strings.Contains(y, "builtin: echo") {
			t.Fatal("soak config: the targets were not replaced")
		}
		cfg, err := config.Parse(fmt.Sprintf("soak-%c.yaml", 'A'+k), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		out[k] = cfg
	}
	return out
}

// TestSoak moves over 200 MiB each way (checked) over 100 connections through privlink
// while 20 reloads alternate its built-in targets (each removing one with
// live connections) and a listener: 60 connections open first, 4 more in
// each of the first 10 rounds; 10 are reset by their client midway; the
// others end with a half-close from the client, their echo in full, then
// the target's FIN. No byte may be lost, altered or reordered, no
// connection that should live may end, and privlink must count exactly
// the 10 client resets and end with no flow left. Every socket has a
// deadline: the test cannot hang.
func TestSoak(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	cfgs := soakConfigs(t, l)
	l.cfg = cfgs[0]
	l.start()
	deadline := time.Now().Add(3 * time.Minute)
	var conns []*soakConn
	for i := range soakConns {
		c := &soakConn{i: i, received: make(chan error, 1)}
		if i >= 60 {
			c.from = (i-60)/4 + 1
		}
		if i%10 == 3 {
			c.resetAt = 5 + i/10
		}
		conns = append(conns, c)
	}
	buf := make([][]byte, soakConns)
	for r := range soakRounds {
		for _, c := range conns {
			if c.from == r {
				c.c = l.dial(fmt.Sprintf("1.%d", 50+c.i), "1.10")
				c.c.SetDeadline(deadline)
				buf[c.i] = make([]byte, soakBytes/(soakRounds-c.from)+1)
				go c.read()
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, soakConns+1)
		if r > 0 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- l.srv.Reload(cfgs[r%2]) }()
		}
		for _, c := range conns {
			if c.from <= r && (c.resetAt == 0 || c.resetAt >= r) {
				wg.Add(1)
				go func() { defer wg.Done(); errs <- c.send(r, buf[c.i]) }()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
	sent, echoed := 0, 0
	for _, c := range conns {
		if err := <-c.received; err != nil {
			t.Error(err)
		}
		c.c.Close()
		sent += c.sent
		echoed += c.echoed
	}
	if sent < soakVolume || echoed < soakVolume {
		t.Errorf("%d bytes went to the targets and %d came back, want at least %d each way", sent, echoed, soakVolume)
	}
	m := l.svcMetrics()
	waitFor(t, func() bool { return len(l.srv.table.Snapshot(conntrack.Filter{}, nil)) == 0 }, "no flow left")
	if v := l.metric(m.clientResets); v != soakResets {
		t.Errorf("client resets %v, want %d", v, soakResets)
	}
	if v := l.metric(m.targetResets) + l.metric(m.elbResets); v != 0 {
		t.Errorf("%v target or ELB resets, want none", v)
	}
	if v := l.metric(l.srv.m.reloadOK); v != 1 {
		t.Errorf("config_last_reload_successful %v", v)
	}
}
