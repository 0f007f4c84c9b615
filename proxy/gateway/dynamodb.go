package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl/iampolicy"
	"github.com/privlink/privlink/config"
)

// serveDynamoDB decides one DynamoDB request with ep's policy: every
// check of the request (each table of a batch or transaction) must be
// allowed, the strictest decision wins; a denied request gets DynamoDB's
// 400 AccessDeniedException, an allowed one goes to the backend.
func (s *Server) serveDynamoDB(w http.ResponseWriter, r *http.Request, snap *snapshot, ep *gwEndpoint, client netip.Addr) {
	body, derr := readDynamoBody(r)
	op := Operation{}
	if derr == nil {
		op, derr = ClassifyDynamoDB(r.Header.Get("X-Amz-Target"), body, snap.cfg.Region, snap.cfg.AccountID)
	}
	if derr != nil {
		writeDynamoError(w, derr)
		return
	}
	principal := snap.cfg.Principals[AccessKey(r)]
	ctx := baseContext(ep, client, principal, snap.cfg.Region, s.opts.Now())
	if ua := r.Header.Get("User-Agent"); ua != "" {
		ctx.Set("aws:UserAgent", ua)
	}
	c, d, stmt := ep.decideStrictest(principal, op.Checks, ctx)
	ep.decisions[d].Inc()
	if d != iampolicy.Allowed {
		s.logDenial(ep, op, c, d, stmt, principal)
		writeDynamoError(w, &dynamoError{http.StatusBadRequest, "com.amazon.coral.service#AccessDeniedException", DynamoDBDenyMessage(principal, c, d)})
		return
	}
	b := s.dynBack.Load()
	if b == nil {
		writeDynamoError(w, &dynamoError{http.StatusInternalServerError, "com.amazon.coral.service#InternalFailure", "no DynamoDB backend is configured"})
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	b.handler.ServeHTTP(w, r)
}

// readDynamoBody reads a request body of at most DynamoDB's 16 MiB.
func readDynamoBody(r *http.Request) ([]byte, *dynamoError) {
	tooLarge := &dynamoError{http.StatusRequestEntityTooLarge, "com.amazon.coral.service#RequestEntityTooLarge",
		"Request size exceeds the maximum of " + strconv.Itoa(maxDynamoDBBody) + " bytes"}
	if r.Method != http.MethodPost {
		return nil, &dynamoError{http.StatusBadRequest, "com.amazon.coral.service#UnknownOperationException", ""}
	}
	if r.ContentLength > maxDynamoDBBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDynamoDBBody+1))
	switch {
	case err != nil:
		return nil, &dynamoError{http.StatusBadRequest, "com.amazon.coral.service#SerializationException", "the request body could not be read: " + err.Error()}
	case len(body) > maxDynamoDBBody:
		return nil, tooLarge
	}
	return body, nil
}

// decideStrictest evaluates every check: an explicit deny anywhere wins,
// then an implicit deny, else the request is allowed.
func (ep *gwEndpoint) decideStrictest(principal string, checks []Check, ctx iampolicy.Context) (Check, iampolicy.Decision, int) {
	worst, d, stmt := Check{}, iampolicy.Allowed, -1
	for _, c := range checks {
		r := iampolicy.Request{Principal: principal, Action: c.Action, Resource: c.Resource, Context: ctx}
		cd, i := ep.policy.Decide(&r, ep.kind())
		if cd == iampolicy.ExplicitDeny || (cd == iampolicy.ImplicitDeny && d == iampolicy.Allowed) {
			worst, d, stmt = c, cd, i
		}
		if d == iampolicy.ExplicitDeny {
			break
		}
	}
	return worst, d, stmt
}

// DynamoDBDenyMessage is the Message of DynamoDB's AccessDeniedException
// for a request an endpoint policy denies (IAM's access-denied message
// format; an unknown access key is named anonymous).
func DynamoDBDenyMessage(principal string, c Check, d iampolicy.Decision) string {
	on := ""
	if c.Resource != "*" {
		on = " on resource: " + c.Resource
	}
	user := principalOrAnonymous(principal)
	if d == iampolicy.ExplicitDeny {
		return fmt.Sprintf("User: %s is not authorized to perform: %s%s with an explicit deny in a VPC endpoint policy", user, c.Action, on)
	}
	return fmt.Sprintf("User: %s is not authorized to perform: %s%s because no VPC endpoint policy allows the %s action", user, c.Action, on, c.Action)
}

// writeDynamoError answers as DynamoDB does: the status, the JSON body
// {"__type": ..., "Message": ...}, x-amzn-RequestId and x-amz-crc32 (the
// CRC32 of the body, which the AWS SDKs verify).
func writeDynamoError(w http.ResponseWriter, e *dynamoError) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"Message,omitempty"`
	}{e.typ, e.msg})
	h := w.Header()
	clear(h)
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", dynamoRequestID())
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	w.Write(body)
}

// dynamoRequestID is a DynamoDB-shaped request ID: 52 upper-case letters
// and digits.
func dynamoRequestID() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [52]byte
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b[:])
}

// setDynamoDBBackend points the DynamoDB front at cfg's backend URL (nil
// when the configuration has no DynamoDB endpoint).
func (s *Server) setDynamoDBBackend(cfg *config.Config) {
	d := cfg.DynamoDB
	if !d.Enabled() || d.Backend == "" {
		s.dynBack.Store(nil)
		return
	}
	if old := s.dynBack.Load(); old != nil && old.url == d.Backend {
		return
	}
	u, err := url.Parse(d.Backend)
	if err != nil { // validated: cannot happen
		s.log.Error("dynamodb.backend", zap.Error(err))
		return
	}
	s.dynBack.Store(&backend{url: d.Backend, handler: s.reverseProxy(u, "dynamodb-backend", func(w http.ResponseWriter, r *http.Request) {
		writeDynamoError(w, &dynamoError{http.StatusServiceUnavailable, "com.amazon.coral.service#ServiceUnavailableException",
			"The DynamoDB backend " + u.Host + " could not be reached."})
	})})
}
