// Package relay is privlink's data path: a few event loops that accept
// connections, wait for dials, and move bytes between the two TCP
// connections of each flow in both directions, propagating half-closes and
// resets.
//
// An Engine runs Options.Loops loops (default GOMAXPROCS). Each loop is a
// goroutine locked to its thread with its own epoll set, blocked in
// epoll_pwait when it has nothing to do, as HAProxy's threads are.
// Sockets are handled on the loops with raw system calls: the first loop
// accepts, and a connection is dialled, relayed and closed on the loop it
// was placed on. The engine packs (move.go): the first loop keeps new
// connections while it has time to spare, a flow that turns bulk moves
// once to a loop with fewer bulk flows, and new connections spread only
// while the first loop is busy. No goroutine is started per connection
// and Go's netpoller is not involved, so a connection costs no goroutine
// wake-up and no thread hand-off. Other goroutines reach a loop through
// its inbox (an eventfd wakes it): Kill, Terminate, listeners added and
// removed.
//
// Sockets are registered edge-triggered for reading and writing, and the
// loop keeps each one's readiness. Small messages are read into the loop's
// buffer and written at once; what a full socket does not take waits in a
// pooled buffer until EPOLLOUT. Once a read fills the buffer, the direction
// moves its bytes with splice(2) through a pooled pipe, held only while
// bytes are in it. An idle flow therefore costs its two sockets and a few
// hundred bytes: no goroutine, no buffer, no pipe.
//
// Urgent data reaches the peer in-line, in its place in the stream
// (urgent.go). When no pipe can be had (out of descriptors), a direction
// goes on through the loop's buffer.
//
// The engine also implements the NLB idle timeout: a flow with no traffic in
// either direction for its IdleTimeout is expired silently, and whichever
// side sends next is reset (TCP_ELB_Reset). Each loop keeps its flows in a
// timing wheel by the time of their next idle check (idle.go): a sweep
// visits only the flows whose check is due.
//
// A flow may carry Toxics (toxic.go): latency, bandwidth, slicing, limits,
// resets and holds on its bytes, Toxiproxy's toxics. Its directions then
// read through a ring of their own and write when the toxic allows, waking
// on the loop's timer heap (toxictimer.go); they never splice. Flows
// without Toxics take the path above unchanged.
package relay
