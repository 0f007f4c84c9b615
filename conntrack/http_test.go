package conntrack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newAdmin serves a table's handlers on a loopback httptest server.
func newAdmin(t *testing.T, tb *Table) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /v1/connections", tb.ListHandler())
	mux.Handle("GET /v1/connections/stream", tb.StreamHandler())
	srv := httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.45.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestListHandler(t *testing.T) {
	tb := NewTable(TableOptions{})
	a, b := testEntry(1), testEntry(2)
	b.Endpoint = "vpce-b"
	tb.Insert(a)
	tb.Insert(b)
	tb.SetState(b, StateEstablished)
	srv := newAdmin(t, tb)
	tests := []struct {
		query   string
		code    int
		wantIDs []uint64
		wantErr string
	}{
		{"", 200, []uint64{1, 2}, ""},
		{"?endpoint=vpce-b", 200, []uint64{2}, ""},
		{"?state=established", 200, []uint64{2}, ""},
		{"?state=closed", 200, []uint64{}, ""},
		{"?target=127.0.43.1", 200, []uint64{1, 2}, ""},
		{"?target=127.0.43.1:9443&state=new", 200, []uint64{1}, ""},
		{"?target=127.0.43.1:1", 200, []uint64{}, ""},
		{"?state=open", 400, nil, `state: unknown connection state "open"`},
		{"?target=nowhere", 400, nil, `target: "nowhere" is not an IP address or IP:port`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/v1/connections" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.code != 200 {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || !strings.HasPrefix(e.Error, tt.wantErr) {
					t.Fatalf("body %s, want error %q", body, tt.wantErr)
				}
				return
			}
			var vs []View
			if err := json.Unmarshal(body, &vs); err != nil || vs == nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if len(vs) != len(tt.wantIDs) {
				t.Fatalf("got %d views, want %v", len(vs), tt.wantIDs)
			}
			for i := range vs {
				if vs[i].ID != tt.wantIDs[i] {
					t.Fatalf("ids %v, want %v", vs, tt.wantIDs)
				}
			}
		})
	}
}

func TestFilterValuesRoundTrip(t *testing.T) {
	for _, f := range []Filter{
		{},
		{Endpoint: "vpce-1", State: StateExpired},
		{Target: netip.MustParseAddrPort("127.0.0.1:9443")},
		{Target: netip.AddrPortFrom(netip.MustParseAddr("::1"), 0)},
	} {
		g, err := ParseFilter(f.Values())
		if err != nil || g != f {
			t.Fatalf("%+v → %v → %+v %v", f, f.Values(), g, err)
		}
	}
}

func TestStreamHandler(t *testing.T) {
	tb := NewTable(TableOptions{})
	srv := newAdmin(t, tb)
	resp, err := http.Get(srv.URL + "/v1/connections/stream?endpoint=vpce-0c1308d7312217abc")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("content type %q", ct)
	}
	waitSubscribed(t, tb)
	other := testEntry(9)
	other.Endpoint = "vpce-other"
	tb.Insert(other)
	e := testEntry(1)
	tb.Insert(e)
	tb.SetState(e, StateEstablished)
	tb.Remove(e)
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for _, want := range []EventType{EventNew, EventEstablished, EventClosed} {
		if !sc.Scan() {
			t.Fatalf("stream ended: %v", sc.Err())
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != want || ev.Conn.ID != e.ID || ev.Conn.Endpoint != e.Endpoint {
			t.Fatalf("line %s, want %v of id %d", sc.Bytes(), want, e.ID)
		}
		got = append(got, sc.Text())
	}
	tb.Close() // the stream ends
	if sc.Scan() {
		t.Fatalf("extra line %s", sc.Text())
	}
	if !strings.Contains(got[0], `"client":"127.0.41.50:40001"`) {
		t.Fatalf("line %s", got[0])
	}
}

func waitSubscribed(t *testing.T, tb *Table) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !tb.watched(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream handler never subscribed")
		}
	}
}

func TestStreamBadQuery(t *testing.T) {
	srv := newAdmin(t, NewTable(TableOptions{}))
	resp, err := http.Get(srv.URL + "/v1/connections/stream?state=zombie")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// A stream client that stops reading fills its socket buffers and its
// subscription; the data path keeps its pace and the losses are counted.
func TestStreamStalledReaderDoesNotSlowDataPath(t *testing.T) {
	tb := NewTable(TableOptions{})
	srv := newAdmin(t, tb)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /v1/connections/stream HTTP/1.1\r\nHost: x\r\n\r\n")
	waitSubscribed(t, tb)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200_000; i++ {
			e := testEntry(i)
			tb.Insert(e)
			tb.SetState(e, StateEstablished)
			tb.Remove(e)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the data path blocked behind a stalled stream reader")
	}
	if tb.EventsLost() == 0 {
		t.Fatal("no events lost for a reader that never reads")
	}
	tb.Close()
}
