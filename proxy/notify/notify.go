package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Event is one endpoint connection notification, the JSON body of the POST.
type Event struct {
	Event    string    `json:"event"` // Connect, Accept, Reject, Delete
	Service  string    `json:"service"`
	Endpoint string    `json:"endpoint"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Time     time.Time `json:"time"`
}

// Subscription sends the events of one service to one URL.
type Subscription struct {
	Service string
	URL     string
	Events  []string
}

func (s Subscription) wants(e Event) bool {
	if s.Service != e.Service {
		return false
	}
	for _, name := range s.Events {
		if name == e.Event {
			return true
		}
	}
	return false
}

// Options tune a Notifier; zero values get defaults.
type Options struct {
	QueueSize int           // events waiting per webhook URL (default 1024)
	Attempts  int           // default 4
	Backoff   time.Duration // first retry delay, doubled each time (default 500ms)
	Timeout   time.Duration // per attempt (default 5s)
	Client    *http.Client
	Logger    *zap.Logger
	// Registerer receives privlink_notifications_total{result}.
	Registerer prometheus.Registerer
}

// Results of privlink_notifications_total.
const (
	ResultDelivered = "delivered" // a 2xx answer
	ResultFailed    = "failed"    // every attempt failed
	ResultDropped   = "dropped"   // the webhook's queue was full, or it was removed or closed with the event queued
)

// Notifier delivers events to each webhook on its own goroutine until
// Close.
type Notifier struct {
	opts   Options
	sent   *prometheus.CounterVec
	mu     sync.Mutex // guards subs, hooks and closed
	subs   []Subscription
	hooks  map[string]*hook // by URL
	closed bool
	wg     sync.WaitGroup
}

// New starts a notifier for the given subscriptions.
func New(subs []Subscription, opts Options) *Notifier {
	n := &Notifier{opts: opts.withDefaults(), hooks: map[string]*hook{}, sent: newCounter(opts.Registerer)}
	n.SetSubscriptions(subs)
	return n
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// newCounter returns privlink_notifications_total, registered with reg
// (or the one already registered there), every result present.
func newCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "notifications_total",
		Help: "Endpoint connection notifications by result: delivered, failed (every attempt failed), dropped (the webhook's queue was full)."}, []string{"result"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				c = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	for _, r := range []string{ResultDelivered, ResultFailed, ResultDropped} {
		c.WithLabelValues(r)
	}
	return c
}

// SetSubscriptions replaces the subscriptions (on reload): webhooks new to
// them start delivering, webhooks no longer named stop (their queued
// events count as dropped).
func (n *Notifier) SetSubscriptions(subs []Subscription) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.subs = subs
	want := map[string]bool{}
	for _, s := range subs {
		want[s.URL] = true
		if n.hooks[s.URL] == nil {
			n.hooks[s.URL] = n.startHook(s.URL)
		}
	}
	for url, h := range n.hooks {
		if !want[url] {
			h.stop()
			delete(n.hooks, url)
		}
	}
}

// Notify queues e for every subscription that wants it; it never blocks.
func (n *Notifier) Notify(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.subs {
		if h := n.hooks[s.URL]; h != nil && s.wants(e) {
			h.enqueue(e)
		}
	}
}

// Close stops delivery; queued events are abandoned (counted as dropped)
// and requests in flight cancelled.
func (n *Notifier) Close() {
	n.mu.Lock()
	n.closed = true
	for url, h := range n.hooks {
		h.stop()
		delete(n.hooks, url)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// hook is one webhook URL: its queue and the goroutine that delivers it.
type hook struct {
	n      *Notifier
	url    string
	queue  chan Event
	ctx    context.Context // cancelled by stop, ending requests in flight
	cancel context.CancelFunc
	full   atomic.Bool   // dropping since the queue filled (one log per incident)
	lost   atomic.Uint64 // dropped in the current incident
}

func (n *Notifier) startHook(url string) *hook {
	h := &hook{n: n, url: url, queue: make(chan Event, n.opts.QueueSize)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go h.run()
	return h
}

// enqueue queues e without blocking; a full queue drops it.
func (h *hook) enqueue(e Event) {
	log := h.n.opts.Logger
	select {
	case h.queue <- e:
		if h.full.Swap(false) {
			log.Info("webhook queue accepts events again", zap.String("url", h.url), zap.Uint64("dropped", h.lost.Swap(0)))
		}
	default:
		h.n.sent.WithLabelValues(ResultDropped).Inc()
		h.lost.Add(1)
		if !h.full.Swap(true) {
			log.Warn("webhook queue full: dropping its events until it drains (the webhook is slow or down)",
				zap.String("url", h.url), zap.String("event", e.Event), zap.Int("queue_size", cap(h.queue)))
		}
	}
}

func (h *hook) stop() { h.cancel() }

func (h *hook) run() {
	defer h.n.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			h.n.sent.WithLabelValues(ResultDropped).Add(float64(len(h.queue)))
			return
		case e := <-h.queue:
			h.deliver(e)
		}
	}
}

// deliver tries one event with back-off; a 2xx answer is success.
func (h *hook) deliver(e Event) {
	o := &h.n.opts
	body, _ := json.Marshal(e)
	wait := o.Backoff
	var err error
	for attempt := 1; attempt <= o.Attempts; attempt++ {
		if err = h.post(body); err == nil {
			h.n.sent.WithLabelValues(ResultDelivered).Inc()
			return
		}
		if h.ctx.Err() != nil { // stopped while posting
			h.n.sent.WithLabelValues(ResultDropped).Inc()
			return
		}
		if attempt == o.Attempts {
			break
		}
		select {
		case <-h.ctx.Done():
			h.n.sent.WithLabelValues(ResultDropped).Inc()
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	h.n.sent.WithLabelValues(ResultFailed).Inc()
	o.Logger.Warn("notification not delivered", zap.String("url", h.url), zap.String("event", e.Event),
		zap.Int("attempts", o.Attempts), zap.Error(err))
}

func (h *hook) post(body []byte) error {
	ctx, cancel := context.WithTimeout(h.ctx, h.n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.n.opts.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
