package ppv2

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

var (
	client = netip.MustParseAddrPort("127.0.1.50:40000")
	eni    = netip.MustParseAddrPort("127.0.1.10:8443")
)

func TestProxyParsesWithGoProxyproto(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		id       string
		family   proxyproto.AddressFamilyAndProtocol
	}{
		{"tcp4 with endpoint", client, eni, "vpce-0c1308d7312217abc", proxyproto.TCPv4},
		{"tcp4 without endpoint", client, eni, "", proxyproto.TCPv4},
		{"tcp6", netip.MustParseAddrPort("[fd00::1]:1234"), netip.MustParseAddrPort("[fd00::2]:443"), "vpce-0c1308d7312217abc", proxyproto.TCPv6},
		{"mixed families as tcp6", client, netip.MustParseAddrPort("[fd00::2]:443"), "vpce-1", proxyproto.TCPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendProxy(nil, tt.src, tt.dst, tt.id)
			if len(b) != ProxyLen(tt.src, tt.dst, tt.id) {
				t.Fatalf("len %d, ProxyLen %d", len(b), ProxyLen(tt.src, tt.dst, tt.id))
			}
			h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(append(b, "payload"...))))
			if err != nil {
				t.Fatal(err)
			}
			if h.Command != proxyproto.PROXY || h.TransportProtocol != tt.family {
				t.Fatalf("command %v family %v", h.Command, h.TransportProtocol)
			}
			src, dst, _ := h.TCPAddrs()
			if src.AddrPort().Addr().Unmap() != tt.src.Addr().Unmap() || int(src.AddrPort().Port()) != int(tt.src.Port()) {
				t.Fatalf("source %v, want %v", src, tt.src)
			}
			if dst.AddrPort().Addr().Unmap() != tt.dst.Addr().Unmap() || dst.AddrPort().Port() != tt.dst.Port() {
				t.Fatalf("destination %v, want %v", dst, tt.dst)
			}
			tlvs, err := h.TLVs()
			if err != nil {
				t.Fatal(err)
			}
			if got := tlvparse.FindAWSVPCEndpointID(tlvs); got != tt.id {
				t.Fatalf("endpoint ID %q, want %q", got, tt.id)
			}
		})
	}
}

func TestAWSTLVLayout(t *testing.T) {
	b := AppendProxy(nil, client, eni, "vpce-0c1308d7312217abc")
	tlv := b[16+12:]
	// type 0xEA, length 23 (subtype + 22 ASCII bytes), subtype 0x01
	if tlv[0] != 0xEA || tlv[1] != 0 || tlv[2] != 23 || tlv[3] != 0x01 || string(tlv[4:]) != "vpce-0c1308d7312217abc" {
		t.Fatalf("TLV bytes % x", tlv)
	}
}

// The LOCAL header matches, byte for byte, one captured from an NLB health
// check (kubernetes#57250).
func TestLocalHeaderIsNLBs(t *testing.T) {
	want, _ := hex.DecodeString("0d0a0d0a000d0a515549540a" + "20110054" + "030004bce5951f" + "04004a" + strings.Repeat("00", 74))
	got := AppendLocal(nil)
	if !bytes.Equal(got, want) || len(got) != LocalLen {
		t.Fatalf("LOCAL header\n% x\nwant\n% x", got, want)
	}
	// The checksum verifies as a receiver computes it: over the header with
	// the CRC field zeroed.
	zeroed := bytes.Clone(got)
	copy(zeroed[19:23], []byte{0, 0, 0, 0})
	if crc32.Checksum(zeroed, crc32.MakeTable(crc32.Castagnoli)) != 0xbce5951f {
		t.Fatal("CRC32C does not verify")
	}
	// go-proxyproto reads it as a LOCAL command.
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(got)))
	if err != nil {
		t.Fatal(err)
	}
	if h.Command != proxyproto.LOCAL {
		t.Fatalf("command %v", h.Command)
	}
}

func TestAppendProxyAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, MaxLen)
	if n := testing.AllocsPerRun(100, func() { buf = AppendProxy(buf[:0], client, eni, "vpce-0c1308d7312217abc") }); n != 0 {
		t.Fatalf("%v allocs per header", n)
	}
}

func BenchmarkAppendProxy(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, MaxLen)
	for b.Loop() {
		buf = AppendProxy(buf[:0], client, eni, "vpce-0c1308d7312217abc")
	}
}

func ExampleAppendProxy() {
	h := AppendProxy(nil, netip.MustParseAddrPort("127.0.1.50:40000"), netip.MustParseAddrPort("127.0.1.10:8443"), "vpce-0c1308d7312217abc")
	fmt.Println(hex.EncodeToString(h[12:16]), len(h))
	// Output: 21110026 54
}
