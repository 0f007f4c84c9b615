// Package loadtest is privlink's load generator and the simple target servers
// (echo, sink, source) that sit behind the stand-in in tests, demos and
// benchmarks. Targets accept an optional PROXY v1/v2 header, as a real
// service behind an NLB with proxy protocol must.
package loadtest
