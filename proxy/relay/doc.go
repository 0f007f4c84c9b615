// Package relay moves bytes between the two TCP connections of a proxied
// flow with splice(2), in both directions, propagating half-closes and
// resets, without holding a goroutine or a pipe while a direction is idle.
//
// While data flows, each direction runs on its own goroutine, waiting in the
// Go runtime's netpoller like io.Copy does. A direction that has seen no
// data for Options.ParkAfter is parked: its goroutine exits and the source
// socket is watched by the engine's own epoll set; readability resumes it on
// a new goroutine. Pipes come from a pool and are held only while bytes are
// in them. An idle flow therefore costs two sockets and a few hundred bytes.
//
// The engine also implements the NLB idle timeout: a flow with no traffic in
// either direction for its IdleTimeout is expired silently, and whichever
// side sends next is reset (TCP_ELB_Reset).
package relay
