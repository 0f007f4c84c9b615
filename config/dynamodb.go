package config

import (
	"net/netip"
	"net/url"
	"strings"
)

// DynamoDB gateway endpoints (docs/gateway-endpoints.md): the regional DynamoDB endpoint a
// subnet reaches through its gateway endpoint. privlink embeds no
// DynamoDB: allowed requests go to a DynamoDB-compatible server (DynamoDB
// Local, LocalStack) by URL.

// DynamoDB is the regional DynamoDB endpoint: privlink listens on Listen
// and forwards the requests an endpoint policy allows to Backend.
type DynamoDB struct {
	// Listen is ip:port, "" or "off" for none.
	Listen string `yaml:"listen"`
	// Backend is the URL of a DynamoDB-compatible server (required).
	Backend string `yaml:"backend"`
}

// Enabled reports whether privlink serves the DynamoDB endpoint.
func (d DynamoDB) Enabled() bool { return d.Listen != "" && d.Listen != "off" }

// Addr is the listening address (valid once the configuration validated).
func (d DynamoDB) Addr() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(d.Listen)
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// DynamoDBService is the service name of DynamoDB in a region.
func DynamoDBService(region string) string { return "com.amazonaws." + region + ".dynamodb" }

// dynamoDBPrefixLists are AWS's prefix list IDs of DynamoDB where privlink
// knows them.
var dynamoDBPrefixLists = map[string]string{
	"us-east-1": "pl-02cd2c6b",
	"us-east-2": "pl-4ca54025",
	"us-west-2": "pl-00a54069",
}

// DynamoDBPrefixList returns the ID of DynamoDB's prefix list in a region:
// AWS's ID where privlink knows it, else a stable pl- ID from the region.
func DynamoDBPrefixList(region string) string {
	if id, ok := dynamoDBPrefixLists[region]; ok {
		return id
	}
	return derivedPrefixList(DynamoDBService(region))
}

// IsDynamoDB reports whether a gateway endpoint leads to DynamoDB (else
// to S3).
func (e *Endpoint) IsDynamoDB() bool { return strings.HasSuffix(e.Service, ".dynamodb") }

// PrefixListOf is the prefix list a gateway endpoint's routes carry.
func (c *Config) PrefixListOf(e *Endpoint) string {
	if e.IsDynamoDB() {
		return DynamoDBPrefixList(c.Region)
	}
	return S3PrefixList(c.Region)
}

// serviceOfPrefixList names the service of a prefix list ID for messages.
func (c *Config) serviceOfPrefixList(id string) string {
	if id == DynamoDBPrefixList(c.Region) {
		return "DynamoDB"
	}
	return "S3"
}

// dynamoDB checks the DynamoDB endpoint; gateways are the paths of the
// gateway endpoints that lead to it.
func (v *validator) dynamoDB(gateways []string) {
	d := &v.c.DynamoDB
	if !d.Enabled() {
		for _, p := range gateways {
			v.errf(p+".service", "a DynamoDB gateway endpoint needs the DynamoDB endpoint it leads to: set dynamodb.listen (e.g. 127.0.0.1:8000) and dynamodb.backend")
		}
		return
	}
	v.listenKey("dynamodb.listen", d.Listen, "DynamoDB endpoint", "127.0.0.1:8000")
	if len(gateways) == 0 {
		v.warnf("dynamodb.listen", "no DynamoDB gateway endpoint (type: gateway, service: %s) leads to it: every client gets no path", DynamoDBService(v.c.Region))
	}
	if d.Backend == "" {
		v.errf("dynamodb.backend", "is required: the URL of a DynamoDB-compatible server such as DynamoDB Local or LocalStack (http://127.0.0.1:8001); privlink embeds no DynamoDB")
	} else if u, err := url.Parse(d.Backend); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errf("dynamodb.backend", "must be an http:// or https:// URL of a DynamoDB-compatible server, got %q", d.Backend)
	}
}

// listenKey checks the ip:port of an endpoint's listen key and claims it.
func (v *validator) listenKey(key, listen, what, example string) {
	ap, err := netip.ParseAddrPort(listen)
	switch {
	case err != nil:
		v.errf(key, "must be ip:port (a real address such as %s) or \"off\", got %q", example, listen)
	case ap.Port() == 0:
		v.errf(key, "port 0: give the port clients connect to")
	default:
		v.socket(key, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), what)
	}
}

// gatewayService checks a gateway endpoint's service: its region's S3 or
// DynamoDB.
func (v *validator) gatewayService(path, s string) {
	s3, dyn := S3Service(v.c.Region), DynamoDBService(v.c.Region)
	switch {
	case s == s3, s == dyn:
	case s == "":
		v.errf(path+".service", "is required: %s or %s", s3, dyn)
	case strings.HasPrefix(s, "com.amazonaws.") && (strings.HasSuffix(s, ".s3") || strings.HasSuffix(s, ".dynamodb")):
		v.errf(path+".service", "%s is not in the configuration's region %s: a gateway endpoint reaches its own region's S3 (%s) or DynamoDB (%s)", s, v.c.Region, s3, dyn)
	default:
		v.errf(path+".service", "a gateway endpoint's service is %s or %s, got %q", s3, dyn, s)
	}
}
