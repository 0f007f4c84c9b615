package acl

import (
	"fmt"
	"strconv"
)

// Hop is one place on the PrivateLink path where rules are evaluated. Its
// String is the `hop` label of privlink_rejected_flows_total.
type Hop uint8

// The hops in path order (consumer side, NLB, provider side). HopNone is the zero value.
const (
	HopNone Hop = iota
	HopClientSGEgress
	HopClientNACLEgress
	HopEndpointNACLIngress
	HopEndpointSGIngress
	HopEndpointNACLEgressReturn
	HopClientNACLIngressReturn
	HopNLBSGIngress
	HopNodeNACLEgress
	HopTargetNACLIngress
	HopTargetSGIngress
	HopTargetNACLEgressReturn
	HopNodeNACLIngressReturn
	HopRouteTable // gateway endpoints: the client subnet's route to the S3 prefix list
	numHops
)

var hopNames = [numHops]string{
	HopNone:                     "none",
	HopClientSGEgress:           "client_sg_egress",
	HopClientNACLEgress:         "client_nacl_egress",
	HopEndpointNACLIngress:      "endpoint_nacl_ingress",
	HopEndpointSGIngress:        "endpoint_sg_ingress",
	HopEndpointNACLEgressReturn: "endpoint_nacl_egress_return",
	HopClientNACLIngressReturn:  "client_nacl_ingress_return",
	HopNLBSGIngress:             "nlb_sg_ingress",
	HopNodeNACLEgress:           "node_nacl_egress",
	HopTargetNACLIngress:        "target_nacl_ingress",
	HopTargetSGIngress:          "target_sg_ingress",
	HopTargetNACLEgressReturn:   "target_nacl_egress_return",
	HopNodeNACLIngressReturn:    "node_nacl_ingress_return",
	HopRouteTable:               "route_table",
}

// HopEndpointState is checked first, before every rule: the endpoint must
// be available (not pendingAcceptance or rejected). It is not a rule hop —
// Check never records it — but explain reports it first on every path and
// the data path counts its denials under this name.
const HopEndpointState Hop = numHops

// String returns the stable snake_case name of the hop.
func (h Hop) String() string {
	switch {
	case h < numHops:
		return hopNames[h]
	case h == HopEndpointState:
		return "endpoint_state"
	}
	return "hop(" + strconv.Itoa(int(h)) + ")"
}

// MarshalText writes the hop name (JSON keys and values).
func (h Hop) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a hop name, as a client of GET /v1/explain does.
func (h *Hop) UnmarshalText(b []byte) error {
	for c := HopNone; c <= HopEndpointState; c++ {
		if c.String() == string(b) {
			*h = c
			return nil
		}
	}
	return fmt.Errorf("acl: unknown hop %q", b)
}

// Hops lists every hop in path order (without HopNone), e.g. to pre-create
// metric label values.
func Hops() []Hop {
	hs := make([]Hop, 0, numHops-1)
	for h := HopNone + 1; h < numHops; h++ {
		hs = append(hs, h)
	}
	return hs
}

// consumerHops and providerHops are the hops ConsumerPath.Check and
// ProviderPath.Check evaluate, in order.
var (
	consumerHops = [...]Hop{HopClientSGEgress, HopClientNACLEgress, HopEndpointNACLIngress, HopEndpointSGIngress,
		HopEndpointNACLEgressReturn, HopClientNACLIngressReturn, HopNLBSGIngress}
	providerHops = [...]Hop{HopNodeNACLEgress, HopTargetNACLIngress, HopTargetSGIngress,
		HopTargetNACLEgressReturn, HopNodeNACLIngressReturn}
)

func (h Hop) isNACL() bool {
	switch h {
	case HopClientSGEgress, HopEndpointSGIngress, HopNLBSGIngress, HopTargetSGIngress, HopEndpointState, HopRouteTable:
		return false
	}
	return h != HopNone
}

func (h Hop) egress() bool {
	switch h {
	case HopClientSGEgress, HopClientNACLEgress, HopEndpointNACLEgressReturn, HopNodeNACLEgress, HopTargetNACLEgressReturn:
		return true
	}
	return false
}

// Outcome is what one hop did with a flow.
type Outcome uint8

// Hop outcomes.
const (
	Skip  Outcome = iota // the hop does not apply (same subnet, unknown client, ...)
	Allow                // a rule (or a default) allows the flow
	Deny                 // a rule, the implicit deny or the absence of an allow denies it
)

func (o Outcome) String() string {
	switch o {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "skip"
}

// MarshalText writes the outcome name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText reads an outcome name.
func (o *Outcome) UnmarshalText(b []byte) error {
	for _, c := range []Outcome{Skip, Allow, Deny} {
		if c.String() == string(b) {
			*o = c
			return nil
		}
	}
	return fmt.Errorf("acl: unknown verdict %q", b)
}

// Reason says why a hop decided as it did.
type Reason uint8

// Hop reasons.
const (
	ReasonRule             Reason = iota // Rule decided (NACL rule number or SG rule index)
	ReasonNoMatch                        // SG: no rule of any group matches
	ReasonImplicitDeny                   // NACL: the final * rule
	ReasonDefaultNACL                    // subnet without a NACL: the default NACL allows all
	ReasonDefaultEgress                  // SG whose egress was omitted: AWS's allow-all outbound rule
	ReasonDefaultSG                      // interface without SGs: the VPC default SG (members only)
	ReasonSameSubnet                     // NACLs are not evaluated inside one subnet
	ReasonUnknownClient                  // the client is not a `clients` entry
	ReasonNotEnforced                    // NLB SG with enforce_inbound_rules_on_privatelink off
	ReasonNoSecurityGroups               // the NLB or target has no security groups
	ReasonNoSubnet                       // the target is in no declared subnet
	ReasonRoute                          // route table: a route leads to a gateway endpoint
	ReasonNoRoute                        // route table: no route to the prefix list
	ReasonNoLoadBalancer                 // an AWS service's interface endpoint (S3): no NLB behind it
)

var reasonNames = [...]string{
	ReasonRule:             "rule",
	ReasonNoMatch:          "no matching rule",
	ReasonImplicitDeny:     "implicit deny (*)",
	ReasonDefaultNACL:      "default NACL (allow all)",
	ReasonDefaultEgress:    "default egress (allow all)",
	ReasonDefaultSG:        "VPC default SG",
	ReasonSameSubnet:       "same subnet (NACLs not evaluated)",
	ReasonUnknownClient:    "client not in clients",
	ReasonNotEnforced:      "enforce_inbound_rules_on_privatelink off",
	ReasonNoSecurityGroups: "no security groups",
	ReasonNoSubnet:         "target in no declared subnet",
	ReasonRoute:            "route",
	ReasonNoRoute:          "no route",
	ReasonNoLoadBalancer:   "no load balancer (AWS service)",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// HopResult is one evaluated hop. It holds only values and strings owned by
// the Evaluator, so recording it allocates nothing.
type HopResult struct {
	Hop     Hop
	Outcome Outcome
	Reason  Reason
	// Rule is the NACL rule number, or the index of the SG rule in its
	// direction of group Object; -1 when no single rule decided.
	Rule int32
	// Place is the interface or subnet: "vpce-…/127.0.1.10", "subnet-x".
	Place string
	// Object is the security group or network ACL that decided ("" when skipped).
	Object string
}

// RuleText describes the deciding rule: "acl-x rule 100", "sg-a ingress[2]",
// "implicit deny (*)", "no matching rule", ... It allocates; use it off the
// data path.
func (r *HopResult) RuleText() string {
	if r.Hop == HopRouteTable {
		return r.Object // the route, or why there is none
	}
	if r.Reason == ReasonDefaultSG {
		if r.Outcome == Allow {
			return "VPC default SG (source is a member)"
		}
		return "VPC default SG (admits only its own members)"
	}
	if r.Reason != ReasonRule {
		if r.Object != "" && r.Reason != ReasonNoMatch {
			return r.Object + " " + r.Reason.String()
		}
		return r.Reason.String()
	}
	if r.Hop.isNACL() {
		return r.Object + " rule " + strconv.Itoa(int(r.Rule))
	}
	dir := "ingress"
	if r.Hop.egress() {
		dir = "egress"
	}
	return r.Object + " " + dir + "[" + strconv.Itoa(int(r.Rule)) + "]"
}

// MaxHops is the number of hops a full path (consumer and provider) records.
const MaxHops = len(consumerHops) + len(providerHops)

// Verdict is the decision on one flow with its trace. It is a fixed-size
// value: Check appends its hops to Hops[:N] and never allocates. A zero
// Verdict is ready for use; Reset makes it reusable.
type Verdict struct {
	Hops    [MaxHops]HopResult
	N       uint8
	Allowed bool
	// Denied is the hop that denied the flow (HopNone when allowed).
	Denied Hop
}

// Reset clears v for the next flow.
func (v *Verdict) Reset() { v.N, v.Allowed, v.Denied = 0, false, HopNone }

// Trace returns the recorded hops.
func (v *Verdict) Trace() []HopResult { return v.Hops[:v.N] }

// DeniedBy returns the hop result that denied the flow, or nil.
func (v *Verdict) DeniedBy() *HopResult {
	for i := int(v.N) - 1; i >= 0; i-- {
		if v.Hops[i].Outcome == Deny {
			return &v.Hops[i]
		}
	}
	return nil
}

func (v *Verdict) record(r *HopResult) {
	if int(v.N) < len(v.Hops) {
		v.Hops[v.N] = *r
		v.N++
	}
}
