package conntrack

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/privlink/privlink/config"
)

// Action is a flow-log record's action.
type Action uint8

const (
	ActionAccept Action = iota + 1
	ActionReject
)

func (a Action) String() string {
	switch a {
	case ActionAccept:
		return "ACCEPT"
	case ActionReject:
		return "REJECT"
	}
	return "-"
}

// LogStatus is a flow-log record's log-status.
type LogStatus uint8

const (
	StatusOK       LogStatus = iota // data was logged
	StatusNoData                    // no traffic on the interface in the interval
	StatusSkipData                  // records were skipped (the queue was full)
)

func (s LogStatus) String() string {
	return [...]string{"OK", "NODATA", "SKIPDATA"}[s]
}

// FlowDirection is the flow-direction field: relative to the interface.
type FlowDirection uint8

const (
	Ingress FlowDirection = iota + 1
	Egress
)

func (d FlowDirection) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	}
	return "-"
}

// TCP flags as the tcp-flags field reports them (OR-ed over the interval).
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagACK = 0x10 // only reported together with SYN (SYN-ACK = 18), as in AWS
)

// Record is one flow-log record: one direction of one flow on one
// interface over one interval. Zero fields print as "-".
type Record struct {
	// Interface is the ENI ID; when empty it is ENIID(Owner, AZ), computed
	// by the writer goroutine.
	Interface, Owner string
	Subnet, AZ       string
	Src, Dst         netip.AddrPort // a port of 0 prints as "-"
	Packets, Bytes   uint64
	Start, End       time.Time
	Action           Action
	Status           LogStatus
	Direction        FlowDirection
	TCPFlags         uint8
	kind             recordKind
}

type recordKind uint8

const (
	kindRecord   recordKind = iota
	kindTick                // end of an interval: write NODATA for quiet interfaces
	kindInterest            // register an interface for NODATA records
)

// field indexes of config.FlowLogFields.
const (
	fVersion = iota
	fAccount
	fInterface
	fSrcAddr
	fDstAddr
	fSrcPort
	fDstPort
	fProtocol
	fPackets
	fBytes
	fStart
	fEnd
	fAction
	fLogStatus
	fVPC
	fSubnet
	fInstance
	fTCPFlags
	fType
	fPktSrc
	fPktDst
	fRegion
	fAZ
	fSublocType
	fSublocID
	fPktSrcSvc
	fPktDstSvc
	fFlowDirection
	fTrafficPath
	numFields
)

// format is a compiled flow-log format.
type format struct {
	fields  []uint8
	version string // the highest version of the fields used, as AWS writes it
	account string
	region  string
}

func compileFormat(spec, account, region string) (*format, error) {
	names, err := config.ParseFlowLogFormat(spec)
	if err != nil {
		return nil, fmt.Errorf("flow log format: %w", err)
	}
	if len(config.FlowLogFields) != numFields {
		panic("conntrack: config.FlowLogFields changed")
	}
	f := &format{version: "2", account: account, region: region}
	for _, n := range names {
		for i, known := range config.FlowLogFields {
			if n == known {
				f.fields = append(f.fields, uint8(i))
				f.version = max(f.version, fieldVersion(i))
			}
		}
	}
	return f, nil
}

func fieldVersion(i int) string {
	switch {
	case i >= fPktSrcSvc:
		return "5"
	case i >= fRegion:
		return "4"
	case i >= fVPC:
		return "3"
	}
	return "2"
}

// appendRecord appends r's line (with a newline) to b.
func (f *format) appendRecord(b []byte, r *Record) []byte {
	for i, fi := range f.fields {
		if i > 0 {
			b = append(b, ' ')
		}
		b = f.appendField(b, fi, r)
	}
	return append(b, '\n')
}

func (f *format) appendField(b []byte, fi uint8, r *Record) []byte {
	data := r.Status == StatusOK
	switch fi {
	case fVersion:
		return append(b, f.version...)
	case fAccount:
		return appendStr(b, f.account)
	case fInterface:
		return appendStr(b, r.Interface)
	case fSrcAddr, fPktSrc:
		return appendAddr(b, r.Src, data)
	case fDstAddr, fPktDst:
		return appendAddr(b, r.Dst, data)
	case fSrcPort:
		return appendPort(b, r.Src, data)
	case fDstPort:
		return appendPort(b, r.Dst, data)
	case fProtocol:
		if !data || !r.Src.Addr().IsValid() {
			return append(b, '-')
		}
		return append(b, '6')
	case fPackets:
		return appendCount(b, r.Packets, data)
	case fBytes:
		return appendCount(b, r.Bytes, data)
	case fStart:
		return appendUnix(b, r.Start)
	case fEnd:
		return appendUnix(b, r.End)
	case fAction:
		return appendStr(b, r.Action.String())
	case fLogStatus:
		return append(b, r.Status.String()...)
	case fSubnet:
		return appendStr(b, r.Subnet)
	case fTCPFlags:
		return appendCount(b, uint64(r.TCPFlags), data)
	case fType:
		return appendType(b, r.Src, data)
	case fRegion:
		return appendStr(b, f.region)
	case fAZ:
		return appendStr(b, r.AZ)
	case fFlowDirection:
		return appendStr(b, r.Direction.String())
	case fTrafficPath:
		if data && r.Direction == Egress {
			return append(b, '1') // through another resource in the same VPC
		}
	}
	return append(b, '-')
}

func appendStr(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

func appendAddr(b []byte, ap netip.AddrPort, data bool) []byte {
	if !data || !ap.Addr().IsValid() {
		return append(b, '-')
	}
	return ap.Addr().Unmap().AppendTo(b)
}

func appendPort(b []byte, ap netip.AddrPort, data bool) []byte {
	if !data || ap.Port() == 0 {
		return append(b, '-')
	}
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

func appendCount(b []byte, n uint64, data bool) []byte {
	if !data {
		return append(b, '-')
	}
	return strconv.AppendUint(b, n, 10)
}

func appendUnix(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, '-')
	}
	return strconv.AppendInt(b, t.Unix(), 10)
}

func appendType(b []byte, ap netip.AddrPort, data bool) []byte {
	switch {
	case !data || !ap.Addr().IsValid():
		return append(b, '-')
	case ap.Addr().Unmap().Is4():
		return append(b, "IPv4"...)
	}
	return append(b, "IPv6"...)
}
