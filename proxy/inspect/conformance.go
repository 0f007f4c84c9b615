package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/proxy/ppv2"
)

// Item is one way a header differs from what an AWS Network Load Balancer
// sends. Its String is the `item` label of
// privlink_inspect_nonconforming_headers_total; the set is fixed.
type Item uint8

// The items, in the order a verdict lists them.
const (
	ItemSplit       Item = iota + 1 // the header took more than one read
	ItemV1                          // PROXY protocol version 1
	ItemFamily                      // not TCP4/TCP6 (PROXY) or TCP4 (LOCAL)
	ItemCommand                     // a LOCAL header carrying an address block
	ItemDestination                 // the destination is not an endpoint interface address
	ItemAWSTLV                      // a PROXY header without exactly one TLV 0xEA
	ItemAWSSubtype                  // TLV 0xEA without subtype 0x01
	ItemVPCEID                      // the endpoint ID is not vpce- and 17 (or 8) hex digits
	ItemCRC32C                      // a LOCAL header without a CRC32C, or a CRC32C that does not verify
	ItemPadding                     // a LOCAL header without NOOP padding
	ItemTLV                         // a TLV type NLB does not send
	ItemStacked                     // a second PROXY header right behind the first
	numItems
)

var items = [numItems]struct{ name, note string }{
	ItemSplit:       {"split", "HAProxy 2.6 and nginx 1.22 refuse a header split across reads"},
	ItemV1:          {"v1", "NLB sends PROXY protocol version 2"},
	ItemFamily:      {"family", "NLB sends TCP4 or TCP6, and TCP4 on its LOCAL health checks"},
	ItemCommand:     {"command", "NLB sends LOCAL only on its health checks, without an address block; a relayed connection is PROXY"},
	ItemDestination: {"destination", "NLB's destination is an endpoint interface address"},
	ItemAWSTLV:      {"aws_tlv", "NLB sends exactly one TLV 0xEA on every PROXY header"},
	ItemAWSSubtype:  {"aws_subtype", "NLB's TLV 0xEA starts with subtype 0x01, the VPC endpoint ID"},
	ItemVPCEID:      {"vpce_id", "NLB's endpoint ID is vpce- and 17 (or, for old endpoints, 8) lowercase hex digits"},
	ItemCRC32C:      {"crc32c", "NLB's health-check header carries a CRC32C TLV, and a CRC32C must verify"},
	ItemPadding:     {"padding", "NLB's health-check header carries a NOOP padding TLV"},
	ItemTLV:         {"tlv", "NLB sends only TLVs 0xEA (PROXY), 0x03 and 0x04 (CRC32C, NOOP)"},
	ItemStacked:     {"stacked", "NLB's header is followed by the client's data, not by another PROXY header"},
}

func (i Item) String() string {
	if i == 0 || i >= numItems {
		return "unknown"
	}
	return items[i].name
}

// Note is the item's log text: its name, a colon and what NLB does.
func (i Item) Note() string {
	if i == 0 || i >= numItems {
		return "unknown"
	}
	return items[i].name + ": " + items[i].note
}

// MarshalText renders i as its Note.
func (i Item) MarshalText() ([]byte, error) { return []byte(i.Note()), nil }

// UnmarshalText parses a Note or a bare item name.
func (i *Item) UnmarshalText(b []byte) error {
	name, _, _ := strings.Cut(string(b), ":")
	for it := ItemSplit; it < numItems; it++ {
		if items[it].name == name {
			*i = it
			return nil
		}
	}
	return fmt.Errorf("inspect: unknown conformance item %q", name)
}

// Items lists every Item in verdict order.
func Items() []Item {
	out := make([]Item, 0, numItems-1)
	for i := ItemSplit; i < numItems; i++ {
		out = append(out, i)
	}
	return out
}

// Verdict is the conformance verdict of a header: the items in which it
// differs from what an NLB sends, in Items order. Empty means it conforms.
type Verdict []Item

// Conforms reports whether the verdict lists no item.
func (v Verdict) Conforms() bool { return len(v) == 0 }

// Has reports whether the verdict lists i.
func (v Verdict) Has(i Item) bool {
	for _, it := range v {
		if it == i {
			return true
		}
	}
	return false
}

// with returns v with i added in its place; v is unchanged when it has i.
func (v Verdict) with(i Item) Verdict {
	if v.Has(i) {
		return v
	}
	at := 0
	for at < len(v) && v[at] < i {
		at++
	}
	out := make(Verdict, 0, len(v)+1)
	out = append(out, v[:at]...)
	out = append(out, i)
	return append(out, v[at:]...)
}

// MarshalJSON writes the notes as a list, [] when the header conforms.
func (v Verdict) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Item(v))
}

// judgeV2 lists how a decoded v2 header differs from NLB's: hdr is the
// whole header, spans its TLVs.
func (rec *Record) judgeV2(hdr []byte, spans []span) {
	if rec.Command == CommandLocal {
		rec.judgeLocal(hdr, spans)
		return
	}
	if fam := hdr[13]; fam != ppv2.TCP4 && fam != ppv2.TCP6 {
		rec.Conformance = rec.Conformance.with(ItemFamily)
	}
	aws := 0
	for _, sp := range spans {
		switch sp.t {
		case ppv2.TypeAWS:
			aws++
			rec.judgeAWS(hdr[sp.from:sp.to])
		case ppv2.TypeCRC32C, ppv2.TypeNOOP:
		default:
			rec.Conformance = rec.Conformance.with(ItemTLV)
		}
	}
	if aws != 1 {
		rec.Conformance = rec.Conformance.with(ItemAWSTLV)
	}
	if rec.CRC32C == CRCMismatch {
		rec.Conformance = rec.Conformance.with(ItemCRC32C)
	}
}

// judgeLocal compares a LOCAL header with NLB's health-check header: TCP4
// family, no address block, a CRC32C that verifies, NOOP padding.
func (rec *Record) judgeLocal(hdr []byte, spans []span) {
	if hdr[13] != ppv2.TCP4 {
		rec.Conformance = rec.Conformance.with(ItemFamily)
	}
	if rec.Source.IsValid() {
		rec.Conformance = rec.Conformance.with(ItemCommand)
	}
	noop := false
	for _, sp := range spans {
		switch sp.t {
		case ppv2.TypeNOOP:
			noop = true
		case ppv2.TypeCRC32C:
		default:
			rec.Conformance = rec.Conformance.with(ItemTLV)
		}
	}
	if rec.CRC32C != CRCValid {
		rec.Conformance = rec.Conformance.with(ItemCRC32C)
	}
	if !noop {
		rec.Conformance = rec.Conformance.with(ItemPadding)
	}
}

// judgeAWS checks one TLV 0xEA value: subtype 0x01 and a well-formed ID.
func (rec *Record) judgeAWS(val []byte) {
	switch {
	case len(val) == 0 || val[0] != ppv2.SubtypeAWSVPCEndpointID:
		rec.Conformance = rec.Conformance.with(ItemAWSSubtype)
	case !wellFormedVPCEID(val[1:]):
		rec.Conformance = rec.Conformance.with(ItemVPCEID)
	}
}

// wellFormedVPCEID reports whether id is "vpce-" and 17 lowercase hex
// digits, or 8 for endpoints created before AWS lengthened its IDs.
func wellFormedVPCEID(id []byte) bool {
	hex, ok := bytes.CutPrefix(id, []byte("vpce-"))
	if !ok || len(hex) != 17 && len(hex) != 8 {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// judgeDestination adds ItemDestination to a PROXY header whose destination
// is outside endpoints; without endpoints the item is not judged.
func (rec *Record) judgeDestination(endpoints []netip.Prefix) {
	if len(endpoints) == 0 || rec.Command != CommandProxy || !rec.Destination.IsValid() {
		return
	}
	ip := rec.Destination.Addr().Unmap()
	for _, p := range endpoints {
		if p.Contains(ip) {
			return
		}
	}
	rec.Conformance = rec.Conformance.with(ItemDestination)
}
