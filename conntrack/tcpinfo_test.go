package conntrack

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestReadTCPInfo(t *testing.T) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.44.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := make([]byte, 100_000)
	go func() { c.Write(make([]byte, len(msg))) }()
	if _, err := io.ReadFull(s, msg); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("ok"))
	io.ReadFull(c, make([]byte, 2))
	var sc, cc TCPCounters
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
