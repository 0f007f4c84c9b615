package conntrack

import (
	"crypto/sha256"
	"encoding/hex"
)

// ENIID is the network interface ID privlink shows for an interface: "eni-"
// and 17 hex digits, a stable hash of the owner's id (an endpoint ID for an
// endpoint interface, a service ID for an NLB node) and the AZ.
func ENIID(id, az string) string {
	h := sha256.Sum256([]byte(id + "\x00" + az))
	return "eni-" + hex.EncodeToString(h[:9])[:17]
}
