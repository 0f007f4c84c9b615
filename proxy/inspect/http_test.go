package inspect_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/privlink/privlink/proxy/inspect"
	"github.com/privlink/privlink/proxy/ppv2"
)

// sendHeaders opens n connections, each with a PROXY header from client port
// 40000+i, and waits until the sidecar has kept them all.
func sendHeaders(t *testing.T, sc *sidecar, n int) {
	t.Helper()
	for i := range n {
		c := sc.dial(t, "")
		src := netip.AddrPortFrom(clientAP.Addr(), uint16(40000+i))
		write(t, c, append(ppv2.AppendProxy(nil, src, eniAP, vpceID), 'x'))
		readN(t, c, 1)
		_ = c.Close()
	}
}

func getHeaders(t *testing.T, h http.Handler, method, query string) (int, map[string]json.RawMessage) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, "/v1/headers"+query, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return rec.Code, body
}

func TestHeadersEndpoint(t *testing.T) {
	sc := startSidecar(t, inspect.Options{RingSize: 3})
	sendHeaders(t, sc, 5)
	tests := []struct {
		query string
		code  int
		ports []int // source ports of the records returned, oldest first
		err   string
	}{
		{"", 200, []int{40002, 40003, 40004}, ""},
		{"?limit=2", 200, []int{40003, 40004}, ""},
		{"?limit=1", 200, []int{40004}, ""},
		{"?limit=100", 200, []int{40002, 40003, 40004}, ""},
		{"?limit=0", 400, nil, `"limit: \"0\" is not a positive integer"`},
		{"?limit=-1", 400, nil, `"limit: \"-1\" is not a positive integer"`},
		{"?limit=abc", 400, nil, `"limit: \"abc\" is not a positive integer"`},
		{"?limit=", 400, nil, `"limit: \"\" is not a positive integer"`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, body := getHeaders(t, sc.Handler(), http.MethodGet, tt.query)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if tt.err != "" {
				if string(body["error"]) != tt.err {
					t.Fatalf("error %s, want %s", body["error"], tt.err)
				}
				return
			}
			var recs []inspect.Record
			if err := json.Unmarshal(body["headers"], &recs); err != nil {
				t.Fatal(err)
			}
			var ports []int
			for _, r := range recs {
				ports = append(ports, int(r.Source.Port()))
			}
			if fmt.Sprint(ports) != fmt.Sprint(tt.ports) {
				t.Fatalf("ports %v, want %v", ports, tt.ports)
			}
		})
	}
}

func TestHeadersEndpointMethod(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	code, body := getHeaders(t, sc.Handler(), http.MethodPost, "")
	if code != http.StatusMethodNotAllowed || string(body["error"]) != `"method POST not allowed; use GET"` {
		t.Fatalf("%d %s", code, body)
	}
}

func TestHeadersEndpointEmpty(t *testing.T) {
	sc := startSidecar(t, inspect.Options{})
	code, body := getHeaders(t, sc.Handler(), http.MethodGet, "")
	if code != 200 || string(body["headers"]) != "[]" {
		t.Fatalf("%d %s", code, body)
	}
}

func TestRecordJSON(t *testing.T) {
	rec, _, err := inspect.Decode(nlbLocal)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":2,"command":"LOCAL","health_check":true,"transport":"TCP4","length":100,` +
		`"tlvs":[{"type":"0x03","name":"crc32c","value":"bce5951f"},{"type":"0x04","name":"noop","value":"` + zeros(74) + `"}],"crc32c":"valid","conformance":[]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func zeros(n int) string {
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
