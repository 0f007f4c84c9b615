// Package conntrack tracks privlink's connections the way conntrack and VPC
// Flow Logs show them: a table of live flows with their original tuple
// (client → endpoint interface) and translated tuple (node IP:port →
// target), the NLB's SNAT port budget per (node IP, target), an event
// stream of flow state changes, the admin HTTP handlers that expose both,
// and VPC Flow Log records written by a goroutine that never blocks the
// data path.
//
// It knows tuples and counters, not rules: the proxy decides, conntrack
// records. Time is injected (a now func) wherever behaviour depends on it.
package conntrack
