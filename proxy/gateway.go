package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/gateway"
)

// The S3 and DynamoDB front of gateway endpoints runs beside the
// data plane: its own listeners on s3.listen and dynamodb.listen, the
// server's connection table, flow logs, metrics registry and deny_action
// hold limits.

// startGateway starts the S3 front; without gateway endpoints it only
// answers explain queries.
func (s *Server) startGateway(cfg *config.Config) error {
	gw := gateway.New(cfg, gateway.Options{
		Logger: s.log.Named("s3"), Registerer: s.reg, Rejected: s.m.rejected, Table: s.table,
		FlowLog: s.flowLog, DenyHold: s.opts.DenyHold, MaxHeld: s.opts.MaxHeld,
	})
	s.mu.Lock()
	s.gw = gw
	s.mu.Unlock()
	return gw.Start()
}

// gateway returns the S3 front (nil before Start).
func (s *Server) gateway() *gateway.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gw
}

// S3Addr is the address the S3 endpoint of gateway endpoints listens on
// (zero when there is none).
func (s *Server) S3Addr() netip.AddrPort {
	if gw := s.gateway(); gw != nil {
		return gw.Addr()
	}
	return netip.AddrPort{}
}

// EmbeddedObject reads an object from the embedded S3 backend.
func (s *Server) EmbeddedObject(bucket, key string) ([]byte, error) {
	gw := s.gateway()
	if gw == nil {
		return nil, ErrServerClosed
	}
	return gw.EmbeddedObject(bucket, key)
}

func (s *Server) reloadGateway(cfg *config.Config) error {
	if gw := s.gateway(); gw != nil {
		return gw.Reload(cfg)
	}
	return nil
}

func (s *Server) stopGateway(ctx context.Context) {
	if gw := s.gateway(); gw != nil {
		gw.Shutdown(ctx)
	}
}

// wantsGatewayExplain reports whether an explain query is about S3 or
// DynamoDB through a gateway endpoint: it
// names an action, or a gateway endpoint.
func (s *Server) wantsGatewayExplain(r *http.Request) bool {
	q := r.URL.Query()
	if q.Has("action") {
		return true
	}
	for _, ep := range s.top.Load().cfg.Endpoints {
		if ep.ID == q.Get("endpoint") {
			return ep.ForAWSService()
		}
	}
	return false
}

// explainGateway serves GET /v1/explain?action=s3:GetObject&resource=ARN
// [&endpoint=ID][&from=IP[:PORT]][&principal=ARN|&access_key=AKID]: the
// path (with from) and the endpoint policy's verdict with the statement
// that decided.
func (s *Server) explainGateway(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := gateway.Query{Action: v.Get("action"), Resource: v.Get("resource"), Endpoint: v.Get("endpoint"),
		Principal: v.Get("principal"), AccessKey: v.Get("access_key")}
	if from := v.Get("from"); from != "" {
		ap, err := parseFrom(from)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		q.From = ap
	}
	if q.Action == "" {
		q.Action = "s3:GetObject" // a path query: the policy part shows for a read
		if s.isDynamoDBEndpoint(q.Endpoint) {
			q.Action = "dynamodb:GetItem"
		}
	}
	gw := s.gateway()
	if gw == nil {
		writeError(w, http.StatusServiceUnavailable, "the server is not started")
		return
	}
	rep, err := gw.Explain(q)
	switch {
	case errors.Is(err, gateway.ErrUnknownEndpoint), errors.Is(err, gateway.ErrNoEndpoint):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

func (s *Server) isDynamoDBEndpoint(id string) bool {
	for _, ep := range s.top.Load().cfg.Endpoints {
		if ep.ID == id {
			return ep.IsGateway() && ep.IsDynamoDB()
		}
	}
	return false
}

// DynamoDBAddr is the address the DynamoDB endpoint of gateway endpoints
// listens on (zero when there is none).
func (s *Server) DynamoDBAddr() netip.AddrPort {
	if gw := s.gateway(); gw != nil {
		return gw.DynamoDBAddr()
	}
	return netip.AddrPort{}
}

// parseFrom reads IP or IP:PORT.
func parseFrom(from string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(from); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(from)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf(`query parameter "from": %q is not an IP or IP:PORT`, from)
	}
	return netip.AddrPortFrom(a, 0), nil
}
