package proxy

import (
	"errors"
	"os"
	"syscall"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/conntrack"
)

// Why a flow went no further, as the connection table and its event stream
// show it (GET /v1/connections/stream, privlink conns --watch). Only
// denied and failed flows pay for it; forwarded flows carry no cause.

// deniedBy records the hop and rule of a rules denial on the flow's entry;
// reject then shows the entry as denied.
func (f *flow) deniedBy(v *acl.Verdict) {
	c := &conntrack.Cause{Hop: v.Denied.String()}
	if by := v.DeniedBy(); by != nil {
		c.Rule = by.RuleText()
	}
	f.ct.Why = c
}

// deniedState shows a connection to an endpoint that is not available as
// denied by its state (pendingAcceptance, rejected, deleted).
func (f *flow) deniedState() {
	state, _ := f.r.ep.snapshot()
	f.ct.Why = &conntrack.Cause{Hop: hopEndpointState, Rule: "endpoint " + state}
	f.s.table.InsertAs(&f.ct, conntrack.StateDenied)
}

// failed shows a flow whose target was not reached, with the reason; the
// caller ends it (the client gets an RST).
func (f *flow) failed(reason string) {
	c := &conntrack.Cause{Reason: reason}
	if f.ct.Why != nil { // set by a fault (faultapply.go)
		c.Fault = f.ct.Why.Fault
	}
	f.ct.Why = c
	f.s.table.InsertAs(&f.ct, conntrack.StateFailed)
}

// dialReason names what happened to a failed dial of a target.
func dialReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return conntrack.ReasonRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return conntrack.ReasonReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return conntrack.ReasonTimeout
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return conntrack.ReasonUnreachable
	}
	return conntrack.ReasonError
}
