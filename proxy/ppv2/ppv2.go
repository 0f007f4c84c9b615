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

// localPadding is the NOOP TLV value length of LOCAL headers (privlink's
// choice: AWS is observed to pad, its length is not documented).
const localPadding = 4

// MaxLen is the longest header privlink writes (TCP6, endpoint ID of 64 bytes).
const MaxLen = 16 + 36 + 3 + 1 + 64

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
	b = appendPrefix(b, CmdProxy, src, dst, tlv)
	if endpointID != "" {
		b = append(b, TypeAWS, byte((1+len(endpointID))>>8), byte(1+len(endpointID)), SubtypeAWSVPCEndpointID)
		b = append(b, endpointID...)
	}
	return b
}

// AppendLocal appends a LOCAL command header as NLB sends on health-check
// connections: the TCP4/TCP6 family with the health checker's addresses
// (receivers ignore them), a CRC32C TLV and a NOOP padding TLV.
func AppendLocal(b []byte, src, dst netip.AddrPort) []byte {
	start := len(b)
	b = appendPrefix(b, CmdLocal, src, dst, 3+4+3+localPadding)
	crcAt := len(b) + 3
	b = append(b, TypeCRC32C, 0, 4, 0, 0, 0, 0)
	b = append(b, TypeNOOP, 0, localPadding)
	b = append(b, 0, 0, 0, 0) // localPadding zero bytes
	sum := crc32.Checksum(b[start:], castagnoli)
	binary.BigEndian.PutUint32(b[crcAt:], sum)
	return b
}

func appendPrefix(b []byte, cmd byte, src, dst netip.AddrPort, tlvLen int) []byte {
	b = append(b, Signature...)
	fam := byte(TCP6)
	if is4(src, dst) {
		fam = TCP4
	}
	n := addrLen(src, dst) + tlvLen
	b = append(b, cmd, fam, byte(n>>8), byte(n))
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
