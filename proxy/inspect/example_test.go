package inspect_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/proxy/inspect"
	"github.com/privlink/privlink/proxy/ppv2"
)

// Decode a health-check header as an NLB sends it: LOCAL, a CRC32C TLV and
// NOOP padding right after the 16-byte prefix.
func ExampleDecode() {
	hdr := "\r\n\r\n\x00\r\nQUIT\n" + "\x20\x11\x00\x54" +
		"\x03\x00\x04\xbc\xe5\x95\x1f" + "\x04\x00\x4a" + strings.Repeat("\x00", 74)
	rec, n, err := inspect.Decode([]byte(hdr + "GET /healthz"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Command, rec.HealthCheck, rec.Transport, n, "bytes")
	for _, tlv := range rec.TLVs {
		fmt.Println(tlv.Type, tlv.Name, len(tlv.Value)/2, "bytes")
	}
	fmt.Println("crc32c", rec.CRC32C)
	// Output:
	// LOCAL true TCP4 100 bytes
	// 0x03 crc32c 4 bytes
	// 0x04 noop 74 bytes
	// crc32c valid
}

// Judge headers against what an NLB sends: a version 1 header, then a v2
// header without the VPC endpoint ID.
func ExampleVerdict() {
	rec, _, err := inspect.Decode([]byte("PROXY TCP4 10.0.1.50 10.0.1.10 40000 443\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Conformance.Conforms())
	for _, it := range rec.Conformance {
		fmt.Println(it)
	}
	hdr := ppv2.AppendProxy(nil, netip.MustParseAddrPort("10.0.1.50:40000"), netip.MustParseAddrPort("10.0.1.10:443"), "")
	rec, _, _ = inspect.Decode(hdr)
	fmt.Println(rec.Conformance[0].Note())
	// Output:
	// false
	// v1
	// aws_tlv: NLB sends exactly one TLV 0xEA on every PROXY header
}

// Run the sidecar as an echo server and look at what a client behind an NLB
// sent.
func ExampleServer() {
	srv, err := inspect.New(inspect.Options{Listen: "127.0.0.1:0", Require: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()

	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	hdr := ppv2.AppendProxy(nil, netip.MustParseAddrPort("10.0.1.50:40000"),
		netip.MustParseAddrPort("10.0.1.10:443"), "vpce-0c1308d7312217abc")
	_, _ = c.Write(append(hdr, "hello"...))
	_ = c.(*net.TCPConn).CloseWrite()
	echo, _ := io.ReadAll(c)
	_ = c.Close()

	rec := srv.Headers(1)[0]
	fmt.Printf("%s\n%s v%d from %s to %s via %s\n", echo, rec.Command, rec.Version, rec.Source, rec.Destination, rec.VPCEndpoint)
	// Output:
	// hello
	// PROXY v2 from 10.0.1.50:40000 to 10.0.1.10:443 via vpce-0c1308d7312217abc
}
