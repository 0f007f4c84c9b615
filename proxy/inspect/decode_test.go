package inspect_test

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/proxy/inspect"
	"github.com/privlink/privlink/proxy/ppv2"
)

func TestHandBuiltProxyEqualsPrivlinks(t *testing.T) {
	if !bytes.Equal(handProxy, privlinkProxy()) {
		t.Fatalf("hand-built % x\nprivlink   % x", handProxy, privlinkProxy())
	}
}

func TestDecodeValid(t *testing.T) {
	v6src, v6dst := netip.MustParseAddrPort("[fd00::1]:1234"), netip.MustParseAddrPort("[fd00::2]:443")
	tests := []struct {
		name  string
		in    []byte
		want  inspect.Record // Received and Peer stay zero
		names []string       // TLV names in order
	}{
		{"privlink PROXY TCP4 with 0xEA", privlinkProxy(), inspect.Record{Version: 2, Command: inspect.CommandProxy,
			Transport: inspect.TransportTCP4, Source: clientAP, Destination: eniAP, Length: 54, VPCEndpoint: vpceID}, []string{"aws"}},
		{"privlink PROXY TCP6", ppv2.AppendProxy(nil, v6src, v6dst, ""), inspect.Record{Version: 2, Command: inspect.CommandProxy,
			Transport: inspect.TransportTCP6, Source: v6src, Destination: v6dst, Length: 52}, nil},
		{"privlink LOCAL, identical to NLB's", privlinkLocal(), inspect.Record{Version: 2, Command: inspect.CommandLocal, HealthCheck: true,
			Transport: inspect.TransportTCP4, Length: 100, CRC32C: inspect.CRCValid}, []string{"crc32c", "noop"}},
		{"NLB LOCAL capture: TLVs without address block", nlbLocal, inspect.Record{Version: 2, Command: inspect.CommandLocal, HealthCheck: true,
			Transport: inspect.TransportTCP4, Length: 100, CRC32C: inspect.CRCValid}, []string{"crc32c", "noop"}},
		{"v1 TCP4", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\nGET /"), inspect.Record{Version: 1, Command: inspect.CommandProxy,
			Transport: inspect.TransportTCP4, Source: clientAP, Destination: eniAP, Length: 45}, nil},
		{"v1 TCP6", []byte("PROXY TCP6 fd00::1 fd00::2 1234 443\r\n"), inspect.Record{Version: 1, Command: inspect.CommandProxy,
			Transport: inspect.TransportTCP6, Source: v6src, Destination: v6dst, Length: 37}, nil},
		{"v1 UNKNOWN is a health check", []byte("PROXY UNKNOWN\r\n"), inspect.Record{Version: 1, Command: inspect.CommandLocal, HealthCheck: true,
			Transport: inspect.TransportUnspec, Length: 15}, nil},
		{"PROXY of the largest size", bigHeader(), inspect.Record{Version: 2, Command: inspect.CommandProxy,
			Transport: inspect.TransportTCP4, Source: clientAP, Destination: eniAP, Length: inspect.MaxHeaderLen}, []string{""}},
		{"LOCAL UNSPEC, no block", unhex("0d0a0d0a000d0a515549540a 20 00 0000"), inspect.Record{Version: 2, Command: inspect.CommandLocal, HealthCheck: true,
			Transport: inspect.TransportUnspec, Length: 16}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, n, err := inspect.Decode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want.Length {
				t.Fatalf("length %d, want %d", n, tt.want.Length)
			}
			var names []string
			for _, tlv := range rec.TLVs {
				names = append(names, tlv.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.names, ",") {
				t.Fatalf("TLVs %+v, want names %v", rec.TLVs, tt.names)
			}
			if !equalRecord(rec, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", rec, tt.want)
			}
		})
	}
}

func equalRecord(a, b inspect.Record) bool {
	a.TLVs, b.TLVs = nil, nil
	return a.Version == b.Version && a.Command == b.Command && a.HealthCheck == b.HealthCheck &&
		a.Transport == b.Transport && a.Source == b.Source && a.Destination == b.Destination &&
		a.Length == b.Length && a.VPCEndpoint == b.VPCEndpoint && a.CRC32C == b.CRC32C
}

func TestDecodeTLVValuesInHex(t *testing.T) {
	rec, _, err := inspect.Decode(nlbLocal)
	if err != nil {
		t.Fatal(err)
	}
	crc, noop := rec.TLVs[0], rec.TLVs[1]
	if crc.Type != 0x03 || crc.Value != "bce5951f" || noop.Type != 0x04 || noop.Value != strings.Repeat("00", 74) {
		t.Fatalf("TLVs %+v", rec.TLVs)
	}
	rec, _, _ = inspect.Decode(privlinkProxy())
	if aws := rec.TLVs[0]; aws.Type.String() != "0xea" || aws.Value != "01"+"767063652d3063313330386437333132323137616263" {
		t.Fatalf("AWS TLV %+v", aws)
	}
}

func TestDecodeRefusals(t *testing.T) {
	v2 := privlinkProxy()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, inspect.ErrNoHeader},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), inspect.ErrNoHeader},
		{"TLS client hello", unhex("160301020001"), inspect.ErrNoHeader},
		{"near-signature garbage", []byte("\r\n\r\nhello"), inspect.ErrNoHeader},
		{"one byte of v2 signature", v2[:1], inspect.ErrSplit},
		{"eight bytes of v2 signature", v2[:8], inspect.ErrSplit},
		{"v2 fixed part cut", v2[:14], inspect.ErrSplit},
		{"v2 addresses cut", v2[:20], inspect.ErrSplit},
		{"v2 TLV cut", v2[:len(v2)-1], inspect.ErrSplit},
		{"one byte of v1", []byte("P"), inspect.ErrSplit},
		{"v1 line cut", []byte("PROXY TCP4 127.0.1.50 127.0"), inspect.ErrSplit},
		{"v2 of 4096 bytes, cut", bigHeader()[:4000], inspect.ErrSplit},
		{"v2 length above 4096", unhex("0d0a0d0a000d0a515549540a 21 11 1001"), inspect.ErrOversize},
		{"v2 length 65535", unhex("0d0a0d0a000d0a515549540a 21 11 ffff"), inspect.ErrOversize},
		{"v1 line over 107 bytes", []byte("PROXY TCP4 " + strings.Repeat("1", 120)), inspect.ErrOversize},
		{"v2 version 3", unhex("0d0a0d0a000d0a515549540a 31 11 000c 7f000132 7f00010a 9c40 20fb"), inspect.ErrMalformed},
		{"v2 command 2", unhex("0d0a0d0a000d0a515549540a 22 11 000c 7f000132 7f00010a 9c40 20fb"), inspect.ErrMalformed},
		{"v2 undefined family 0x13", unhex("0d0a0d0a000d0a515549540a 21 13 000c 7f000132 7f00010a 9c40 20fb"), inspect.ErrMalformed},
		{"v2 PROXY UNSPEC", unhex("0d0a0d0a000d0a515549540a 21 00 0000"), inspect.ErrMalformed},
		{"v2 TCP4 length below the address block", unhex("0d0a0d0a000d0a515549540a 21 11 0004 7f000132"), inspect.ErrMalformed},
		{"v2 TLV overruns the header", unhex("0d0a0d0a000d0a515549540a 21 11 0011 7f000132 7f00010a 9c40 20fb ea 0009 01 76"), inspect.ErrMalformed},
		{"v2 TLV header truncated", unhex("0d0a0d0a000d0a515549540a 21 11 000e 7f000132 7f00010a 9c40 20fb ea 00"), inspect.ErrMalformed},
		{"v1 without CR", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\n"), inspect.ErrMalformed},
		{"v1 bad address", []byte("PROXY TCP4 127.0.1.500 127.0.1.10 40000 8443\r\n"), inspect.ErrMalformed},
		{"v1 port with leading zero", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 040000 8443\r\n"), inspect.ErrMalformed},
		{"v1 junk after PROXY", []byte("PROXYjunk TCP4\r\n"), inspect.ErrMalformed},
		{"CRC32C mismatch on PROXY", handProxyBadCRC, inspect.ErrCRCMismatch},
		{"CRC32C mismatch on NLB LOCAL", flipped(nlbLocal, 20), inspect.ErrCRCMismatch},
		{"CRC32C mismatch on privlink LOCAL", flipped(privlinkLocal(), 40), inspect.ErrCRCMismatch},
		{"CRC32C TLV of 2 bytes", unhex("0d0a0d0a000d0a515549540a 21 11 0011 7f000132 7f00010a 9c40 20fb 03 0002 abcd"), inspect.ErrCRCMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := inspect.Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if errors.Is(err, inspect.ErrCRCMismatch) && rec.CRC32C != inspect.CRCMismatch {
				t.Fatalf("crc32c %q after a mismatch", rec.CRC32C)
			}
		})
	}
}

func TestDecodeMismatchKeepsHeader(t *testing.T) {
	rec, n, err := inspect.Decode(handProxyBadCRC)
	if !errors.Is(err, inspect.ErrCRCMismatch) || n != len(handProxyBadCRC) {
		t.Fatalf("n %d, err %v", n, err)
	}
	if rec.CRC32C != inspect.CRCMismatch || rec.Source != clientAP {
		t.Fatalf("record %+v", rec)
	}
}

func TestDecodeLeavesData(t *testing.T) {
	in := append(privlinkProxy(), "GET / HTTP/1.1\r\n"...)
	_, n, err := inspect.Decode(in)
	if err != nil || string(in[n:]) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("n %d err %v rest %q", n, err, in[n:])
	}
}

func BenchmarkDecodeProxy(b *testing.B) {
	h := privlinkProxy()
	b.ReportAllocs()
	b.SetBytes(int64(len(h)))
	for b.Loop() {
		if _, _, err := inspect.Decode(h); err != nil {
			b.Fatal(err)
		}
	}
}
