package proxy

import (
	"testing"
	"unsafe"
)

// An idle flow's memory is its flow and its two sockets (the relay holds
// no buffer, pipe or goroutine for it). Go rounds each allocation up to a
// size class, so a field added here can cost a whole class: the flow fits
// the 896-byte class, and a socket the 24-byte one (it keeps no
// addresses: the table entry has them). Measured with `make bench`: about
// 1.3 KB of RSS per idle connection.
func TestIdleFlowFootprint(t *testing.T) {
	if n := unsafe.Sizeof(flow{}); n > 896 {
		t.Errorf("flow is %d bytes: past the 896-byte size class, an idle flow costs 128 bytes more", n)
	}
	if n := unsafe.Sizeof(socket{}); n > 24 {
		t.Errorf("socket is %d bytes: past the 24-byte size class, an idle flow's two cost more", n)
	}
}
