// Package proxy is privlink's data plane: it listens on every endpoint
// interface, and for each accepted connection picks the NLB node of the
// interface's AZ and a target, dials the target from the node's IP (real
// SNAT), writes the PROXY v2 header when the target group asks for it, and
// splices bytes both ways with half-close propagation. It also serves the
// admin HTTP API of its own state and the built-in targets of a topology,
// and runs the S3 front of gateway endpoints (proxy/gateway) beside the
// data plane.
//
// A Server runs one configuration generation at a time: the topology is
// compiled once and read through an atomic pointer, so a connection keeps
// the snapshot it started with.
//
// Faults (docs/faults.md, faults*.go) are injected failures: AWS-shaped ones the
// pipeline consults at accept, dial and start (an AZ outage, a black-holed
// or refusing target, a node resetting its flows, a smaller port budget, an
// idle-timeout override) and stream toxics the relay applies to the flows
// that get them. With no fault active the pipeline pays an atomic load.
//
// In a Go integration test, start the stand-in in-process:
//
//	cfg, _ := config.Parse("test", yamlText)
//	srv, err := proxy.Start(cfg, proxy.Options{})
//	defer srv.Close()
//	addr, err := srv.EndpointAddr("vpce-0c1308d7312217abc", "use1-az1", 8443)
//
// The privlinktest package wraps this for tests: one call, addresses of
// the test's own, cleanup by the test (docs/testing.md).
package proxy
