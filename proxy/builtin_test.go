package proxy

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
)

// A built-in echo target strips a PROXY header only from the NLB nodes
// that send one: with proxy_protocol_v2 privlink's header is stripped and
// a header the client sent (headers stack, as behind NLB) is echoed back;
// without it, or from any other peer, a header is data.
func TestBuiltinStripsOnlyTheNodesHeader(t *testing.T) {
	clientHdr := "PROXY TCP4 192.0.2.1 192.0.2.2 1111 2222\r\n"
	for _, ppv2 := range []bool{true, false} {
		t.Run(map[bool]string{true: "proxy_protocol_v2", false: "plain"}[ppv2], func(t *testing.T) {
			l := newLab(t, ppv2, config.PlacementFirstData,
				"{ip: P.10.20, subnet: subnet-p1}", "{ip: P.10.20, subnet: subnet-p1, builtin: echo}").start()
			via := l.dial("1.50", "1.10")
			if got := echoOnce(t, via, clientHdr+"hello"); got != clientHdr+"hello" {
				t.Fatalf("through privlink: echoed %q, want the client's header and data", got)
			}
			direct, err := net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr("1.60"), 0)), net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.addr("10.20"), 9443)))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			if got := echoOnce(t, direct, clientHdr+"hello"); got != clientHdr+"hello" {
				t.Fatalf("from a client, not a node: echoed %q, want the header as data", got)
			}
		})
	}
}

func echoOnce(t *testing.T, c *net.TCPConn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(msg))
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}
