package config

import "fmt"

// Endpoint states of an endpoint connection, as AWS's API spells them.
const (
	EndpointPendingAcceptance = "pendingAcceptance"
	EndpointAvailable         = "available"
	EndpointRejected          = "rejected"
	EndpointDeleted           = "deleted"
)

// InitialState is the state an endpoint of svc starts in, with its reason:
// rejected when its principal is not allowed, pendingAcceptance when the
// service requires acceptance, else available.
func (ep *Endpoint) InitialState(svc *Service) (state, reason string) {
	switch {
	case !PrincipalAllowed(svc.AllowedPrincipals, ep.Principal):
		return EndpointRejected, fmt.Sprintf("principal %s is not in the allowed_principals of %s", ep.Principal, svc.ID)
	case svc.AcceptanceRequired:
		return EndpointPendingAcceptance, "the service requires acceptance: POST /v1/endpoints/" + ep.ID + "/accept"
	}
	return EndpointAvailable, ""
}
