package privlinktest

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// A block another process holds (its lock socket is bound) is skipped;
// when every block is held, take says so and how to widen the range.
func TestBlocksSkipHeldAndRunOut(t *testing.T) {
	t.Setenv(NetEnv, "127.40.0.0/17") // two blocks
	var a allocator
	a.init()
	a.next = 0
	held, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.40.63.254:65535")))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	b, err := a.take()
	if err != nil {
		t.Fatal(err)
	}
	if b.prefix != netip.MustParsePrefix("127.40.64.0/18") {
		t.Errorf("took %s, want 127.40.64.0/18 (127.40.0.0/18 is held)", b.prefix)
	}
	if _, err := a.take(); err == nil || !strings.Contains(err.Error(), "every /18 block of 127.40.0.0/17 is in use") {
		t.Errorf("third take: %v", err)
	}
	a.release(b)
	if b2, err := a.take(); err != nil || b2.prefix != b.prefix {
		t.Errorf("after release: %v %v", b2, err)
	} else {
		a.release(b2)
	}
}

func TestBlockRange(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"127.16.0.0/12", ""},
		{"127.5.0.0/18", ""},
		{"10.0.0.0/8", "not a 127.x prefix"},
		{"127.5.0.0/20", "narrower than one block (/18)"},
		{"nonsense", "no '/'"},
	} {
		_, err := parseNet(tt.in)
		if got := errString(err); !strings.Contains(got, tt.want) || (tt.want == "") != (err == nil) {
			t.Errorf("parseNet(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	t.Setenv(NetEnv, "10.0.0.0/8")
	var a allocator
	if _, err := a.take(); err == nil || !strings.Contains(err.Error(), `PRIVLINKTEST_NET="10.0.0.0/8": not a 127.x prefix`) {
		t.Errorf("take with a bad range: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// An address of a block held by something that took no block lock (a
// privlink run whose topology lies in the kit's range) makes Start move to
// the next block instead of failing the test.
func TestStartSkipsABlockWhoseAddressesAreTaken(t *testing.T) {
	t.Setenv(NetEnv, "127.41.0.0/17") // two blocks
	saved := blocks
	blocks = new(allocator)
	t.Cleanup(func() { blocks = saved })
	blocks.init()
	blocks.next = 0
	// The endpoint interface 127.0.1.10:8443 moved onto the first block.
	squatter, err := net.Listen("tcp", "127.41.1.10:8443")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	in := Start(t, Topology().
		Service("vpce-svc-03d5ebb7d9579a2b3").
		Endpoint("vpce-0c1308d7312217abc", "vpce-svc-03d5ebb7d9579a2b3", Allow("127.0.0.0/16", "8443")))
	if got := in.Block(); got != netip.MustParsePrefix("127.41.64.0/18") {
		t.Fatalf("block %s, want 127.41.64.0/18 (the first one's interface address is taken)", got)
	}
	conn, err := in.Dial(t.Context(), "vpce-0c1308d7312217abc", 8443)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

// When the blocks run out after some were left to an outside program, the
// error says so, with the address it holds, instead of only suggesting a
// wider range.
func TestStartSaysWhichAddressWasTaken(t *testing.T) {
	t.Setenv(NetEnv, "127.42.0.0/18") // one block
	saved := blocks
	blocks = new(allocator)
	t.Cleanup(func() { blocks = saved })
	squatter, err := net.Listen("tcp", "127.42.1.10:8443")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	_, err = start(t, Topology().
		Service("vpce-svc-03d5ebb7d9579a2b3").
		Endpoint("vpce-0c1308d7312217abc", "vpce-svc-03d5ebb7d9579a2b3", Allow("127.0.0.0/16", "8443")), nil)
	if err == nil || !strings.Contains(err.Error(), "every /18 block of 127.42.0.0/18 is in use") ||
		!strings.Contains(err.Error(), "cannot listen on 127.42.1.10:8443: address already in use") {
		t.Fatalf("error %v, want the range's exhaustion and the taken address", err)
	}
}
