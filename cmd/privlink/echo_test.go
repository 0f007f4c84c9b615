package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// privlink echo --trust strips a PROXY header only from trusted peers;
// from others the header is echoed back as data.
func TestEchoTrust(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"echo", "--listen", "127.0.46.3:0", "--trust", "127.0.46.9", "--log-level", "error"}, &out, &errb)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), " on 127.0.46.3:") })
	addr := strings.Fields(out.String()[strings.Index(out.String(), " on 127.0.46.3:")+4:])[0]
	hdr := "PROXY TCP4 192.0.2.1 192.0.2.2 1111 2222\r\n"
	for _, tt := range []struct{ from, want string }{
		{"127.0.46.9", "hello"},
		{"127.0.46.5", hdr + "hello"},
	} {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(tt.from), 0)), Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(hdr + "hello"))
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != tt.want {
			t.Fatalf("from %s: echoed %q, %v; want %q", tt.from, got, err, tt.want)
		}
	}
	if code, _, errs := runCmd(t, "echo", "--trust", "10.0.0.0/33"); code != 2 || !strings.Contains(errs, `--trust: "10.0.0.0/33" is not a CIDR or IP address`) {
		t.Fatalf("bad --trust: exit %d %q", code, errs)
	}
}
