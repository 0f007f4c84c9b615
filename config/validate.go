package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validator checks a decoded Config (docs/configuration.md), resolving derived
// values (target ports and AZs, principals) on the way.
type validator struct {
	c     *Config
	errs  Errors
	warns Errors
	// unknown are the paths decoding could not fill (see unsure).
	unknown []string

	subnets map[string]*Subnet
	sgs     map[string]bool
	nacls   map[string]bool
	svcs    map[string]*Service
	eps     map[string]bool
	svcPath map[string]string         // service id → its path
	addrs   map[netip.Addr]string     // interface and node IPs → owner path
	socks   map[netip.AddrPort]string // listening sockets → owner path
}

func (v *validator) at(path string) Error {
	line := v.c.lines[path]
	for p := path; line == 0 && p != ""; {
		p = parent(p)
		line = v.c.lines[p]
	}
	return Error{File: v.c.Source, Line: line, Path: path}
}

func parent(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

func (v *validator) errf(path, format string, args ...any) {
	if v.unsure(path) {
		return
	}
	e := v.at(path)
	e.Msg = fmt.Sprintf(format, args...)
	v.errs = append(v.errs, e)
}

func (v *validator) warnf(path, format string, args ...any) {
	e := v.at(path)
	e.Msg = fmt.Sprintf(format, args...)
	v.warns = append(v.warns, e)
}

func idx(path, key string, i int) string { return fmt.Sprintf("%s[%d]", join(path, key), i) }

func (v *validator) run() {
	v.subnets = map[string]*Subnet{}
	v.sgs = map[string]bool{}
	v.nacls = map[string]bool{}
	v.svcs = map[string]*Service{}
	v.eps = map[string]bool{}
	v.svcPath = map[string]string{}
	v.addrs = map[netip.Addr]string{}
	v.socks = map[netip.AddrPort]string{}
	v.top()
	for i := range v.c.NetworkACLs {
		v.nacl(idx("", "network_acls", i), &v.c.NetworkACLs[i])
	}
	for i := range v.c.Subnets {
		v.subnet(idx("", "subnets", i), &v.c.Subnets[i])
	}
	for i := range v.c.SecurityGroups {
		v.declareSG(idx("", "security_groups", i), v.c.SecurityGroups[i].ID)
	}
	for i := range v.c.SecurityGroups {
		v.securityGroup(idx("", "security_groups", i), &v.c.SecurityGroups[i])
	}
	for i := range v.c.Clients {
		v.client(idx("", "clients", i), &v.c.Clients[i])
	}
	for i := range v.c.Services {
		v.service(idx("", "services", i), &v.c.Services[i])
	}
	for i := range v.c.Endpoints {
		if e := &v.c.Endpoints[i]; !e.IsGateway() && !isAWSService(e.Service) {
			v.endpoint(idx("", "endpoints", i), e)
		}
	}
	v.gateways()
	for i := range v.c.Notifications {
		v.notification(idx("", "notifications", i), &v.c.Notifications[i])
	}
	v.builtinSockets()
	v.adminSocket()
	v.ownTargets()
	v.dns()
	v.faults()
	sortErrors(v.errs, v.c.Source)
	sortErrors(v.warns, v.c.Source)
}

// secs writes a duration in seconds, the unit of AWS's limits.
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }

// sortErrors orders errors by line, those of the configuration file (main)
// first, then those of the files it names (endpoint policies), file by file.
func sortErrors(errs []Error, main string) {
	slices.SortStableFunc(errs, func(a, b Error) int {
		return cmp.Or(cmp.Compare(btoi(a.File != main), btoi(b.File != main)), cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

func (v *validator) top() {
	c := v.c
	if c.Region == "" {
		v.errf("region", "must not be empty")
	}
	if !accountID.MatchString(c.AccountID) {
		v.errf("account_id", "must be 12 digits (quote it in YAML), got %q", c.AccountID)
	}
	if c.Admin.Enabled() {
		if _, port, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			v.errf("admin.listen", "must be host:port or \"off\", got %q", c.Admin.Listen)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			v.errf("admin.listen", "port %q is out of range 0-65535", port)
		}
	}
	fl := c.FlowLogs
	if fl.Interval <= 0 {
		v.errf("flow_logs.interval", "must be positive")
	} else if d := fl.Interval.D(); d != 60*time.Second && d != 600*time.Second {
		v.warnf("flow_logs.interval", "AWS aggregates over 60s or 600s; %s accepted for tests", d)
	}
	if fl.QueueSize < 1 {
		v.errf("flow_logs.queue_size", "must be at least 1")
	}
	if err := CheckFlowLogFormat(fl.Format); err != nil {
		v.errf("flow_logs.format", "%v", err)
	}
}

func (v *validator) subnet(path string, s *Subnet) {
	if v.declare(path, "subnet", s.ID, v.subnets[s.ID] != nil) {
		v.subnets[s.ID] = s
	}
	if s.AZ == "" {
		v.errf(path+".az", "is required")
	}
	if v.prefix(path+".cidr", s.CIDR) {
		for i := range v.c.Subnets {
			o := &v.c.Subnets[i]
			if o == s {
				break
			}
			if o.CIDR.IsValid() && o.CIDR.Masked() == o.CIDR && o.CIDR.Overlaps(s.CIDR) {
				v.errf(path+".cidr", "%s overlaps subnet %s (%s)", s.CIDR, o.ID, o.CIDR)
			}
		}
	}
	if s.NetworkACL != "" && !v.nacls[s.NetworkACL] {
		v.reff("network_acls", path+".network_acl", "network ACL %q is not defined under network_acls", s.NetworkACL)
	}
}

// declare checks that an ID is present and unique; it reports whether the ID
// may be registered.
func (v *validator) declare(path, kind, id string, dup bool) bool {
	switch {
	case id == "":
		v.errf(path+".id", "%s id is required", kind)
		return false
	case dup:
		v.errf(path+".id", "%s %q is defined twice", kind, id)
		return false
	}
	return true
}

// prefix checks a required CIDR: present and without host bits.
func (v *validator) prefix(path string, p netip.Prefix) bool {
	if !p.IsValid() {
		v.errf(path, "a CIDR is required")
		return false
	}
	if p.Masked() != p {
		v.errf(path, "CIDR %s has host bits set (did you mean %s?)", p, p.Masked())
		return false
	}
	return true
}

func (v *validator) declareSG(path, id string) {
	if v.declare(path, "security group", id, v.sgs[id]) {
		v.sgs[id] = true
	}
}

func (v *validator) securityGroup(path string, g *SecurityGroup) {
	v.sgRules(path+".ingress", g.Ingress, "source_group")
	v.sgRules(path+".egress", g.Egress, "destination_group")
	for _, dir := range []struct {
		key   string
		rules []SGRule
	}{{"ingress", g.Ingress}, {"egress", g.Egress}} {
		if len(dir.rules) > 60 {
			v.warnf(path+"."+dir.key, "%d rules exceed AWS's default quota of 60 per direction", len(dir.rules))
		}
	}
}

func (v *validator) sgRules(path string, rules []SGRule, groupKey string) {
	for i := range rules {
		r, p := &rules[i], fmt.Sprintf("%s[%d]", path, i)
		v.ruleBasics(p, r.Protocol, r.Ports)
		wrong := "destination_group"
		if groupKey == "destination_group" {
			wrong = "source_group"
		}
		switch {
		case r.DestinationPrefixList != "":
			v.prefixListRule(p, r, groupKey)
		case (groupKey == "source_group" && r.DestinationGroup != "") || (groupKey == "destination_group" && r.SourceGroup != ""):
			v.errf(p+"."+wrong, "use %s in this direction", groupKey)
		case r.CIDR.IsValid() && r.Group() != "":
			v.errf(p, "give either cidr or %s, not both", groupKey)
		case !r.CIDR.IsValid() && r.Group() == "":
			v.errf(p, "a rule needs cidr or %s", groupKey)
		case r.CIDR.IsValid():
			v.prefix(p+".cidr", r.CIDR)
		case !v.sgs[r.Group()]:
			v.reff("security_groups", p+"."+groupKey, "security group %q is not defined", r.Group())
		}
	}
}

func (v *validator) ruleBasics(path string, proto Protocol, ports PortRange) {
	if proto == ProtocolNone {
		v.errf(path+".protocol", "is required (tcp, udp, icmp, all or a number)")
	}
	if proto == ProtocolAll && !ports.IsZero() && ports != AllPorts {
		v.warnf(path+".ports", "ports are ignored with protocol all (AWS opens every port)")
	}
}

func (v *validator) nacl(path string, n *NetworkACL) {
	if v.declare(path, "network ACL", n.ID, v.nacls[n.ID]) {
		v.nacls[n.ID] = true
	}
	for _, dir := range []struct {
		key   string
		rules []NACLRule
	}{{"ingress", n.Ingress}, {"egress", n.Egress}} {
		seen := map[int]string{}
		for i := range dir.rules {
			r, p := &dir.rules[i], fmt.Sprintf("%s.%s[%d]", path, dir.key, i)
			switch {
			case r.Rule < 1 || r.Rule > 32766:
				v.errf(p+".rule", "rule number %d is outside 1-32766", r.Rule)
			case seen[r.Rule] != "":
				v.errf(p+".rule", "rule number %d is already used by %s", r.Rule, seen[r.Rule])
			default:
				seen[r.Rule] = p
			}
			v.ruleBasics(p, r.Protocol, r.Ports)
			v.prefix(p+".cidr", r.CIDR)
			if r.Action == "" {
				v.errf(p+".action", "is required (allow or deny)")
			}
		}
		if len(dir.rules) > 20 {
			v.warnf(path+"."+dir.key, "%d rules exceed AWS's default quota of 20 per direction", len(dir.rules))
		}
	}
}

func (v *validator) groups(path string, ids []string) {
	if len(ids) > 5 {
		v.warnf(path, "%d security groups exceed AWS's quota of 5 per interface", len(ids))
	}
	for i, id := range ids {
		if !v.sgs[id] {
			v.reff("security_groups", fmt.Sprintf("%s[%d]", path, i), "security group %q is not defined", id)
		}
	}
}

// placed checks an address placed in a subnet and resolves an omitted AZ
// from the subnet.
func (v *validator) placed(path, subnetID string, az *string, ip netip.Addr, subnetRequired bool) {
	if !ip.IsValid() {
		v.errf(path+".ip", "an IP address is required")
	}
	if subnetID == "" {
		if subnetRequired {
			v.errf(path+".subnet", "is required")
		} else if *az == "" {
			v.errf(path+".az", "give az (or subnet) so the load balancer knows the target's zone")
		}
		return
	}
	s := v.subnets[subnetID]
	if s == nil {
		v.reff("subnets", path+".subnet", "subnet %q is not defined", subnetID)
		return
	}
	switch {
	case *az == "":
		*az = s.AZ
	case *az != s.AZ && !v.broken("subnets", "az"):
		v.errf(path+".az", "%s does not match subnet %s, which is in %s", *az, s.ID, s.AZ)
	}
	if ip.IsValid() && s.CIDR.IsValid() && !s.CIDR.Contains(ip) {
		v.errf(path+".ip", "%s is outside subnet %s (%s)", ip, s.ID, s.CIDR)
	}
}

// ownIP records an interface or node IP, which must be unique; it reports
// whether the address is new.
func (v *validator) ownIP(path string, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	if other, ok := v.addrs[ip]; ok {
		v.errf(path+".ip", "%s is already the address of %s", ip, other)
		return false
	}
	v.addrs[ip] = path
	return true
}

func (v *validator) client(path string, c *Client) {
	v.prefix(path+".cidr", c.CIDR)
	s := v.subnets[c.Subnet]
	switch {
	case c.Subnet == "":
		v.errf(path+".subnet", "is required")
	case s == nil:
		v.reff("subnets", path+".subnet", "subnet %q is not defined", c.Subnet)
	case c.CIDR.IsValid() && s.CIDR.IsValid() && !(s.CIDR.Contains(c.CIDR.Addr()) && c.CIDR.Bits() >= s.CIDR.Bits()):
		v.errf(path+".cidr", "%s is outside subnet %s (%s)", c.CIDR, s.ID, s.CIDR)
	}
	v.groups(path+".security_groups", c.SecurityGroups)
}

var principalRE = regexp.MustCompile(`^(\*|arn:aws:iam::[0-9]{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+))$`)

func (v *validator) service(path string, s *Service) {
	if v.declare(path, "service", s.ID, v.svcs[s.ID] != nil) {
		v.svcs[s.ID] = s
		v.svcPath[s.ID] = path
		if !strings.HasPrefix(s.ID, "vpce-svc-") {
			v.warnf(path+".id", "AWS service IDs look like vpce-svc-0123456789abcdef0")
		}
	}
	for i, p := range s.AllowedPrincipals {
		if !principalRE.MatchString(p) {
			v.errf(fmt.Sprintf("%s.allowed_principals[%d]", path, i), "%q is not * or arn:aws:iam::ACCOUNT:root|user/NAME|role/NAME", p)
		}
	}
	tgs := map[string]bool{}
	for i := range s.TargetGroups {
		tg, p := &s.TargetGroups[i], idx(path, "target_groups", i)
		if v.declare(p, "target group", tg.Name, tgs[tg.Name]) {
			tgs[tg.Name] = true
		}
		if tg.Name == "" {
			v.errf(p+".name", "is required")
		}
		v.targetGroup(p, tg)
	}
	v.loadBalancer(path+".load_balancer", s, tgs)
}

func (v *validator) loadBalancer(path string, s *Service, tgs map[string]bool) {
	lb := &s.LoadBalancer
	if lb.Name == "" {
		lb.Name = "nlb-" + strings.TrimPrefix(s.ID, "vpce-svc-")
	}
	v.groups(path+".security_groups", lb.SecurityGroups)
	if len(lb.Nodes) == 0 {
		v.errf(path+".nodes", "at least one node is required")
	}
	azs := map[string]bool{}
	for i := range lb.Nodes {
		n, p := &lb.Nodes[i], idx(path, "nodes", i)
		v.placed(p, n.Subnet, &n.AZ, n.IP, true)
		v.ownIP(p, n.IP)
		if n.AZ != "" && azs[n.AZ] {
			v.errf(p+".az", "the load balancer already has a node in %s (one node per AZ)", n.AZ)
		}
		azs[n.AZ] = true
	}
	if len(lb.Listeners) == 0 {
		v.errf(path+".listeners", "at least one listener is required")
	}
	ports := map[uint16]bool{}
	for i := range lb.Listeners {
		l, p := &lb.Listeners[i], idx(path, "listeners", i)
		switch {
		case l.Port == 0:
			v.errf(p+".port", "is required")
		case ports[l.Port]:
			v.errf(p+".port", "the load balancer already listens on %d", l.Port)
		}
		ports[l.Port] = true
		if l.TargetGroup == "" {
			v.errf(p+".target_group", "is required")
		} else if !tgs[l.TargetGroup] {
			v.reff(strings.TrimSuffix(path, ".load_balancer")+".target_groups", p+".target_group", "target group %q is not defined in this service", l.TargetGroup)
		}
		switch d := l.IdleTimeout.D(); {
		case d <= 0:
			v.errf(p+".idle_timeout", "must be positive")
		case d > 6000*time.Second:
			v.errf(p+".idle_timeout", "%s is above AWS's maximum of 6000s", secs(d))
		case d < 60*time.Second:
			v.warnf(p+".idle_timeout", "%s is below AWS's minimum of 60s; accepted for tests", d)
		}
	}
}

func (v *validator) targetGroup(path string, tg *TargetGroup) {
	if tg.Port == 0 {
		v.errf(path+".port", "is required")
	}
	if tg.PortBudget < 1 || tg.PortBudget > 64512 {
		v.errf(path+".port_budget", "must be between 1 and 64512 (the ports 1024-65535 of a node IP), got %d", tg.PortBudget)
	}
	if d := tg.DeregistrationDelay.D(); d > 3600*time.Second {
		v.errf(path+".deregistration_delay", "%s is above AWS's maximum of 3600s", secs(d))
	}
	v.healthCheck(path+".health_check", &tg.HealthCheck)
	seen := map[netip.AddrPort]string{}
	for i := range tg.Targets {
		t, p := &tg.Targets[i], idx(path, "targets", i)
		if t.Port == 0 {
			t.Port = tg.Port
		}
		v.placed(p, t.Subnet, &t.AZ, t.IP, false)
		v.groups(p+".security_groups", t.SecurityGroups)
		if !t.IP.IsValid() {
			continue
		}
		if other, ok := seen[t.AddrPort()]; ok {
			v.errf(p, "target %s is already registered by %s", t.AddrPort(), other)
		}
		seen[t.AddrPort()] = p
	}
}

func (v *validator) healthCheck(path string, h *HealthCheck) {
	if !h.Enabled {
		return
	}
	v.durationRange(path+".interval", h.Interval.D(), 5*time.Second, 300*time.Second)
	v.durationRange(path+".timeout", h.Timeout.D(), 2*time.Second, 120*time.Second)
	if h.Timeout > 0 && h.Interval > 0 && h.Timeout > h.Interval {
		v.errf(path+".timeout", "%s is longer than the interval %s", h.Timeout, h.Interval)
	}
	for _, th := range []struct {
		key string
		n   int
	}{{"healthy_threshold", h.HealthyThreshold}, {"unhealthy_threshold", h.UnhealthyThreshold}} {
		key, n := th.key, th.n
		switch {
		case n < 1:
			v.errf(path+"."+key, "must be at least 1, got %d", n)
		case n > 10:
			v.errf(path+"."+key, "%d is above AWS's maximum of 10", n)
		case n < 2:
			v.warnf(path+"."+key, "%d is below AWS's minimum of 2; accepted for tests", n)
		}
	}
}

// durationRange errors on a non-positive value and warns outside AWS's range.
func (v *validator) durationRange(path string, d, lo, hi time.Duration) {
	switch {
	case d <= 0:
		v.errf(path, "must be positive")
	case d < lo || d > hi:
		v.warnf(path, "%s is outside AWS's range %s-%s; accepted for tests", d, lo, hi)
	}
}

func (v *validator) endpoint(path string, e *Endpoint) {
	if v.declare(path, "endpoint", e.ID, v.eps[e.ID]) {
		v.eps[e.ID] = true
	}
	if e.ID != "" && !strings.HasPrefix(e.ID, "vpce-") {
		v.warnf(path+".id", "AWS endpoint IDs look like vpce-0123456789abcdef0")
	}
	if e.Principal == "" {
		e.Principal = "arn:aws:iam::" + v.c.AccountID + ":root"
	} else if !principalRE.MatchString(e.Principal) || e.Principal == "*" {
		v.errf(path+".principal", "%q is not arn:aws:iam::ACCOUNT:root|user/NAME|role/NAME", e.Principal)
	}
	s := v.svcs[e.Service]
	switch {
	case e.Service == "":
		v.errf(path+".service", "is required")
	case s == nil:
		v.reff("services", path+".service", "service %q is not defined under services", e.Service)
	case !PrincipalAllowed(s.AllowedPrincipals, e.Principal):
		v.warnf(path+".principal", "%s is not in the allowed_principals of %s: the endpoint will be rejected", e.Principal, s.ID)
	}
	v.interfaces(path, e, func(p string, in *Interface, unique bool) {
		if s == nil || in.AZ == "" {
			return
		}
		if s.Node(in.AZ) == nil && !v.broken(v.svcPath[s.ID]+".load_balancer.nodes", "az", "subnet") && !v.broken("subnets", "az") {
			v.errf(p+".az", "service %s has no load balancer node in %s", s.ID, in.AZ)
		}
		if !unique {
			return
		}
		ports := map[uint16]bool{} // a repeated listener port is reported once, on the listener
		for _, l := range s.LoadBalancer.Listeners {
			if !ports[l.Port] {
				ports[l.Port] = true
				v.socket(p+".ip", netip.AddrPortFrom(in.IP, l.Port), "listener")
			}
		}
	})
}

// interfaces checks what every interface endpoint's network interfaces
// share (security groups, at least one interface, subnet and AZ, one per
// AZ, an address of their own), then calls each for every interface;
// unique: its address is not already taken.
func (v *validator) interfaces(path string, e *Endpoint, each func(p string, in *Interface, unique bool)) {
	v.groups(path+".security_groups", e.SecurityGroups)
	if len(e.Interfaces) == 0 {
		v.errf(path+".interfaces", "at least one interface is required")
	}
	azs := map[string]bool{}
	for i := range e.Interfaces {
		in, p := &e.Interfaces[i], idx(path, "interfaces", i)
		v.placed(p, in.Subnet, &in.AZ, in.IP, true)
		unique := v.ownIP(p, in.IP)
		if in.AZ != "" && azs[in.AZ] {
			v.errf(p+".az", "the endpoint already has an interface in %s (one per AZ)", in.AZ)
		}
		azs[in.AZ] = true
		each(p, in, unique)
	}
}

// socket records an address privlink will listen on, which must be unique.
func (v *validator) socket(path string, ap netip.AddrPort, what string) {
	if !ap.Addr().IsValid() || ap.Port() == 0 {
		return
	}
	if other, ok := v.socks[ap]; ok {
		v.errf(path, "%s %s is already used by %s", what, ap, other)
		return
	}
	// A wildcard address takes its port on every address of the host.
	var clash []netip.AddrPort
	for o := range v.socks {
		if o.Port() == ap.Port() && (o.Addr().IsUnspecified() || ap.Addr().IsUnspecified()) {
			clash = append(clash, o)
		}
	}
	if len(clash) > 0 {
		o := slices.MinFunc(clash, netip.AddrPort.Compare)
		v.errf(path, "%s %s cannot listen beside %s on %s: a wildcard address takes the port on every address", what, ap, v.socks[o], o)
		return
	}
	v.socks[ap] = fmt.Sprintf("%s (%s)", what, path)
}

func (v *validator) builtinSockets() {
	for i, s := range v.c.Services {
		for j, tg := range s.TargetGroups {
			for k, t := range tg.Targets {
				if t.Builtin != BuiltinNone {
					v.socket(fmt.Sprintf("services[%d].target_groups[%d].targets[%d]", i, j, k), t.AddrPort(), "built-in target")
				}
			}
		}
	}
}

func (v *validator) adminSocket() {
	if !v.c.Admin.Enabled() {
		return
	}
	if ap, err := netip.ParseAddrPort(v.c.Admin.Listen); err == nil {
		v.socket("admin.listen", ap, "admin server")
	}
}

var notificationEvents = map[string]bool{"Connect": true, "Accept": true, "Reject": true, "Delete": true}

func (v *validator) notification(path string, n *Notification) {
	if v.svcs[n.Service] == nil {
		v.reff("services", path+".service", "service %q is not defined under services", n.Service)
	}
	if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errf(path+".url", "must be an http:// or https:// URL, got %q", n.URL)
	}
	for i, e := range n.Events {
		if !notificationEvents[e] {
			v.errf(fmt.Sprintf("%s.events[%d]", path, i), "unknown event %q (use Connect, Accept, Reject, Delete)", e)
		}
	}
	if len(n.Events) == 0 {
		n.Events = []string{"Connect", "Accept", "Reject", "Delete"}
	}
}
