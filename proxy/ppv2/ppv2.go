// Package ppv2 writes PROXY protocol version 2 headers the way an AWS Network
// Load Balancer does for PrivateLink traffic: the PROXY command with the
// client's address and the VPC endpoint ID in TLV 0xEA/0x01, and the LOCAL
// command, with a CRC32C and NOOP padding, for health checks.
//
// Every function appends to a caller's buffer and allocates nothing when the
// buffer has room. Parsing is left to github.com/pires/go-proxyproto.
package ppv2

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

// Signature starts every version 2 header.
const Signature = "\r\n\r\n\x00\r\nQUIT\n"

// Header bytes 12 and 13.
const (
	CmdLocal = 0x20 // version 2, LOCAL
	CmdProxy = 0x21 // version 2, PROXY
	TCP4     = 0x11 // AF_INET, STREAM
	TCP6     = 0x21 // AF_INET6, STREAM
)

// TLV types privlink writes.
const (
	TypeCRC32C = 0x03
	TypeNOOP   = 0x04
	TypeAWS    = 0xEA
	// SubtypeAWSVPCEndpointID is the only documented subtype of TypeAWS.
	SubtypeAWSVPCEndpointID = 0x01
)

// localPadding is the NOOP TLV value length of LOCAL headers: 74 zero
// bytes, as in a header captured from an NLB (kubernetes#57250).
const localPadding = 74

// MaxLen is the longest header privlink writes (TCP6, endpoint ID of 64 bytes).
const MaxLen = 16 + 36 + 3 + 1 + 64

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	noop       [localPadding]byte
)

// ProxyLen is the length of the PROXY header AppendProxy writes.
func ProxyLen(src, dst netip.AddrPort, endpointID string) int {
	n := 16 + addrLen(src, dst)
	if endpointID != "" {
		n += 3 + 1 + len(endpointID)
	}
	return n
}

func addrLen(src, dst netip.AddrPort) int {
	if is4(src, dst) {
		return 12
	}
	return 36
}

func is4(src, dst netip.AddrPort) bool {
	return src.Addr().Unmap().Is4() && dst.Addr().Unmap().Is4()
}

// AppendProxy appends a PROXY command header for a TCP connection from src
// to dst; a non-empty endpointID is carried in TLV 0xEA with subtype 0x01.
// Mixed families are written as TCP6 with IPv4-mapped addresses.
func AppendProxy(b []byte, src, dst netip.AddrPort, endpointID string) []byte {
	tlv := 0
	if endpointID != "" {
		tlv = 3 + 1 + len(endpointID)
	}
	b = appendPrefix(b, src, dst, tlv)
	if endpointID != "" {
		b = append(b, TypeAWS, byte((1+len(endpointID))>>8), byte(1+len(endpointID)), SubtypeAWSVPCEndpointID)
		b = append(b, endpointID...)
	}
	return b
}

// LocalLen is the length of the LOCAL header AppendLocal writes.
const LocalLen = 16 + 7 + 3 + localPadding

// AppendLocal appends the LOCAL command header NLB sends on health-check
// connections, byte for byte as captured from AWS (kubernetes#57250): the
// TCP4 family byte but no address block, a CRC32C TLV right after the
// 16-byte prefix, then a NOOP TLV of 74 zero bytes. Receivers that expect a
// 12-byte address block after a TCP4 family misparse it, as they do behind
// a real NLB.
func AppendLocal(b []byte) []byte {
	start := len(b)
	b = append(b, Signature...)
	n := 7 + 3 + localPadding
	b = append(b, CmdLocal, TCP4, byte(n>>8), byte(n))
	crcAt := len(b) + 3
	b = append(b, TypeCRC32C, 0, 4, 0, 0, 0, 0)
	b = append(b, TypeNOOP, 0, localPadding)
	b = append(b, noop[:]...)
	binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b[start:], castagnoli))
	return b
}

func appendPrefix(b []byte, src, dst netip.AddrPort, tlvLen int) []byte {
	b = append(b, Signature...)
	fam := byte(TCP6)
	if is4(src, dst) {
		fam = TCP4
	}
	n := addrLen(src, dst) + tlvLen
	b = append(b, CmdProxy, fam, byte(n>>8), byte(n))
	if fam == TCP4 {
		s, d := src.Addr().Unmap().As4(), dst.Addr().Unmap().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, src.Port()), dst.Port())
}
