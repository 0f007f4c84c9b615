package proxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/config"
)

// TestStartAcceptsOnceTargetsAreRegistered: a client that connects while
// privlink starts waits in the listen backlog and is served; the loops
// used to accept before the configured targets were registered, and such
// a client was reset ("no registered target").
func TestStartAcceptsOnceTargetsAreRegistered(t *testing.T) {
	l := newLab(t, false, config.PlacementFirstData)
	for _, host := range []string{"10.20", "11.20"} {
		l.target(host, func(c *net.TCPConn) { io.Copy(c, c) })
	}
	srv, err := New(l.cfg, Options{Registry: prometheus.NewRegistry(), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var early *net.TCPConn
	srv.onBound = func() { // listeners bound, targets not yet registered
		early = l.dial("1.50", "1.10")
		if _, err := early.Write([]byte("early\n")); err != nil {
			t.Errorf("write: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // a loop that accepts now sees no target
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	line, err := bufio.NewReader(early).ReadString('\n')
	if err != nil || line != "early\n" {
		t.Fatalf("a client connected during start-up read %q, %v; want its echo", line, err)
	}
}
