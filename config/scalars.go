package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("350s", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText parses a Go duration; a bare number is refused because its
// unit would be a guess.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Errorf("duration %q has no unit; write e.g. %ss", s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use Go syntax such as 350s or 1m30s)", s)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Protocol is an IP protocol number; ProtocolAll (-1) matches every protocol.
type Protocol int16

// Protocols privlink names. Traffic is TCP; rules for other protocols are
// accepted (AWS allows them) and simply never match a TCP flow.
const (
	ProtocolNone Protocol = 0 // not set
	ProtocolAll  Protocol = -1
	ProtocolICMP Protocol = 1
	ProtocolTCP  Protocol = 6
	ProtocolUDP  Protocol = 17
)

// UnmarshalText accepts tcp, udp, icmp, all, -1 or a protocol number 1–255.
func (p *Protocol) UnmarshalText(b []byte) error {
	switch s := strings.ToLower(string(b)); s {
	case "tcp":
		*p = ProtocolTCP
	case "udp":
		*p = ProtocolUDP
	case "icmp":
		*p = ProtocolICMP
	case "all", "-1":
		*p = ProtocolAll
	default:
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 255 {
			return fmt.Errorf("invalid protocol %q (use tcp, udp, icmp, all, -1 or a number 1-255)", s)
		}
		*p = Protocol(n)
	}
	return nil
}

func (p Protocol) String() string {
	switch p {
	case ProtocolAll:
		return "all"
	case ProtocolTCP:
		return "tcp"
	case ProtocolUDP:
		return "udp"
	case ProtocolICMP:
		return "icmp"
	case ProtocolNone:
		return ""
	}
	return strconv.Itoa(int(p))
}

// MarshalText writes the protocol name.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Matches reports whether a rule for p applies to a flow of protocol q.
func (p Protocol) Matches(q Protocol) bool { return p == ProtocolAll || p == q }

// PortRange is an inclusive destination port range. The zero value means
// "not given", which rules treat as all ports.
type PortRange struct {
	From, To uint16
}

// AllPorts is the range 0–65535.
var AllPorts = PortRange{From: 0, To: 65535}

// IsZero reports whether no range was given.
func (r PortRange) IsZero() bool { return r == PortRange{} }

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.From <= p && p <= r.To }

func (r PortRange) String() string {
	switch {
	case r == AllPorts || r.IsZero():
		return "all"
	case r.From == r.To:
		return strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// MarshalText writes "all", "N" or "N-M".
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

var errPortRange = errors.New("ports must be within 1-65535")

// ParsePortRange parses "all", "-1", "N" or "N-M" with 1 ≤ N ≤ M ≤ 65535.
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "all" || s == "-1" {
		return AllPorts, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	from, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("invalid port range %q: %w", s, err)
	}
	to := from
	if isRange {
		if to, err = parsePort(hi); err != nil {
			return PortRange{}, fmt.Errorf("invalid port range %q: %w", s, err)
		}
	}
	if from > to {
		return PortRange{}, fmt.Errorf("invalid port range %q: start is above end", s)
	}
	return PortRange{From: from, To: to}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if n < 1 || n > 65535 {
		return 0, errPortRange
	}
	return uint16(n), nil
}

// UnmarshalText parses the range (see ParsePortRange).
func (r *PortRange) UnmarshalText(b []byte) error {
	v, err := ParsePortRange(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Action is a NACL rule action.
type Action string

// NACL actions.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
)

// UnmarshalText accepts allow or deny.
func (a *Action) UnmarshalText(b []byte) error {
	switch s := Action(strings.ToLower(string(b))); s {
	case Allow, Deny:
		*a = s
		return nil
	}
	return fmt.Errorf("invalid action %q (use allow or deny)", b)
}

// DenyAction is what privlink does with a denied flow.
type DenyAction string

// Deny actions.
const (
	// DenyDrop holds the client socket silent, as AWS drops the packets.
	DenyDrop DenyAction = "drop"
	// DenyReset sends an RST at once (fast tests).
	DenyReset DenyAction = "reset"
)

// UnmarshalText accepts drop or reset.
func (a *DenyAction) UnmarshalText(b []byte) error {
	switch s := DenyAction(strings.ToLower(string(b))); s {
	case DenyDrop, DenyReset:
		*a = s
		return nil
	}
	return fmt.Errorf("invalid deny_action %q (use drop or reset)", b)
}

// UnmarshalText accepts first_data or connect.
func (p *Placement) UnmarshalText(b []byte) error {
	switch s := Placement(strings.ToLower(string(b))); s {
	case PlacementFirstData, PlacementConnect:
		*p = s
		return nil
	}
	return fmt.Errorf("invalid placement %q (use first_data or connect)", b)
}

// UnmarshalText accepts echo, sink or source.
func (m *Builtin) UnmarshalText(b []byte) error {
	switch s := Builtin(strings.ToLower(string(b))); s {
	case BuiltinEcho, BuiltinSink, BuiltinSource:
		*m = s
		return nil
	}
	return fmt.Errorf("invalid builtin %q (use echo, sink or source)", b)
}
