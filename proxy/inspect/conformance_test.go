package inspect_test

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/privlink/privlink/proxy/inspect"
	"github.com/privlink/privlink/proxy/ppv2"
)

// v2 builds a v2 header with the command and family bytes and the body
// (address block and TLVs), its length field filled in.
func v2(cmd, fam byte, body ...[]byte) []byte {
	h := append([]byte(ppv2.Signature), cmd, fam, 0, 0)
	for _, b := range body {
		h = append(h, b...)
	}
	binary.BigEndian.PutUint16(h[14:16], uint16(len(h)-16))
	return h
}

// tlv is one TLV.
func tlv(t byte, val []byte) []byte {
	return append([]byte{t, byte(len(val) >> 8), byte(len(val))}, val...)
}

// awsTLV is TLV 0xEA with the subtype and ID.
func awsTLV(subtype byte, id string) []byte { return tlv(ppv2.TypeAWS, append([]byte{subtype}, id...)) }

// sealed fills in the value of the header's CRC32C TLV (the first TLV of
// type 0x03 at or after byte from) so that it verifies.
func sealed(h []byte, from int) []byte {
	at := from
	for h[at] != ppv2.TypeCRC32C {
		at += 3 + int(binary.BigEndian.Uint16(h[at+1:at+3]))
	}
	clear(h[at+3 : at+7])
	binary.BigEndian.PutUint32(h[at+3:], crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli)))
	return h
}

var (
	addr4   = unhex("7f000132 7f00010a 9c40 20fb") // 127.0.1.50:40000 → 127.0.1.10:8443
	crcTLV  = tlv(ppv2.TypeCRC32C, make([]byte, 4))
	noopTLV = tlv(ppv2.TypeNOOP, make([]byte, 74))
	goodAWS = awsTLV(0x01, vpceID)
)

// endpointAddrs are the endpoint interfaces of the conformance tests.
var endpointAddrs = []netip.Prefix{netip.MustParsePrefix("127.0.1.10/32")}

// Each conformance item has a header that triggers it, over a real socket;
// privlink's own headers trigger none.
func TestConformanceItems(t *testing.T) {
	tests := []struct {
		name   string
		send   []byte
		want   []inspect.Item
		reason string // the refusal, "" when accepted
	}{
		{"privlink PROXY", privlinkProxy(), nil, ""},
		{"privlink LOCAL", privlinkLocal(), nil, ""},
		{"NLB LOCAL capture", nlbLocal, nil, ""},
		{"privlink PROXY over TCP6", ppv2.AppendProxy(nil, netip.MustParseAddrPort("[fd00::50]:40000"), netip.MustParseAddrPort("[::ffff:127.0.1.10]:8443"), vpceID), nil, ""},
		{"old short endpoint ID", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, awsTLV(0x01, "vpce-1a2b3c4d")), nil, ""},
		{"v1", []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n"), []inspect.Item{inspect.ItemV1}, ""},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), []inspect.Item{inspect.ItemV1}, ""},
		{"UDP4 family", v2(ppv2.CmdProxy, 0x12, addr4, goodAWS), []inspect.Item{inspect.ItemFamily}, ""},
		{"LOCAL with UNSPEC family", sealed(v2(ppv2.CmdLocal, 0x00, crcTLV, noopTLV), 16), []inspect.Item{inspect.ItemFamily}, ""},
		{"LOCAL with an address block", sealed(v2(ppv2.CmdLocal, ppv2.TCP4, addr4, crcTLV, noopTLV), 28), []inspect.Item{inspect.ItemCommand}, ""},
		{"destination outside the endpoint interfaces", ppv2.AppendProxy(nil, clientAP, netip.MustParseAddrPort("127.0.9.9:8443"), vpceID), []inspect.Item{inspect.ItemDestination}, ""},
		{"no AWS TLV", ppv2.AppendProxy(nil, clientAP, eniAP, ""), []inspect.Item{inspect.ItemAWSTLV}, ""},
		{"two AWS TLVs", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, goodAWS, goodAWS), []inspect.Item{inspect.ItemAWSTLV}, ""},
		{"AWS TLV subtype 0x02", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, awsTLV(0x02, vpceID)), []inspect.Item{inspect.ItemAWSSubtype}, ""},
		{"empty AWS TLV", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, tlv(ppv2.TypeAWS, nil)), []inspect.Item{inspect.ItemAWSSubtype}, ""},
		{"endpoint ID not hex", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, awsTLV(0x01, "vpce-myendpoint")), []inspect.Item{inspect.ItemVPCEID}, ""},
		{"endpoint ID in capitals", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, awsTLV(0x01, "vpce-0C1308D7312217ABC")), []inspect.Item{inspect.ItemVPCEID}, ""},
		{"LOCAL without CRC32C", v2(ppv2.CmdLocal, ppv2.TCP4, noopTLV), []inspect.Item{inspect.ItemCRC32C}, ""},
		{"CRC32C mismatch", flipped(sealed(v2(ppv2.CmdProxy, ppv2.TCP4, addr4, goodAWS, crcTLV), 28), 60), []inspect.Item{inspect.ItemCRC32C}, "crc_mismatch"},
		{"LOCAL without padding", sealed(v2(ppv2.CmdLocal, ppv2.TCP4, crcTLV), 16), []inspect.Item{inspect.ItemPadding}, ""},
		{"ALPN TLV", v2(ppv2.CmdProxy, ppv2.TCP4, addr4, goodAWS, tlv(0x01, []byte("h2"))), []inspect.Item{inspect.ItemTLV}, ""},
		{"AWS TLV on LOCAL", sealed(v2(ppv2.CmdLocal, ppv2.TCP4, crcTLV, noopTLV, goodAWS), 16), []inspect.Item{inspect.ItemTLV}, ""},
		{"stacked", append(privlinkProxy(), privlinkProxy()...), []inspect.Item{inspect.ItemStacked}, "stacked"},
		{"HAProxy health check", v2(ppv2.CmdLocal, 0x00), []inspect.Item{inspect.ItemFamily, inspect.ItemCRC32C, inspect.ItemPadding}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := startSidecar(t, inspect.Options{EndpointAddrs: endpointAddrs})
			c := sc.dial(t, "")
			write(t, c, append(slices.Clone(tt.send), "data"...))
			var m map[string]any
			if tt.reason == "" {
				readN(t, c, 4)
				m = sc.waitPeer(t, c, logMsg(tt.send), nil)
			} else {
				readToEnd(t, c)
				m = sc.waitPeer(t, c, "connection closed", func(m map[string]any) bool { return m["reason"] == tt.reason })
			}
			want := []string{}
			for _, it := range tt.want {
				want = append(want, it.Note())
			}
			if got := notes(m); !slices.Equal(got, want) {
				t.Fatalf("conformance %q, want %q", got, want)
			}
			for _, it := range inspect.Items() {
				n := 0.0
				if slices.Contains(tt.want, it) {
					n = 1
				}
				if got := sc.metric(t, "privlink_inspect_nonconforming_headers_total", "item", it.String()); got != n {
					t.Errorf("nonconforming{item=%s} = %v, want %v", it, got, n)
				}
			}
			if c := sc.Conformance(); c.Headers != 1 || c.OK() != (len(tt.want) == 0) {
				t.Fatalf("conformance tally %+v", c)
			}
		})
	}
}

// Without endpoint addresses the destination is not judged.
func TestDestinationNotJudgedWithoutEndpointAddrs(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	c := sc.dial(t, "")
	write(t, c, append(ppv2.AppendProxy(nil, clientAP, netip.MustParseAddrPort("127.0.9.9:8443"), vpceID), 'x'))
	readN(t, c, 1)
	if got := notes(sc.waitPeer(t, c, "PROXY header", nil)); len(got) != 0 {
		t.Fatalf("conformance %q", got)
	}
}

// The verdict is in GET /v1/headers: [] for a conforming header, the notes
// otherwise, and it reads back into the same items.
func TestVerdictInHeadersEndpoint(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	for _, h := range [][]byte{privlinkProxy(), []byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\n")} {
		c := sc.dial(t, "")
		write(t, c, append(slices.Clone(h), 'x'))
		readN(t, c, 1)
	}
	_, body := getHeaders(t, sc.Handler(), "GET", "")
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body["headers"], &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || string(raw[0]["conformance"]) != "[]" {
		t.Fatalf("headers %s", body["headers"])
	}
	if want := `["v1: NLB sends PROXY protocol version 2"]`; string(compact(t, raw[1]["conformance"])) != want {
		t.Fatalf("v1 conformance %s, want %s", raw[1]["conformance"], want)
	}
	var recs []inspect.Record
	if err := json.Unmarshal(body["headers"], &recs); err != nil {
		t.Fatal(err)
	}
	if !recs[0].Conformance.Conforms() || !slices.Equal(recs[1].Conformance, inspect.Verdict{inspect.ItemV1}) {
		t.Fatalf("records %+v", recs)
	}
}

func compact(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

func TestItemNames(t *testing.T) {
	var names []string
	for _, it := range inspect.Items() {
		names = append(names, it.String())
		var back inspect.Item
		if err := back.UnmarshalText([]byte(it.Note())); err != nil || back != it {
			t.Errorf("%s: round trip %v, %v", it, back, err)
		}
	}
	want := []string{"split", "v1", "family", "command", "destination", "aws_tlv", "aws_subtype", "vpce_id", "crc32c", "padding", "tlv", "stacked"}
	if !slices.Equal(names, want) {
		t.Fatalf("items %q, want %q (the metric's label values: change docs/inspect.md with them)", names, want)
	}
	var it inspect.Item
	if err := it.UnmarshalText([]byte("nope: x")); err == nil {
		t.Fatal("unknown item parsed")
	}
}

// The tally behind --check: headers refused for their bytes count against
// it, connections without a header do not count at all, and a stacked
// header found after the first was accepted turns it nonconforming.
func TestConformanceTally(t *testing.T) {
	sc := startSidecar(t, inspect.Options{HeaderTimeout: time.Minute})
	if c := sc.Conformance(); c.OK() || c.Headers != 0 {
		t.Fatalf("before any header: %+v", c)
	}
	exchange(t, sc, append(privlinkProxy(), 'x'), 1)
	exchange(t, sc, append(privlinkLocal(), 'x'), 1)
	exchange(t, sc, []byte("GET / HTTP/1.0\r\n\r\n"), 18) // no header: not counted
	if c := sc.Conformance(); !c.OK() || c.Headers != 2 {
		t.Fatalf("after privlink's headers: %+v", c)
	}

	c := sc.dial(t, "")
	write(t, c, []byte("PROXY TCP4 nope\r\n"))
	readToEnd(t, c)
	sc.waitLog(t, "connection closed", "malformed")

	c = sc.dial(t, "")
	write(t, c, privlinkProxy())
	sc.waitPeer(t, c, "PROXY header", nil) // accepted and counted, then
	write(t, c, privlinkProxy())           // the client's own header follows
	readToEnd(t, c)
	m := sc.waitPeer(t, c, "connection closed", func(m map[string]any) bool { return m["reason"] == "stacked" })
	if got := notes(m); !slices.Equal(got, []string{inspect.ItemStacked.Note()}) {
		t.Fatalf("late stacked conformance %q", got)
	}

	got := sc.Conformance()
	want := inspect.Conformance{
		Headers: 4, Nonconforming: 2,
		Items:   map[inspect.Item]int{inspect.ItemStacked: 1},
		Refused: map[inspect.Reason]int{inspect.ReasonMalformed: 1, inspect.ReasonStacked: 1},
	}
	if !reflect.DeepEqual(got, want) || got.OK() {
		t.Fatalf("tally %+v, want %+v", got, want)
	}
}

// exchange sends b on a new connection and reads n bytes of echo.
func exchange(t *testing.T, sc *sidecar, b []byte, n int) {
	t.Helper()
	c := sc.dial(t, "")
	write(t, c, b)
	readN(t, c, n)
	_ = c.Close()
}
