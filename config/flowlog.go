package config

import (
	"fmt"
	"regexp"
	"strings"
)

// FlowLogFields are the VPC Flow Logs field names of versions 2 to 5, in
// AWS's order. The default format is the first 14 (version 2).
var FlowLogFields = []string{
	// v2
	"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
	"protocol", "packets", "bytes", "start", "end", "action", "log-status",
	// v3
	"vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",
	// v4
	"region", "az-id", "sublocation-type", "sublocation-id",
	// v5
	"pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path",
}

// DefaultFlowLogFormat is the version 2 default format.
var DefaultFlowLogFormat = "${" + strings.Join(FlowLogFields[:14], "} ${") + "}"

var flowLogField = regexp.MustCompile(`\$\{([^}]*)\}`)

// ParseFlowLogFormat returns the field names of a format such as
// "${version} ${srcaddr}"; fields are separated by single spaces as in AWS.
func ParseFlowLogFormat(format string) ([]string, error) {
	if format == "" {
		format = DefaultFlowLogFormat
	}
	known := make(map[string]bool, len(FlowLogFields))
	for _, f := range FlowLogFields {
		known[f] = true
	}
	var fields []string
	for _, tok := range strings.Fields(format) {
		m := flowLogField.FindStringSubmatch(tok)
		if m == nil || m[0] != tok {
			return nil, fmt.Errorf("%q is not a ${field} reference; write fields as ${name} separated by spaces", tok)
		}
		if !known[m[1]] {
			return nil, fmt.Errorf("unknown flow log field %q (fields of versions 2-5, e.g. ${srcaddr})", m[1])
		}
		fields = append(fields, m[1])
	}
	return fields, nil
}

// CheckFlowLogFormat validates a custom format ("" is the default).
func CheckFlowLogFormat(format string) error {
	_, err := ParseFlowLogFormat(format)
	return err
}
