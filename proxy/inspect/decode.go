package inspect

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/netip"
	"sync"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/privlink/privlink/proxy/ppv2"
)

// Header size limits, as go-proxyproto's defaults and the protocol's v1
// worst case.
const (
	maxV2Payload = 4096 // proxyproto.MaxV2HeaderSize
	maxV1Len     = 107
	// MaxHeaderLen is the longest header Decode accepts: the 16-byte v2
	// prefix and 4096 bytes of addresses and TLVs.
	MaxHeaderLen = 16 + maxV2Payload
)

var (
	sigV1      = []byte("PROXY")
	sigV2      = []byte(ppv2.Signature)
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// Decode decodes the PROXY header at the start of b, the bytes of a
// connection's first read, and returns it with its length in bytes; the
// bytes after it are the client's data. The whole header must be in b.
//
// Decode returns ErrNoHeader when b does not start with a PROXY signature,
// and otherwise an error wrapping ErrSplit (b ends inside the header),
// ErrOversize, ErrMalformed or ErrCRCMismatch, with what it could decode.
// The record's Conformance holds every item the header's bytes decide; the
// items that depend on the connection (ItemSplit, ItemDestination,
// ItemStacked) and Received and Peer are left for the caller.
func Decode(b []byte) (Record, int, error) {
	n, err := frame(b)
	if err != nil {
		return Record{}, 0, err
	}
	h, err := parse(b[:n])
	if err != nil {
		return Record{}, 0, err
	}
	rec := recordOf(h, n)
	if rec.Version == 1 {
		rec.Conformance = Verdict{ItemV1}
		return rec, n, nil
	}
	spans, err := rec.decodeTLVs(b[:n])
	rec.judgeV2(b[:n], spans)
	return rec, n, err
}

// sniffResult says whether bytes start with a PROXY signature.
type sniffResult uint8

const (
	sniffNone    sniffResult = iota // not a PROXY header
	sniffPartial                    // a strict prefix of a signature (or nothing yet)
	sniffV1                         // "PROXY"
	sniffV2                         // the 12-byte v2 signature
)

func sniff(b []byte) sniffResult {
	switch {
	case bytes.HasPrefix(b, sigV2):
		return sniffV2
	case bytes.HasPrefix(b, sigV1):
		return sniffV1
	case len(b) < len(sigV2) && bytes.HasPrefix(sigV2, b),
		len(b) < len(sigV1) && bytes.HasPrefix(sigV1, b):
		return sniffPartial
	}
	return sniffNone
}

// frame returns the length of the header at the start of b.
func frame(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, ErrNoHeader
	}
	switch sniff(b) {
	case sniffV2:
		return frameV2(b)
	case sniffV1:
		return frameV1(b)
	case sniffPartial:
		return 0, fmt.Errorf("%w: the first read holds %s", ErrSplit, progress(b))
	}
	return 0, ErrNoHeader
}

func frameV2(b []byte) (int, error) {
	if len(b) > 12 && b[12] != ppv2.CmdLocal && b[12] != ppv2.CmdProxy {
		return 0, fmt.Errorf("%w: v2 version/command byte 0x%02x is neither 0x20 (LOCAL) nor 0x21 (PROXY)", ErrMalformed, b[12])
	}
	if len(b) < 16 {
		return 0, fmt.Errorf("%w: the first read holds %s", ErrSplit, progress(b))
	}
	l := int(binary.BigEndian.Uint16(b[14:16]))
	if l > maxV2Payload {
		return 0, fmt.Errorf("%w: v2 length field %d exceeds %d", ErrOversize, l, maxV2Payload)
	}
	if len(b) < 16+l {
		return 0, fmt.Errorf("%w: the first read holds %s", ErrSplit, progress(b))
	}
	return 16 + l, nil
}

func frameV1(b []byte) (int, error) {
	if i := bytes.IndexByte(b[:min(len(b), maxV1Len)], '\n'); i >= 0 {
		return i + 1, nil
	}
	if len(b) >= maxV1Len {
		return 0, fmt.Errorf("%w: no line end in the first %d bytes of a v1 header", ErrOversize, maxV1Len)
	}
	return 0, fmt.Errorf("%w: the first read holds %s", ErrSplit, progress(b))
}

// progress says how much of the header that b starts has arrived, e.g. "20
// of 54 v2 header bytes".
func progress(b []byte) string {
	switch sniff(b) {
	case sniffV2:
		if len(b) < 16 {
			return fmt.Sprintf("%d of the 16 fixed v2 header bytes", len(b))
		}
		return fmt.Sprintf("%d of %d v2 header bytes", len(b), 16+int(binary.BigEndian.Uint16(b[14:16])))
	case sniffV1:
		return fmt.Sprintf("%d bytes of a v1 header and no line end", len(b))
	}
	return fmt.Sprintf("%d bytes, a prefix of a PROXY signature", len(b))
}

// parser holds go-proxyproto's input, reused across headers.
type parser struct {
	r  bytes.Reader
	br *bufio.Reader
}

var parsers = sync.Pool{New: func() any {
	p := &parser{}
	p.br = bufio.NewReaderSize(&p.r, MaxHeaderLen)
	return p
}}

// parse runs go-proxyproto over exactly one framed header. The bufio buffer
// holds the whole header after one fill, as its v1 parser requires.
func parse(hdr []byte) (*proxyproto.Header, error) {
	p := parsers.Get().(*parser)
	defer parsers.Put(p)
	p.r.Reset(hdr)
	p.br.Reset(&p.r)
	h, err := proxyproto.Read(p.br)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return h, nil
}

func recordOf(h *proxyproto.Header, n int) Record {
	rec := Record{Version: int(h.Version), Transport: Transport(h.TransportProtocol), Length: n}
	if h.Command.IsLocal() {
		rec.Command, rec.HealthCheck = CommandLocal, true
	}
	if src, dst, ok := h.TCPAddrs(); ok {
		rec.Source, rec.Destination = src.AddrPort(), dst.AddrPort()
	} else if src, dst, ok := h.UDPAddrs(); ok {
		rec.Source, rec.Destination = src.AddrPort(), dst.AddrPort()
	}
	return rec
}

// addrBlockLen is the v2 address block length of a family/transport byte.
func addrBlockLen(famByte byte) int {
	switch famByte >> 4 {
	case 1:
		return 12
	case 2:
		return 36
	case 3:
		return 216
	}
	return 0
}

// span is one TLV of a header: its type and the bounds of its value.
type span struct {
	t        TLVType
	from, to int
}

// walkTLVs frames the TLVs of hdr from byte start to its end.
func walkTLVs(hdr []byte, start int) ([]span, error) {
	var out []span
	for i := start; i < len(hdr); {
		if len(hdr)-i < 3 {
			return nil, fmt.Errorf("%w: truncated TLV at byte %d", ErrMalformed, i)
		}
		t, l := TLVType(hdr[i]), int(binary.BigEndian.Uint16(hdr[i+1:i+3]))
		if i+3+l > len(hdr) {
			return nil, fmt.Errorf("%w: TLV %s at byte %d: length %d runs past the header end", ErrMalformed, t, i, l)
		}
		out = append(out, span{t, i + 3, i + 3 + l})
		i += 3 + l
	}
	return out, nil
}

// decodeTLVs records every TLV of the v2 header hdr, verifies a CRC32C TLV
// and decodes the AWS VPC endpoint ID; it returns the TLVs it found.
func (rec *Record) decodeTLVs(hdr []byte) ([]span, error) {
	start := 16 + addrBlockLen(hdr[13])
	if rec.Command == CommandLocal {
		return rec.decodeLocalTLVs(hdr, start)
	}
	spans, err := walkTLVs(hdr, start)
	if err != nil {
		return nil, err
	}
	return spans, rec.useTLVs(hdr, spans)
}

// decodeLocalTLVs finds the TLVs of a LOCAL header. NLB sends its health
// checks as LOCAL with the TCP4 family but no address block: the CRC32C and
// NOOP TLVs start right after the 16-byte prefix (observed, see
// kubernetes#57250), while the protocol text puts TLVs after the family's
// address block. The layout whose CRC32C verifies wins, then one with a
// CRC32C, then the protocol text's. Receivers ignore a LOCAL header's block,
// so one that frames in neither layout is accepted without TLVs.
func (rec *Record) decodeLocalTLVs(hdr []byte, start int) ([]span, error) {
	layouts := []int{start}
	if start != 16 {
		layouts = append(layouts, 16)
	}
	var best []span
	bestAt, bestScore := 0, 0
	for _, at := range layouts {
		if at > len(hdr) {
			continue
		}
		spans, err := walkTLVs(hdr, at)
		if err != nil {
			continue
		}
		if score := crcScore(hdr, spans); score > bestScore {
			best, bestAt, bestScore = spans, at, score
		}
	}
	if bestScore > 0 && bestAt != start {
		rec.Source, rec.Destination = netip.AddrPort{}, netip.AddrPort{}
	}
	return best, rec.useTLVs(hdr, best)
}

// crcScore ranks a TLV layout: 3 with a verified CRC32C, 2 with a CRC32C
// that does not match, 1 without one.
func crcScore(hdr []byte, spans []span) int {
	for _, sp := range spans {
		if sp.t == ppv2.TypeCRC32C {
			if crcError(hdr, sp.from, sp.to) == nil {
				return 3
			}
			return 2
		}
	}
	return 1
}

func (rec *Record) useTLVs(hdr []byte, spans []span) error {
	var crcErr error
	for _, sp := range spans {
		val := hdr[sp.from:sp.to]
		rec.TLVs = append(rec.TLVs, TLV{Type: sp.t, Name: tlvName(sp.t), Value: hex.EncodeToString(val)})
		switch sp.t {
		case ppv2.TypeCRC32C:
			if err := crcError(hdr, sp.from, sp.to); err != nil {
				rec.CRC32C, crcErr = CRCMismatch, cmp.Or(crcErr, err)
			} else if rec.CRC32C == "" {
				rec.CRC32C = CRCValid
			}
		case ppv2.TypeAWS:
			id, err := tlvparse.AWSVPCEndpointID(proxyproto.TLV{Type: proxyproto.PP2Type(sp.t), Value: val})
			if err == nil && rec.VPCEndpoint == "" {
				rec.VPCEndpoint = id
			}
		}
	}
	return crcErr
}

// crcError verifies the CRC32C TLV whose value is hdr[from:to]: Castagnoli
// over the whole header with the value zeroed.
func crcError(hdr []byte, from, to int) error {
	if to-from != 4 {
		return fmt.Errorf("%w: CRC32C TLV of %d bytes, want 4", ErrCRCMismatch, to-from)
	}
	var zero [4]byte
	want := binary.BigEndian.Uint32(hdr[from:to])
	sum := crc32.Update(0, castagnoli, hdr[:from])
	sum = crc32.Update(sum, castagnoli, zero[:])
	sum = crc32.Update(sum, castagnoli, hdr[to:])
	if sum != want {
		return fmt.Errorf("%w: the header carries %08x, its bytes give %08x", ErrCRCMismatch, want, sum)
	}
	return nil
}
