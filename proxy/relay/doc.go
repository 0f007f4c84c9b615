// Package relay moves bytes between the two TCP connections of a proxied
// flow in both directions, propagating half-closes and resets, without
// holding a goroutine or a pipe while a direction is idle. Small messages go
// through a pooled buffer (read, write); once a read fills it, the direction
// moves its bytes with splice(2) through a pooled pipe.
//
// While data flows, each direction runs on its own goroutine, waiting in the
// Go runtime's netpoller like io.Copy does; one wait covers reading until
// EAGAIN and writing what was read. A direction that has seen no
// data for Options.ParkAfter is parked: its goroutine exits and the source
// socket is watched by the engine's own epoll set; readability resumes it on
// a new goroutine. Pipes come from a pool and are held only while bytes are
// in them. An idle flow therefore costs two sockets and a few hundred bytes.
//
// The engine also implements the NLB idle timeout: a flow with no traffic in
// either direction for its IdleTimeout is expired silently, and whichever
// side sends next is reset (TCP_ELB_Reset).
package relay
