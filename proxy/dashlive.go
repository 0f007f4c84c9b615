package proxy

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// dashTick is how often the dashboard's sampler sends a frame.
const dashTick = 250 * time.Millisecond

// dashHub runs the dashboard's one sampler while at least one page is
// connected to GET /v1/dashboard/live, and hands each of them every frame
// it makes. With no page connected there is no sampler, no subscription
// to the connection table and no work at all for the dashboard.
type dashHub struct {
	s *Server

	mu   sync.Mutex
	subs map[chan []byte]struct{}
	stop chan struct{} // closes the running sampler; nil when none runs

	running atomic.Int32 // samplers running (tests)
	started atomic.Int64 // samplers started in total (tests)
}

func newDashHub(s *Server) *dashHub {
	return &dashHub{s: s, subs: map[chan []byte]struct{}{}}
}

// join subscribes a page to the frames, starting the sampler for the
// first one. The channel holds the latest frame only: a slow page skips
// frames, it never holds the sampler up.
func (h *dashHub) join() chan []byte {
	c := make(chan []byte, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[c] = struct{}{}
	if h.stop == nil {
		h.stop = make(chan struct{})
		h.running.Add(1)
		h.started.Add(1)
		go h.sample(h.stop)
	}
	return c
}

// leave unsubscribes a page; the last one to leave stops the sampler.
func (h *dashHub) leave(c chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, c)
	if len(h.subs) == 0 && h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
}

// subscribers is the number of pages connected.
func (h *dashHub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// publish gives every page the frame, replacing one it has not taken yet.
func (h *dashHub) publish(stop chan struct{}, frame []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != stop {
		return // this sampler was stopped; a newer one serves the pages
	}
	for c := range h.subs {
		select {
		case <-c:
		default:
		}
		c <- frame
	}
}

// sample is the sampler's goroutine: a frame every dashTick until stop.
func (h *dashHub) sample(stop chan struct{}) {
	defer h.running.Add(-1)
	sm := newSampler(h.s)
	defer sm.close()
	tick := time.NewTicker(dashTick)
	defer tick.Stop()
	h.publish(stop, sm.frame(time.Now()))
	for {
		select {
		case <-stop:
			return
		case <-h.s.ctx.Done():
			return
		case ev, ok := <-sm.events():
			if !ok {
				sm.sub = nil
				continue
			}
			sm.record(&ev)
		case now := <-tick.C:
			h.publish(stop, sm.frame(now))
		}
	}
}

// serveLive serves GET /v1/dashboard/live: Server-Sent Events, one
// "frame" event (a JSON liveFrame) a few times a second, until the page
// goes away or the server stops.
func (h *dashHub) serveLive(w http.ResponseWriter, r *http.Request) {
	c := h.join()
	defer h.leave(c)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	fmt.Fprint(w, "retry: 2000\n\n")
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.s.ctx.Done():
			return
		case frame := <-c:
			if _, err := fmt.Fprintf(w, "event: frame\ndata: %s\n\n", frame); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
