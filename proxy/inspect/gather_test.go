package inspect

import (
	"errors"
	"io"
	"net/netip"
	"reflect"
	"testing"

	"github.com/privlink/privlink/proxy/ppv2"
)

// chunks returns data in reads of the lengths cuts gives (a zero length is
// one byte; past the last cut, the rest), then io.EOF.
type chunks struct {
	data, cuts []byte
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.cuts) > 0 {
		n, c.cuts = max(1, int(c.cuts[0])), c.cuts[1:]
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// FuzzGather checks the header phase's reader under every segmentation: the
// tolerant reader reaches exactly the verdict Decode gives on all the bytes
// at once, whatever the cuts; the strict one reaches Decode's verdict on the
// first read; neither reads past a whole header's read nor loops forever.
func FuzzGather(f *testing.F) {
	v2 := ppv2.AppendProxy(nil, netip.MustParseAddrPort("127.0.1.50:40000"), netip.MustParseAddrPort("127.0.1.10:8443"), "vpce-0c1308d7312217abc")
	for _, seed := range []struct{ data, cuts []byte }{
		{v2, []byte{5}}, {v2, []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{append(v2, "GET /"...), []byte{20, 20}}, {ppv2.AppendLocal(nil), []byte{16, 3}},
		{[]byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\nhello"), []byte{3, 10}},
		{[]byte("PROXY UNKNOWN\r\n"), []byte{1}}, {[]byte("PRGET /"), []byte{2}},
		{[]byte("GET / HTTP/1.1\r\n"), nil}, {v2[:30], []byte{12}},
		{append([]byte(ppv2.Signature), 0x21, 0x11, 0xff, 0xff), []byte{14}},
	} {
		f.Add(seed.data, seed.cuts)
	}
	buf := make([]byte, MaxHeaderLen)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) == 0 {
			return
		}
		wantRec, wantLen, wantErr := Decode(data)
		g := gather(&chunks{data: data, cuts: cuts}, buf, false, nil)
		sameVerdict(t, "tolerant", g, wantRec, wantLen, wantErr)
		if g.n > len(data) || g.reads < 1 {
			t.Fatalf("read %d bytes in %d reads of %d", g.n, g.reads, len(data))
		}
		if errors.Is(wantErr, ErrSplit) && (g.n != len(data) || g.rerr != io.EOF) {
			t.Fatalf("an incomplete header ended after %d of %d bytes, %v", g.n, len(data), g.rerr)
		}
		first := len(data)
		if len(cuts) > 0 {
			first = min(max(1, int(cuts[0])), len(data))
		}
		rec, n, err := Decode(data[:first])
		sameVerdict(t, "strict", gather(&chunks{data: data, cuts: cuts}, buf, true, nil), rec, n, err)
	})
}

// sameVerdict fails unless g reached Decode's verdict (rec, n, err).
func sameVerdict(t *testing.T, mode string, g gathered, rec Record, n int, err error) {
	t.Helper()
	if ReasonOf(g.err) != ReasonOf(err) || errors.Is(g.err, ErrNoHeader) != errors.Is(err, ErrNoHeader) {
		t.Fatalf("%s: error %v, Decode says %v", mode, g.err, err)
	}
	if err == nil && (g.hlen != n || !reflect.DeepEqual(g.rec, rec)) {
		t.Fatalf("%s: header of %d bytes %+v, Decode says %d bytes %+v", mode, g.hlen, g.rec, n, rec)
	}
}
