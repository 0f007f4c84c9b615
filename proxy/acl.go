package proxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"

	"go.uber.org/zap"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
	"github.com/privlink/privlink/proxy/dns"
)

// compileRules compiles the rules of cfg together with the targets
// registered over the API (their security groups and subnets matter on the
// provider side). The caller swaps them in (s.rules) with the generation
// they belong to.
func (s *Server) compileRules(cfg *config.Config) *acl.Evaluator {
	eff := *cfg
	eff.Services = make([]config.Service, len(cfg.Services))
	for i, sv := range cfg.Services {
		sv.TargetGroups = append([]config.TargetGroup(nil), sv.TargetGroups...)
		for j := range sv.TargetGroups {
			tg := &sv.TargetGroups[j]
			g := s.lookupGroup(groupKey(sv.ID, tg.Name))
			if g == nil {
				continue
			}
			inCfg := map[netip.AddrPort]bool{}
			for _, t := range tg.Targets {
				inCfg[t.AddrPort()] = true
			}
			targets := append([]config.Target(nil), tg.Targets...)
			g.mu.Lock()
			for addr, t := range g.targets {
				if t.fromAPI && !inCfg[addr] {
					targets = append(targets, config.Target{IP: addr.Addr(), Port: addr.Port(), AZ: t.az, Subnet: t.subnet, SecurityGroups: t.sgs})
				}
			}
			g.mu.Unlock()
			tg.Targets = targets
		}
		eff.Services[i] = sv
	}
	return acl.Compile(&eff)
}

func (s *Server) lookupGroup(key string) *targetGroup {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	return s.groups[key]
}

// healthPort picks the source port of a health check: a Linux ephemeral
// port, chosen before the dial so that the rules (the NACL return path)
// are decided on the port the check really uses.
func healthPort() uint16 {
	return acl.LinuxEphemeralFrom + uint16(rand.IntN(int(acl.LinuxEphemeralTo-acl.LinuxEphemeralFrom)+1))
}

// healthDenied decides the rules between a node and a target for a health
// check from nodePort: the hop and rule that deny it.
func (s *Server) healthDenied(t *target, node netip.Addr, dst netip.AddrPort, nodePort uint16) (hop, rule string, denied bool) {
	pp := s.rules.Load().Provider(t.g.service, node, dst)
	if pp == nil {
		return "", "", false
	}
	var v acl.Verdict
	if pp.Check(nodePort, &v) {
		return "", "", false
	}
	return v.Denied.String(), v.DeniedBy().RuleText(), true
}

// denyTrace records why a flow was denied on its table entry (deniedBy)
// and logs it at debug level.
func (f *flow) denyTrace(v *acl.Verdict) {
	f.deniedBy(v)
	if ce := f.s.log.Check(zap.DebugLevel, "flow denied by the rules"); ce != nil {
		by := v.DeniedBy()
		ce.Write(zap.String("service", f.r.serviceID), zap.String("endpoint", f.r.endpointID),
			zap.String("hop", v.Denied.String()), zap.String("place", by.Place), zap.String("rule", by.RuleText()))
	}
}

// explain serves GET /v1/explain?from=IP[:PORT]&(endpoint=ID|to=NAME[:PORT])[&port=P]:
// the report of privlink explain on the running state (see live).
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	if s.wantsGatewayExplain(r) {
		s.explainGateway(w, r)
		return
	}
	q, err := explainQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if to := r.URL.Query().Get("to"); to != "" {
		q, err = dns.ExplainTo(s.top.Load().cfg, q, to)
		switch {
		case errors.Is(err, dns.ErrUnknownName):
			writeError(w, http.StatusNotFound, `query parameter "to": `+err.Error())
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, `query parameter "to": `+err.Error())
			return
		}
	}
	q.Live = s.live(q)
	rep, err := acl.Explain(s.rules.Load(), q)
	switch {
	case errors.Is(err, acl.ErrUnknownEndpoint), errors.Is(err, acl.ErrUnknownPort):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ExplainFaults(rep, s.activeFaults())
	writeJSON(w, http.StatusOK, rep)
}

func explainQuery(r *http.Request) (acl.Query, error) {
	var q acl.Query
	v := r.URL.Query()
	from := v.Get("from")
	if from == "" {
		return q, errors.New(`query parameter "from" is required: the client IP or IP:PORT`)
	}
	if ap, err := netip.ParseAddrPort(from); err == nil {
		q.From, q.FromPort = ap.Addr(), ap.Port()
	} else if ip, err := netip.ParseAddr(from); err == nil {
		q.From = ip
	} else {
		return q, fmt.Errorf(`query parameter "from": %q is not an IP or IP:PORT`, from)
	}
	q.Endpoint = v.Get("endpoint")
	switch to := v.Get("to"); {
	case q.Endpoint == "" && to == "":
		return q, errors.New(`query parameter "endpoint" is required: the VPC endpoint ID (vpce-…), or "to" with an endpoint DNS name`)
	case q.Endpoint != "" && to != "":
		return q, errors.New(`give query parameter "endpoint" or "to", not both`)
	}
	if p := v.Get("port"); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return q, fmt.Errorf(`query parameter "port": %q is not a port (1-65535)`, p)
		}
		q.Port = uint16(n)
	}
	return q, nil
}
