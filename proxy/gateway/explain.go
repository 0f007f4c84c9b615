package gateway

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/acl/iampolicy"
	"github.com/privlink/privlink/config"
)

// Query asks what an S3 or DynamoDB request through a gateway endpoint
// would get.
type Query struct {
	Action   string // e.g. s3:GetObject, dynamodb:GetItem
	Resource string // e.g. arn:aws:s3:::my-bucket/key ("" = *, arn:aws:s3:::* for s3:ListAllMyBuckets)
	// From is the client (optional): its route decides the endpoint, its
	// path is explained, and it is aws:VpcSourceIp. Port 0: any.
	From netip.AddrPort
	// Endpoint is the gateway or S3 interface endpoint (optional with
	// From, or with only one endpoint of the service configured).
	Endpoint string
	// Principal is the caller's ARN, or AccessKey its access key ID (both
	// empty: anonymous).
	Principal string
	AccessKey string
}

// Report is the answer: the path (with From), the request context, the
// endpoint policy's verdict with the deciding statement, and what S3
// would answer.
type Report struct {
	Service   string             `json:"service"` // S3 or DynamoDB
	Endpoint  string             `json:"endpoint"`
	Action    string             `json:"action"`
	Resource  string             `json:"resource"`
	Principal string             `json:"principal"`
	Path      *acl.GatewayReport `json:"path,omitempty"`
	// Interface is the path to an S3 interface endpoint (with From).
	Interface *acl.Report          `json:"interface_path,omitempty"`
	Context   map[string][]string  `json:"context"` // condition keys as AWS spells them
	Policy    *iampolicy.Result    `json:"policy,omitempty"`
	Deciding  string               `json:"deciding_statement"`
	PolicyOf  string               `json:"policy_source"`
	Allowed   bool                 `json:"allowed"`
	Verdict   string               `json:"verdict"`
	Answer    string               `json:"answer"` // what the service answers a denied request ("" when allowed)
	Statement *iampolicy.Statement `json:"-"`
}

// Errors of Explain about the query.
var (
	ErrNoEndpoint      = errors.New("gateway: no gateway endpoint")
	ErrUnknownEndpoint = errors.New("gateway: unknown endpoint")
)

// Explain answers a query offline against cfg (privlink explain --action).
func Explain(cfg *config.Config, q Query) (*Report, error) {
	s := New(cfg, Options{})
	defer s.table.Close()
	return s.Explain(q)
}

// Explain answers a query against the server's current configuration
// (GET /v1/explain?action=...).
func (s *Server) Explain(q Query) (*Report, error) {
	snap := s.snap.Load()
	if q.Action == "" {
		return nil, errors.New("the action is required, e.g. s3:GetObject")
	}
	if q.Resource == "" {
		q.Resource = "*"
		if strings.EqualFold(q.Action, "s3:ListAllMyBuckets") {
			q.Resource = ServiceResource
		}
	}
	sv := serviceOfAction(q.Action)
	r := &Report{Service: sv.String(), Action: q.Action, Resource: q.Resource, Principal: q.Principal}
	if q.AccessKey != "" {
		r.Principal = snap.cfg.Principals[q.AccessKey]
	}
	ep, err := s.explainEndpoint(snap, sv, q, r)
	if err != nil {
		return nil, err
	}
	if ep == nil { // no route: the request never reaches S3
		r.Verdict, r.Answer = "denied", "no path: the connection gets deny_action ("+string(snap.cfg.DenyAction)+")"
		return r, nil
	}
	r.Endpoint, r.PolicyOf = ep.id, policySource(ep)
	client := netip.Addr{}
	if q.From.IsValid() {
		client = q.From.Addr()
	}
	ctx := baseContext(ep, client, r.Principal, snap.cfg.Region, s.opts.Now())
	r.Context = displayKeys(ctx)
	res := ep.policy.Evaluate(&iampolicy.Request{Principal: r.Principal, Action: q.Action, Resource: q.Resource, Context: ctx}, ep.kind())
	r.Policy = &res
	r.Deciding = "none: no statement allows the request (implicit deny)"
	if res.Statement >= 0 {
		r.Statement = &ep.policy.Statements[res.Statement]
		r.Deciding = r.Statement.Name(res.Statement)
	}
	r.Allowed = res.Decision == iampolicy.Allowed && (r.Path == nil || r.Path.Allowed) && (r.Interface == nil || r.Interface.Allowed)
	r.Verdict = map[bool]string{true: "allowed", false: "denied"}[r.Allowed]
	switch {
	case res.Decision != iampolicy.Allowed && sv == serviceDynamoDB:
		r.Answer = "400 AccessDeniedException: " + DynamoDBDenyMessage(r.Principal, Check{q.Action, q.Resource}, res.Decision)
	case res.Decision != iampolicy.Allowed:
		r.Answer = "403 AccessDenied: " + DenyMessage(r.Principal, snap.cfg.AccountID, Check{q.Action, q.Resource}, res.Decision)
	case !r.Allowed && r.Interface != nil:
		r.Answer = "no connection: the endpoint's rules deny it (deny_action " + string(snap.cfg.DenyAction) + ")"
	case !r.Allowed:
		r.Answer = "no path: the connection gets deny_action (" + string(snap.cfg.DenyAction) + ")"
	}
	return r, nil
}

// explainEndpoint picks the endpoint of a query (one of the service's
// gateway or S3 interface endpoints) and explains the path.
func (s *Server) explainEndpoint(snap *snapshot, sv service, q Query, r *Report) (*gwEndpoint, error) {
	ids := snap.endpointIDs(sv)
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w to %s is configured (endpoints[].type: gateway, service: %s)", ErrNoEndpoint, sv, sv.serviceName(snap.cfg.Region))
	}
	if ep := snap.endpoints[q.Endpoint]; q.Endpoint != "" && (ep == nil || ep.sv != sv) {
		return nil, fmt.Errorf("%w %q (%s endpoints: %s)", ErrUnknownEndpoint, q.Endpoint, sv, strings.Join(ids, ", "))
	}
	only := len(ids) == 1 && q.Endpoint == "" && snap.paths[sv] == nil
	if ep := snap.endpoints[cmp.Or(q.Endpoint, ids[0])]; ep != nil && ep.iface && (q.Endpoint != "" || only) {
		return ep, s.explainIface(snap, ep, q, r)
	}
	if q.From.IsValid() {
		ev := acl.Compile(snap.cfg)
		if sv.path(ev) == nil {
			return nil, fmt.Errorf("%w: no %s endpoint (%s) is configured", ErrNoEndpoint, sv, sv.key())
		}
		rep, err := acl.ExplainGatewayPath(ev, sv.path(ev), q.From.Addr(), q.From.Port())
		if err != nil {
			return nil, err
		}
		r.Path = rep
		if q.Endpoint == "" {
			return snap.endpoints[rep.Endpoint], nil
		}
	}
	switch ep := snap.endpoints[q.Endpoint]; {
	case q.Endpoint != "":
		return ep, nil
	case len(ids) > 1:
		return nil, fmt.Errorf("%w named: give the endpoint or the client's address (%s endpoints: %s)", ErrNoEndpoint, sv, strings.Join(ids, ", "))
	}
	return snap.endpoints[ids[0]], nil
}

// explainIface explains the path from q.From (when given) to an S3
// interface endpoint: the consumer side, as for any interface endpoint.
func (s *Server) explainIface(snap *snapshot, ep *gwEndpoint, q Query, r *Report) error {
	if !q.From.IsValid() {
		return nil
	}
	rep, err := acl.Explain(acl.Compile(snap.cfg), acl.Query{From: q.From.Addr(), FromPort: q.From.Port(), Endpoint: ep.id})
	r.Interface = rep
	return err
}

// endpointIDs are the IDs of a service's gateway endpoints, sorted.
func (snap *snapshot) endpointIDs(sv service) []string {
	var ids []string
	for id, ep := range snap.endpoints {
		if ep.sv == sv {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func policySource(ep *gwEndpoint) string {
	switch {
	case ep.file != "":
		return ep.file
	case len(ep.policy.Statements) == 1 && ep.policy.Version == "2008-10-17" && ep.policy.Statements[0].Principal != nil && ep.policy.Statements[0].Principal.Any:
		return "default (full access)"
	}
	return "inline"
}

// keyNames spells the condition keys of baseContext as AWS does.
var keyNames = []string{"aws:SourceVpce", "aws:SourceVpc", "aws:VpcSourceIp", "aws:SecureTransport", "aws:CurrentTime",
	"aws:EpochTime", "aws:RequestedRegion", "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalType", "aws:username"}

func displayKeys(c iampolicy.Context) map[string][]string {
	out := make(map[string][]string, len(c))
	for k, v := range c {
		name := k
		for _, n := range keyNames {
			if strings.EqualFold(n, k) {
				name = n
			}
		}
		out[name] = v
	}
	return out
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	ew := &bytes.Buffer{}
	if r.Path != nil {
		r.Path.WriteText(ew)
		fmt.Fprintln(ew)
	}
	if r.Interface != nil {
		r.Interface.WriteText(ew)
		fmt.Fprintln(ew)
	}
	fmt.Fprintf(ew, "request: %s on %s by %s", r.Action, r.Resource, principalOrAnonymous(r.Principal))
	if r.Endpoint == "" {
		fmt.Fprintf(ew, "\nverdict: DENIED (%s)\n", r.Answer)
		_, err := w.Write(ew.Bytes())
		return err
	}
	fmt.Fprintf(ew, " through %s\n", r.Endpoint)
	fmt.Fprintf(ew, "endpoint policy (%s):\n", r.PolicyOf)
	for _, st := range r.Policy.Statements {
		name := fmt.Sprintf("Statement[%d]", st.Index)
		if st.Sid != "" {
			name += fmt.Sprintf(" (Sid %q)", st.Sid)
		}
		fmt.Fprintf(ew, "  %-5s %s: %s\n", st.Effect, name, st.Reason)
	}
	decision := strings.ToUpper(strings.ReplaceAll(r.Policy.Decision.String(), "_", " "))
	if r.Statement != nil {
		fmt.Fprintf(ew, "decision: %s by %s (line %d)\n", decision, r.Deciding, r.Statement.Line)
	} else {
		fmt.Fprintf(ew, "decision: %s: no statement allows the request\n", decision)
	}
	fmt.Fprintf(ew, "verdict: %s\n", strings.ToUpper(r.Verdict))
	if r.Answer != "" {
		fmt.Fprintf(ew, "%s answers: %s\n", r.Service, r.Answer)
	}
	_, err := w.Write(ew.Bytes())
	return err
}
