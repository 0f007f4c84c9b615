package proxy

import (
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/relay"
)

// toxicsOf are the relay toxics of a flow's toxic faults: to_target is
// the relay's A→B direction, to_client B→A, none given both. Several
// combine (latencies add up).
func toxicsOf(fts []*fault) *relay.Toxics {
	x := &relay.Toxics{}
	for _, ft := range fts {
		c := &ft.spec
		if c.Direction != config.ToClient {
			applyToxic(&x.AB, c)
		}
		if c.Direction != config.ToTarget {
			applyToxic(&x.BA, c)
		}
	}
	return x
}

// toxicKBps is the bytes of one KB/s of rate_kbps, as Toxiproxy counts.
const toxicKBps = 1000

func applyToxic(t *relay.Toxic, c *config.Fault) {
	switch c.Kind {
	case config.FaultLatency:
		t.Latency, t.Jitter = t.Latency+c.Latency.D(), t.Jitter+c.Jitter.D()
	case config.FaultBandwidth:
		t.RateBps = int64(c.RateKBps) * toxicKBps
	case config.FaultResetPeer:
		t.Reset, t.ResetBytes, t.ResetAfter = true, c.Bytes, c.After.D()
	case config.FaultTimeout:
		t.Hold, t.HoldClose = true, c.Timeout.D()
	case config.FaultSlowClose:
		t.CloseDelay = c.Delay.D()
	case config.FaultSlicer:
		t.SliceSize, t.SliceDelay = c.Size, c.Delay.D()
	case config.FaultLimitData:
		t.LimitBytes = c.Bytes
	}
}

// silence stops forwarding a live flow without a word to either peer (an
// AZ outage with deny_action drop); a flow still being dialled is reset
// when its dial completes.
func (f *flow) silence() {
	if f.relayed.Load() {
		f.Hold()
		return
	}
	f.terminate()
}
