package inspect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
)

// Command is the PROXY protocol command of a header.
type Command uint8

// The commands. A v1 "PROXY UNKNOWN" line is reported as CommandLocal, as
// the protocol specification asks receivers to treat it.
const (
	CommandProxy Command = iota // the sender relays a client connection
	CommandLocal                // the sender's own connection: a health check
)

func (c Command) String() string {
	if c == CommandLocal {
		return "LOCAL"
	}
	return "PROXY"
}

// MarshalText renders c as PROXY or LOCAL.
func (c Command) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText parses PROXY or LOCAL.
func (c *Command) UnmarshalText(b []byte) error {
	switch string(b) {
	case "PROXY":
		*c = CommandProxy
	case "LOCAL":
		*c = CommandLocal
	default:
		return fmt.Errorf("inspect: command %q is not PROXY or LOCAL", b)
	}
	return nil
}

// Transport is the address family and transport protocol byte of a header
// (v2 byte 13; v1 TCP4/TCP6/UNKNOWN are mapped onto the same values).
type Transport uint8

// The transports the protocol defines.
const (
	TransportUnspec     Transport = 0x00
	TransportTCP4       Transport = 0x11
	TransportUDP4       Transport = 0x12
	TransportTCP6       Transport = 0x21
	TransportUDP6       Transport = 0x22
	TransportUnixStream Transport = 0x31
	TransportUnixDgram  Transport = 0x32
)

var transportNames = map[Transport]string{
	TransportUnspec: "UNSPEC", TransportTCP4: "TCP4", TransportUDP4: "UDP4",
	TransportTCP6: "TCP6", TransportUDP6: "UDP6",
	TransportUnixStream: "UNIX_STREAM", TransportUnixDgram: "UNIX_DGRAM",
}

func (t Transport) String() string {
	if name, ok := transportNames[t]; ok {
		return name
	}
	return TLVType(t).String()
}

// MarshalText renders t by name (TCP4, TCP6, UNSPEC, ...).
func (t Transport) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a name MarshalText writes.
func (t *Transport) UnmarshalText(b []byte) error {
	for v, name := range transportNames {
		if name == string(b) {
			*t = v
			return nil
		}
	}
	return fmt.Errorf("inspect: unknown transport %q", b)
}

// IsTCP reports whether t is TCP over IPv4 or IPv6.
func (t Transport) IsTCP() bool { return t == TransportTCP4 || t == TransportTCP6 }

// CRC32C values of Record.CRC32C.
const (
	CRCValid    = "valid"    // a CRC32C TLV was present and matched
	CRCMismatch = "mismatch" // a CRC32C TLV was present and did not match
)

// TLVType is the type byte of a TLV, rendered in hex ("0xea").
type TLVType uint8

func (t TLVType) String() string {
	const digits = "0123456789abcdef"
	return string([]byte{'0', 'x', digits[t>>4], digits[t&0xf]})
}

// MarshalText renders t in hex, as "0x03".
func (t TLVType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses "0x03".
func (t *TLVType) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(string(b), "0x"), 16, 8)
	if err != nil || !strings.HasPrefix(string(b), "0x") {
		return fmt.Errorf("inspect: TLV type %q is not 0x00 to 0xff", b)
	}
	*t = TLVType(v)
	return nil
}

// TLV is one type-length-value entry of a v2 header, as received.
type TLV struct {
	Type  TLVType `json:"type"`
	Name  string  `json:"name,omitempty"` // the registered name, e.g. crc32c, noop, aws
	Value string  `json:"value"`          // the value bytes in hex
}

// Record is one PROXY header as the sidecar received it.
type Record struct {
	Received    time.Time      `json:"received,omitzero"`
	Peer        netip.AddrPort `json:"peer,omitzero"` // the socket peer that sent it (the NLB node)
	Version     int            `json:"version"`       // 1 or 2
	Command     Command        `json:"command"`
	HealthCheck bool           `json:"health_check"` // Command is LOCAL
	Transport   Transport      `json:"transport"`
	Source      netip.AddrPort `json:"source,omitzero"`      // the client, for PROXY over TCP or UDP
	Destination netip.AddrPort `json:"destination,omitzero"` // what the client connected to
	Length      int            `json:"length"`               // header bytes, signature included
	TLVs        []TLV          `json:"tlvs,omitempty"`
	VPCEndpoint string         `json:"vpce_id,omitempty"` // AWS TLV 0xEA subtype 0x01
	CRC32C      string         `json:"crc32c,omitempty"`  // CRCValid, CRCMismatch or "" when absent
	// Conformance lists how the header differs from what an NLB sends;
	// empty when it conforms.
	Conformance Verdict `json:"conformance"`
}

// MarshalLogObject writes r as fields of one zap log line; Peer is left to
// the connection's logger, which carries it on every line.
func (r *Record) MarshalLogObject(e zapcore.ObjectEncoder) error {
	e.AddString("received", r.Received.Format(time.RFC3339Nano))
	e.AddInt("version", r.Version)
	e.AddString("command", r.Command.String())
	e.AddBool("health_check", r.HealthCheck)
	e.AddString("transport", r.Transport.String())
	if r.Source.IsValid() {
		e.AddString("source", r.Source.String())
		e.AddString("destination", r.Destination.String())
	}
	e.AddInt("length", r.Length)
	if len(r.TLVs) > 0 {
		_ = e.AddArray("tlvs", tlvList(r.TLVs))
	}
	if r.VPCEndpoint != "" {
		e.AddString("vpce_id", r.VPCEndpoint)
	}
	if r.CRC32C != "" {
		e.AddString("crc32c", r.CRC32C)
	}
	return e.AddArray("conformance", r.Conformance)
}

// MarshalLogArray writes the verdict's notes, an empty array when the
// header conforms.
func (v Verdict) MarshalLogArray(e zapcore.ArrayEncoder) error {
	for _, it := range v {
		e.AppendString(it.Note())
	}
	return nil
}

type tlvList []TLV

func (l tlvList) MarshalLogArray(e zapcore.ArrayEncoder) error {
	for i := range l {
		_ = e.AppendObject(&l[i])
	}
	return nil
}

// MarshalLogObject writes t as {type, name, value}.
func (t *TLV) MarshalLogObject(e zapcore.ObjectEncoder) error {
	e.AddString("type", t.Type.String())
	if t.Name != "" {
		e.AddString("name", t.Name)
	}
	e.AddString("value", t.Value)
	return nil
}

// tlvName is the registered name of a TLV type, or "".
func tlvName(t TLVType) string {
	switch t {
	case 0x01:
		return "alpn"
	case 0x02:
		return "authority"
	case 0x03:
		return "crc32c"
	case 0x04:
		return "noop"
	case 0x05:
		return "unique_id"
	case 0x20:
		return "ssl"
	case 0x30:
		return "netns"
	case 0xEA:
		return "aws"
	}
	return ""
}
