// Package inspect is the PROXY protocol header sidecar behind
// `privlink inspect`: it accepts connections that carry a PROXY protocol
// v1 or v2 header, shows exactly what arrived (one JSON log line per header,
// the last N at GET /v1/headers, Prometheus counters), and forwards the
// stream to an upstream with the header stripped — or echoes it back.
//
// The header policy is explicit and strict, like HAProxy's and nginx's:
// headers are trusted only from configured source prefixes, the whole header
// must arrive in the connection's first read, the CRC32C TLV is verified when
// present, and a second (stacked) header is refused. Every refused
// connection is closed with one of a fixed set of reasons (see Reason).
//
// Headers are parsed by github.com/pires/go-proxyproto (proxyproto.Read) over
// the bytes of the first read; the sidecar does its own framing so it can
// tell split, oversize, timed-out and missing headers apart, keep the raw
// bytes for the CRC32C check, and hand raw *net.TCPConn values to io.Copy so
// the stream after the header is spliced.
package inspect
