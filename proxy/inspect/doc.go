// Package inspect is the PROXY protocol header sidecar behind
// `privlink inspect`: it accepts connections that carry a PROXY protocol
// v1 or v2 header, shows exactly what arrived (one JSON log line per header,
// the last N at GET /v1/headers, Prometheus counters), and forwards the
// stream to an upstream with the header stripped — or echoes it back.
//
// The header policy is explicit: headers are trusted only from configured
// source prefixes, the CRC32C TLV is verified when present, and a second
// (stacked) header is refused. A header split across reads is awaited
// within the header timeout, as the PROXY protocol asks receivers to; with
// Options.Strict it must arrive in the connection's first read, as HAProxy
// 2.6 and nginx 1.22 require. Every refused connection is closed with one
// of a fixed set of reasons (see Reason).
//
// Every header also gets a conformance Verdict: the Items in which it
// differs from what an AWS Network Load Balancer sends (version 2, the AWS
// TLV 0xEA, a LOCAL health check laid out as NLB's, one read, nothing
// stacked). Server.Conformance sums them up for `privlink inspect --check`.
//
// Headers are parsed by github.com/pires/go-proxyproto (proxyproto.Read) over
// the bytes read; the sidecar does its own framing so it can tell split,
// oversize, timed-out and missing headers apart, keep the raw bytes for the
// CRC32C check and the verdict, and hand raw *net.TCPConn values to io.Copy
// so the stream after the header is spliced.
package inspect
