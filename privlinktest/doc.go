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
// # Addresses
//
// Every instance runs on a block of its own: a /18 of loopback addresses
// (BlockBits) taken from 127.16.0.0/12 (DefaultNet, 64 blocks) or from the
// 127.x range in the environment variable PRIVLINKTEST_NET (NetEnv). A
// process takes the blocks in turn from a random first one and holds each
// with a lock socket (UDP, port 65535, on the block's address .63.254
// from its start), so test binaries running at once (go test ./... runs
// packages in parallel) skip the blocks another holds instead of
// colliding. A running `privlink run` (127.0.x.y) is never in the range.
//
// A topology is written on addresses of its own, all its 127.x addresses
// within one /18: the topology's net, the /18 of its first 127.x address
// (127.0.0.0/18 for the usual 127.0.x.y). Start moves that net onto the
// block, keeping each address's offset: on block 127.16.64.0/18,
// 127.0.1.10 runs as 127.16.65.10. A subnet, client or rule CIDR of /18
// or longer moves the same way; a wider 127.x CIDR that holds the whole
// topology (127.0.0.0/16) becomes the block; 127.0.0.0/8, 0.0.0.0/0 and
// addresses outside 127/8 stay as written. A 127.x address outside the
// topology's net fails Start, naming its key and line. The admin API
// listens on 127.0.0.1 and a free port, the DNS server on the block's
// first address and a free port (both stay off when the topology turns
// them off).
//
// Methods take addresses as the topology writes them (From("127.0.1.50"),
// Explain("127.0.1.50", ...), Target("127.0.10.20:9443")) and return the
// moved ones (Addr, IP, Conns, a Target's headers).
//
// Everything the kit does goes through privlink's exported API (proxy,
// config, acl, conntrack); Instance.Server is the proxy.Server for
// anything the kit does not wrap. docs/testing.md shows a hand-written
// test next to the same test written with the kit.
package privlinktest
