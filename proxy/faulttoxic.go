package proxy

import (
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/relay"
)

// addToxic makes the relay apply a stream toxic to the flow (before it
// starts): to_target is the relay's A→B direction, to_client B→A, none
// given both. Several toxics on one flow combine.
func (f *flow) addToxic(c *config.Fault) {
	if f.Toxics == nil {
		f.Toxics = &relay.Toxics{}
	}
	if c.Direction != config.ToClient {
		applyToxic(&f.Toxics.AB, c)
	}
	if c.Direction != config.ToTarget {
		applyToxic(&f.Toxics.BA, c)
	}
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
