package privlinktest

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/privlink/privlink/proxy/ppv2"
)

// FuzzReadHeader: any first bytes decode to a header, no header, or an
// error, never a panic; a header privlink writes decodes to what it wrote.
func FuzzReadHeader(f *testing.F) {
	f.Add(ppv2.AppendProxy(nil, netip.MustParseAddrPort("127.0.1.50:40000"), netip.MustParseAddrPort("127.0.1.10:8443"), "vpce-0c1308d7312217abc"), uint16(40000))
	f.Add(ppv2.AppendLocal(nil), uint16(0))
	f.Add([]byte("PROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n"), uint16(1))
	f.Add([]byte("GET / HTTP/1.1\r\n"), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		readHeader(bufio.NewReader(bytes.NewReader(b))) //nolint:errcheck // must not panic
		src := netip.AddrPortFrom(netip.MustParseAddr("127.0.1.50"), port)
		dst := netip.MustParseAddrPort("127.0.1.10:8443")
		id := "vpce-" + hex.EncodeToString(b) // an ID's alphabet (go-proxyproto checks it)
		if len(id) > 64 {
			id = id[:64]
		}
		h, err := readHeader(bufio.NewReader(bytes.NewReader(ppv2.AppendProxy(nil, src, dst, id))))
		if err != nil || h == nil || h.Local || h.Source != src || h.Destination != dst || h.EndpointID != id {
			t.Fatalf("round trip of %s %s %q: %+v, %v", src, dst, id, h, err)
		}
	})
}
