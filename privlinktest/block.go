package privlinktest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
)

// BlockBits is the prefix length of an instance's block of addresses
// (see the package documentation, "Addresses").
const BlockBits = 18

// DefaultNet is the range blocks are taken from unless PRIVLINKTEST_NET
// says otherwise.
const DefaultNet = "127.16.0.0/12"

// NetEnv is the environment variable that overrides DefaultNet.
const NetEnv = "PRIVLINKTEST_NET"

const lockPort = 65535

// allocator hands out blocks for the whole process.
type allocator struct {
	mu    sync.Mutex
	rng   netip.Prefix
	err   error
	next  int // the next block to try, counting from the range's start
	inUse map[netip.Prefix]bool
}

var blocks = new(allocator)

// block is one instance's addresses and the socket that holds them.
type block struct {
	prefix netip.Prefix
	lock   net.PacketConn
}

// init reads the range once: the environment, then DefaultNet.
func (a *allocator) init() {
	if a.inUse != nil || a.err != nil {
		return
	}
	s := os.Getenv(NetEnv)
	if s == "" {
		s = DefaultNet
	}
	a.rng, a.err = parseNet(s)
	if a.err != nil {
		a.err = fmt.Errorf("privlinktest: %s=%q: %w", NetEnv, s, a.err)
		return
	}
	a.inUse = map[netip.Prefix]bool{}
	a.next = rand.IntN(a.count())
}

func parseNet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return p, err
	case !p.Addr().Is4() || !netip.MustParsePrefix("127.0.0.0/8").Contains(p.Addr()):
		return p, errors.New("not a 127.x prefix")
	case p.Bits() > BlockBits:
		return p, fmt.Errorf("narrower than one block (/%d)", BlockBits)
	}
	return p.Masked(), nil
}

func (a *allocator) count() int { return 1 << (BlockBits - a.rng.Bits()) }

// nth is the nth block of the range.
func (a *allocator) nth(n int) netip.Prefix {
	return netip.PrefixFrom(offset(a.rng, uint32(n)<<(32-BlockBits)), BlockBits)
}

// take returns a block no instance of this process uses and no other
// process holds.
func (a *allocator) take() (*block, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	if a.err != nil {
		return nil, a.err
	}
	for range a.count() {
		p := a.nth(a.next)
		a.next = (a.next + 1) % a.count()
		if a.inUse[p] {
			continue
		}
		lock, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(offset(p, 1<<(32-BlockBits)-2), lockPort)))
		if errors.Is(err, syscall.EADDRINUSE) {
			continue // another test binary holds it
		}
		if err != nil {
			return nil, fmt.Errorf("privlinktest: lock block %s: %w", p, err)
		}
		a.inUse[p] = true
		return &block{prefix: p, lock: lock}, nil
	}
	return nil, fmt.Errorf("privlinktest: every /%d block of %s is in use (%d instances at once); set %s to a wider 127.x range",
		BlockBits, a.rng, a.count(), NetEnv)
}

// abandon gives up a block whose addresses something else holds: its lock
// is closed, and this process does not take it again.
func (a *allocator) abandon(b *block) {
	b.lock.Close()
}

// release returns a block once its instance has stopped.
func (a *allocator) release(b *block) {
	b.lock.Close()
	a.mu.Lock()
	delete(a.inUse, b.prefix)
	a.mu.Unlock()
}

// offset is the address n after p's first.
func offset(p netip.Prefix, n uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u32(p.Addr())+n)
	return netip.AddrFrom4(b)
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}
