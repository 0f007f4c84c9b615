package gateway

import (
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl/iampolicy"
)

// ServeHTTP decides one request with the endpoint policy of the gateway
// endpoint the client's route leads to now, and answers AccessDenied or
// forwards it to the backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gc, ok := r.Context().Value(connKey{}).(*gateConn)
	if !ok {
		writeS3Error(w, r, http.StatusInternalServerError, "InternalError", "request without a gateway connection")
		return
	}
	snap := s.snap.Load()
	ep := snap.endpointOf(gc)
	if ep == nil {
		// A reload removed the route (or the interface endpoint): the
		// client's packets go nowhere now.
		panic(http.ErrAbortHandler)
	}
	if gc.sv == serviceDynamoDB {
		s.serveDynamoDB(w, r, snap, ep, gc.client.Addr())
		return
	}
	op := Classify(r, snap.cfg.Region)
	if op.Name == "" {
		writeS3Error(w, r, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
		return
	}
	principal := snap.cfg.Principals[AccessKey(r)]
	ctx := requestContext(r, ep, gc.client.Addr(), principal, snap.cfg.Region, s.opts.Now())
	if op.Name == "DeleteObjects" {
		s.deleteObjects(w, r, snap, ep, op, principal, ctx)
		return
	}
	c, d, stmt := ep.decide(principal, op.Checks, ctx)
	ep.decisions[d].Inc()
	if d != iampolicy.Allowed {
		s.logDenial(ep, op, c, d, stmt, principal)
		writeAccessDenied(w, r, DenyMessage(principal, snap.cfg.AccountID, c, d))
		return
	}
	if op.Name == "GetObject" || op.Name == "HeadObject" {
		w = &missingWriter{ResponseWriter: w, r: r, deny: func() (string, bool) {
			list := Check{"s3:ListBucket", BucketARN(op.Bucket)}
			_, d, _ := ep.decide(principal, []Check{list}, ctx)
			return DenyMessage(principal, snap.cfg.AccountID, list, d), d != iampolicy.Allowed
		}}
	}
	s.forward(w, r, op)
}

func (s *Server) logDenial(ep *gwEndpoint, op Operation, c Check, d iampolicy.Decision, stmt int, principal string) {
	if ce := s.log.Check(zap.DebugLevel, "request denied by the endpoint policy"); ce != nil {
		ce.Write(zap.String("endpoint", ep.id), zap.String("operation", op.Name), zap.String("action", c.Action),
			zap.String("resource", c.Resource), zap.Stringer("decision", d), zap.Int("statement", stmt),
			zap.String("principal", principalOrAnonymous(principal)))
	}
}

func principalOrAnonymous(p string) string {
	if p == "" {
		return iampolicy.Anonymous
	}
	return p
}

// forward hands an allowed request to the backend and streams its answer
// back. The embedded backend gets it path-style.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, op Operation) {
	b := s.back.Load()
	if b.mem != nil && hostBucket(r.Host, s.snap.Load().cfg.Region) != "" {
		r.URL.Path = "/" + op.Bucket + "/" + op.Key
		r.URL.RawPath = ""
		if op.Key == "" {
			r.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
		}
	}
	b.handler.ServeHTTP(w, r)
}

// missingWriter turns the backend's 404 for a missing object into 403
// AccessDenied when the policy does not allow s3:ListBucket on the bucket,
// as S3 does: without ListBucket, a caller may not learn that a
// key does not exist.
type missingWriter struct {
	http.ResponseWriter
	r      *http.Request
	deny   func() (msg string, denied bool)
	hidden bool
}

func (m *missingWriter) WriteHeader(code int) {
	if code == http.StatusNotFound {
		if msg, denied := m.deny(); denied {
			m.hidden = true
			writeAccessDenied(m.ResponseWriter, m.r, msg)
			return
		}
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *missingWriter) Write(b []byte) (int, error) {
	if m.hidden {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (m *missingWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }
