package inspect_test

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/proxy/inspect"
	"github.com/privlink/privlink/proxy/ppv2"
)

// FuzzInspectDecode checks the header-handling path on arbitrary first
// reads: it never panics, and either returns a valid header that
// go-proxyproto also parses, or says there is none, or refuses it with one of
// the header reasons.
func FuzzInspectDecode(f *testing.F) {
	for _, seed := range [][]byte{
		privlinkProxy(), privlinkLocal(), nlbLocal, handProxy, handProxyBadCRC,
		append(privlinkProxy(), privlinkProxy()...),
		[]byte("PROXY TCP4 127.0.1.50 127.0.1.10 40000 8443\r\nGET /"),
		[]byte("PROXY TCP6 fd00::1 fd00::2 1234 443\r\n"), []byte("PROXY UNKNOWN\r\n"),
		[]byte("GET / HTTP/1.1\r\n"), privlinkProxy()[:20], {}, {'P'},
		unhex("0d0a0d0a000d0a515549540a 21 11 ffff"),
		unhex("0d0a0d0a000d0a515549540a 20 00 0007 03 0004 00000000"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := inspect.Decode(b)
		switch {
		case err == nil:
			checkValid(t, b, rec, n)
		case errors.Is(err, inspect.ErrNoHeader):
			if len(b) > 0 && (bytes.HasPrefix(b, sigV1) || bytes.HasPrefix(b, sigV2) || bytes.HasPrefix(sigV1, b) || bytes.HasPrefix(sigV2, b)) {
				t.Fatalf("ErrNoHeader for a signature: %q", b)
			}
		default:
			checkRefused(t, b, rec, err)
		}
	})
}

var (
	sigV1 = []byte("PROXY")
	sigV2 = []byte(ppv2.Signature)
)

func checkValid(t *testing.T, b []byte, rec inspect.Record, n int) {
	t.Helper()
	if n <= 0 || n > len(b) || n > inspect.MaxHeaderLen || rec.Length != n {
		t.Fatalf("length %d (record %d) of %d bytes", n, rec.Length, len(b))
	}
	if rec.Version != 1 && rec.Version != 2 || rec.HealthCheck != (rec.Command == inspect.CommandLocal) {
		t.Fatalf("record %+v", rec)
	}
	if rec.CRC32C == inspect.CRCMismatch {
		t.Fatal("a CRC32C mismatch was accepted")
	}
	checkVerdict(t, rec)
	if _, m, err := inspect.Decode(b[:n]); err != nil || m != n {
		t.Fatalf("the header alone decodes to %d, %v", m, err)
	}
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(b[:n]), inspect.MaxHeaderLen))
	if err != nil || int(h.Version) != rec.Version {
		t.Fatalf("go-proxyproto: %v, %+v", err, h)
	}
}

func checkRefused(t *testing.T, b []byte, rec inspect.Record, err error) {
	t.Helper()
	switch r := inspect.ReasonOf(err); r {
	case inspect.ReasonSplit:
		// A split header starts with a signature or is a prefix of one; past
		// the signature, more bytes can complete it, never make it vanish.
		started := bytes.HasPrefix(b, sigV1) || bytes.HasPrefix(b, sigV2)
		if !started && !bytes.HasPrefix(sigV1, b) && !bytes.HasPrefix(sigV2, b) {
			t.Fatalf("split %q has no signature", b)
		}
		if _, _, err := inspect.Decode(append(bytes.Clone(b), "more bytes"...)); started && errors.Is(err, inspect.ErrNoHeader) {
			t.Fatalf("split %q became no header with more bytes", b)
		}
	case inspect.ReasonCRCMismatch:
		if rec.CRC32C != inspect.CRCMismatch {
			t.Fatalf("mismatch error, record crc32c %q", rec.CRC32C)
		}
	case inspect.ReasonMalformed, inspect.ReasonOversize:
	default:
		t.Fatalf("error %v has reason %q", err, r)
	}
}

// checkVerdict: the items are in order without repeats, Decode never
// decides the connection's items, and a v1 header is judged only as v1.
func checkVerdict(t *testing.T, rec inspect.Record) {
	t.Helper()
	v := rec.Conformance
	for i, it := range v {
		if i > 0 && v[i-1] >= it || it.String() == "unknown" {
			t.Fatalf("verdict %v out of order or unknown", v)
		}
	}
	if v.Has(inspect.ItemSplit) || v.Has(inspect.ItemDestination) || v.Has(inspect.ItemStacked) {
		t.Fatalf("Decode judged the connection: %v", v)
	}
	if (rec.Version == 1) != slices.Equal(v, inspect.Verdict{inspect.ItemV1}) {
		t.Fatalf("version %d, verdict %v", rec.Version, v)
	}
}
