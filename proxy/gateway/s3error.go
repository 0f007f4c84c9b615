package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/privlink/privlink/acl/iampolicy"
)

// requestIDs makes S3-shaped request IDs: x-amz-request-id (16 upper-case
// hexadecimal characters) and x-amz-id-2 (a base64 host ID).
func requestIDs() (id, host string) {
	id = strings.ToUpper(fmt.Sprintf("%016x", rand.Uint64()))
	var b [48]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return id, base64.StdEncoding.EncodeToString(b[:])
}

// writeS3Error answers as S3 does: the status, the request ID headers and,
// except for HEAD, the XML error body
// <?xml ...?>\n<Error><Code/><Message/><RequestId/><HostId/></Error>.
// Headers an upstream handler set before are dropped.
func writeS3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	h := w.Header()
	clear(h)
	id, host := requestIDs()
	h.Set("X-Amz-Request-Id", id)
	h.Set("X-Amz-Id-2", host)
	h.Set("Server", "AmazonS3")
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId><HostId>%s</HostId></Error>",
		code, xmlEscape(msg), id, host)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// DenyMessage is the Message of S3's AccessDenied for a request the
// endpoint policy denies, as S3 words it: for a principal of the bucket owner's
// account, S3's enhanced message naming the VPC endpoint policy; for an
// anonymous or another account's request, "Access Denied".
func DenyMessage(principal, owner string, c Check, d iampolicy.Decision) string {
	if principal == "" || iampolicy.AccountOf(principal) != owner {
		return "Access Denied"
	}
	on := ""
	if c.Resource != ServiceResource && c.Resource != "*" {
		on = fmt.Sprintf(" on resource: %q", c.Resource)
	}
	if d == iampolicy.ExplicitDeny {
		return fmt.Sprintf("User: %s is not authorized to perform: %s%s with an explicit deny in a VPC endpoint policy", principal, c.Action, on)
	}
	return fmt.Sprintf("User: %s is not authorized to perform: %s%s because no VPC endpoint policy allows the %s action", principal, c.Action, on, c.Action)
}

// writeAccessDenied answers 403 AccessDenied.
func writeAccessDenied(w http.ResponseWriter, r *http.Request, msg string) {
	writeS3Error(w, r, http.StatusForbidden, "AccessDenied", msg)
}
