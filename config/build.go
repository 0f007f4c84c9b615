package config

import "slices"

// Building a configuration in Go. A tool or test that builds a Config
// instead of parsing YAML starts from the constructors below, which hold
// the defaults a YAML file gets for the keys it omits, and checks the
// result with Validate:
//
//	c := config.New("my-test")
//	c.Subnets = append(c.Subnets, config.Subnet{ID: "subnet-a", AZ: "use1-az1", CIDR: netip.MustParsePrefix("127.0.1.0/24")})
//	svc := config.NewService("vpce-svc-0123456789abcdef0")
//	...
//	if err := config.Validate(c); err != nil { ... } // err is an Errors
//
// Types without a constructor (Subnet, SecurityGroup, NetworkACL, Node,
// Target, Endpoint, Interface) have no defaults: their zero value is what
// an omitted key means.

// New returns a configuration holding the defaults of every top-level key
// (region, account, admin, deny action, flow logs, DNS, VPC) and nothing
// else; source names it in errors, as a file name would.
func New(source string) *Config {
	c := &Config{Source: source}
	c.setDefaults()
	return c
}

// NewService returns a service with the defaults of its omitted keys
// (allowed principals, inbound rules enforced on PrivateLink traffic).
func NewService(id string) Service {
	s := Service{}
	s.setDefaults()
	s.ID = id
	return s
}

// NewTargetGroup returns a target group with the defaults of its omitted
// keys (AWS's: health checks, deregistration delay, port budget, ...).
func NewTargetGroup(name string, port uint16) TargetGroup {
	tg := TargetGroup{}
	tg.setDefaults()
	tg.Name, tg.Port = name, port
	return tg
}

// NewListener returns a load balancer listener with AWS's idle timeout.
func NewListener(port uint16, targetGroup string) Listener {
	l := Listener{}
	l.setDefaults()
	l.Port, l.TargetGroup = port, targetGroup
	return l
}

// Validate checks a configuration as Load and Parse check a file: every
// problem at once, as an Errors whose entries name the key path (and the
// line, for a configuration that was parsed). On the way it resolves the
// derived values a file may omit (a target's port and AZ, an interface's
// AZ, principals), so a Config must pass Validate before proxy uses it;
// Warnings is set afresh. It returns nil when c is valid.
func Validate(c *Config) error {
	v := &validator{c: c}
	v.run()
	c.Warnings = v.warns
	if len(v.errs) > 0 {
		return slices.Clip(v.errs)
	}
	return nil
}

// NearestLine is the line of the key path, or of its nearest parent key
// written in the file (a path validation derived, such as a list entry's
// field the file omitted); 0 for a configuration built in Go.
func (c *Config) NearestLine(path string) int {
	for p := path; p != ""; p = parent(p) {
		if l := c.lines[p]; l > 0 {
			return l
		}
	}
	return 0
}
