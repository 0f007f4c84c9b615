// Package acl is privlink's rule semantics: AWS security groups (stateful,
// allow-only, the union of every group on an interface) and network ACLs
// (stateless, numbered, first match, implicit deny) evaluated hop by hop along
// the PrivateLink path (the consumer's rules to the endpoint, the
// load balancer's, the provider's to the target), and on the way from a
// client to the S3 endpoint of gateway endpoints (GatewayPath: the route
// table, the client's SG egress with prefix lists, its subnet's NACL).
//
// Compile turns a validated *config.Config into an immutable *Evaluator once
// per configuration generation. Everything that does not depend on the flow is
// resolved then: the data path looks up a ConsumerPath per endpoint interface
// and listener and a ProviderPath per (service, node, target), and their Check
// methods decide a flow with a few binary searches over precomputed interval
// tables, allocating nothing. The Verdict records every hop with the rule that
// decided it.
//
// Explain answers "why can't my client reach the service?" offline, including
// the return paths of stateless NACLs over whole ephemeral port ranges, with a
// concrete suggestion for a denial; Lint warns about rules that can never
// match. The package does no I/O.
package acl
