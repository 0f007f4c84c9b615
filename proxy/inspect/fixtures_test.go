package inspect_test

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/proxy/ppv2"
)

// Addresses the fixtures use: a consumer client, the endpoint interface it
// connected to, and an NLB node health-checking a target.
var (
	clientAP = netip.MustParseAddrPort("127.0.1.50:40000")
	eniAP    = netip.MustParseAddrPort("127.0.1.10:8443")
	nodeAP   = netip.MustParseAddrPort("127.0.10.5:1024")
	targetAP = netip.MustParseAddrPort("127.0.10.20:9443")
)

const vpceID = "vpce-0c1308d7312217abc"

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Hand-built fixtures, byte by byte.
var (
	// nlbLocal is a health-check header as captured from a real NLB
	// (kubernetes/kubernetes#57250): LOCAL, TCP4 family, length 84, and no
	// address block: CRC32C 0xbce5951f, then NOOP padding of 74 zero bytes.
	nlbLocal = unhex(`0d0a0d0a000d0a515549540a 20 11 0054
		03 0004 bce5951f
		04 004a` + strings.Repeat("00", 74))

	// handProxy is PROXY TCP4 127.0.1.50:40000 → 127.0.1.10:8443 with the
	// AWS TLV 0xEA, subtype 0x01, endpoint ID vpce-0c1308d7312217abc.
	handProxy = unhex(`0d0a0d0a000d0a515549540a 21 11 0026
		7f000132 7f00010a 9c40 20fb
		ea 0017 01 767063652d3063313330386437333132323137616263`)

	// handProxyCRC is PROXY TCP4 127.0.1.50:40000 → 127.0.1.10:8443 with a
	// CRC32C TLV whose value is wrong.
	handProxyBadCRC = unhex(`0d0a0d0a000d0a515549540a 21 11 0013
		7f000132 7f00010a 9c40 20fb
		03 0004 deadbeef`)
)

func privlinkProxy() []byte { return ppv2.AppendProxy(nil, clientAP, eniAP, vpceID) }
func privlinkLocal() []byte { return ppv2.AppendLocal(nil) }

func flipped(b []byte, at int) []byte {
	out := append([]byte(nil), b...)
	out[at] ^= 0xff
	return out
}

func proxyprotoOpts(upstream net.Addr) proxyproto.ConnPolicyOptions {
	return proxyproto.ConnPolicyOptions{Upstream: upstream}
}

// bigHeader is a PROXY header of the largest accepted size: 12 address
// bytes and one 4081-byte experimental TLV fill the 4096 allowed.
func bigHeader() []byte {
	h := ppv2.AppendProxy(nil, clientAP, eniAP, "")
	const tlvLen = 4096 - 12 - 3
	h[14], h[15] = 0x10, 0x00 // length 4096
	h = append(h, 0xF0, tlvLen>>8, tlvLen&0xff)
	return append(h, make([]byte, tlvLen)...)
}

// privlink's health-check header is the captured NLB one, byte for byte.
func TestPrivlinkLocalIsNLBs(t *testing.T) {
	if !bytes.Equal(privlinkLocal(), nlbLocal) {
		t.Fatalf("privlink LOCAL\n% x\nNLB capture\n% x", privlinkLocal(), nlbLocal)
	}
}
