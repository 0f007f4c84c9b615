package conntrack

import (
	"io"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/testnet"
)

func TestReadTCPInfo(t *testing.T) {
	c, s := testnet.TCPPair(t, "127.0.44.1")
	msg := make([]byte, 100_000)
	go func() { c.Write(make([]byte, len(msg))) }()
	if _, err := io.ReadFull(s, msg); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("ok"))
	io.ReadFull(c, make([]byte, 2))
	var sc, cc TCPCounters
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sc, _ = ReadTCPInfo(s)
		cc, err = ReadTCPInfo(c)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Counters().BytesOut == 100_000 && sc.Counters().BytesOut == 2 {
			break
		}
	}
	if sc.BytesReceived != 100_000 || cc.Counters().BytesOut != 100_000 || cc.BytesReceived != 2 || sc.Counters().BytesOut != 2 {
		t.Fatalf("server %+v client %+v", sc, cc)
	}
	if sc.SegsIn < 3 || cc.SegsOut < 3 || sc.Counters().PktsIn != sc.SegsIn || sc.Counters().BytesIn != 100_000 {
		t.Fatalf("segments: server %+v client %+v", sc, cc)
	}
	c.Close()
	if _, err := ReadTCPInfo(c); err == nil {
		t.Fatal("no error on a closed socket")
	}
}

// A connection with retransmissions: bytes_sent counts the payload
// retransmitted again and bytes_acked the active open's SYN, so their
// minimum was one too many (seen under load: 100,001 for 100,000).
func TestCountersWithRetransmissions(t *testing.T) {
	c := TCPCounters{SegsIn: 4, SegsOut: 7, BytesReceived: 2, BytesAcked: 100_001, BytesSent: 134_518, BytesRetrans: 34_518}
	if got := c.Counters().BytesOut; got != 100_000 {
		t.Fatalf("bytes out %d, want 100000", got)
	}
	c = TCPCounters{BytesAcked: 1, BytesSent: 0}
	if got := c.Counters().BytesOut; got != 0 {
		t.Fatalf("bytes out %d of a connection that sent nothing, want 0", got)
	}
}
