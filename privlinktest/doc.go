// Package privlinktest is privlink's Go test kit: one call runs the
// PrivateLink stand-in in-process for a test, the way httptest.NewServer
// runs an HTTP server, on loopback addresses no other test uses, and
// t.Cleanup stops it.
//
//	in := privlinktest.Start(t, topologyYAML) // or privlinktest.Topology()...
//	conn, err := in.Dial(t.Context(), "vpce-0c1308d7312217abc", 8443)
//	...
//	seen, err := in.Target("127.0.10.20:9443").Next(ctx)
//	// seen.Header.Source is the client, seen.Header.EndpointID the endpoint
//
// A topology is YAML text (what `privlink run -c` reads), a
// *TopologyBuilder (Topology().Service(...).Endpoint(...)), or a
// *config.Config. Start validates it, failing the test with every error
// (FILE:LINE: key: message), then moves its addresses onto the test's own
// block (see BlockBits and DefaultNet), so tests that call t.Parallel, and
// test binaries that run at once, never share an address; it puts the
// admin API and the DNS server on free ports, and serves every built-in
// target (builtin: echo, sink or source) with a recording Target, which
// decodes each connection's PROXY header so a test can assert what its
// service would see. Methods take addresses as the topology writes them
// and return the moved ones.
//
// Everything the kit does goes through privlink's exported API (proxy,
// config, acl, conntrack); Instance.Server is the proxy.Server for
// anything the kit does not wrap. docs/testing.md shows a hand-written
// test next to the same test written with the kit.
package privlinktest
