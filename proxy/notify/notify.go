// Package notify delivers endpoint connection events (Connect, Accept,
// Reject, Delete) to webhooks, as AWS does through SNS for an endpoint
// service's connection notifications. Delivery never blocks the caller: events
// wait in a bounded queue, are retried with back-off, and are dropped (and
// counted) when the queue is full or every attempt failed.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
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
	QueueSize int           // default 1024
	Attempts  int           // default 4
	Backoff   time.Duration // first retry delay, doubled each time (default 500ms)
	Timeout   time.Duration // per attempt (default 5s)
	Client    *http.Client
	Logger    *zap.Logger
	// Registerer receives privlink_notifications_total{result}.
	Registerer prometheus.Registerer
}

type delivery struct {
	url   string
	event Event
}

// Notifier delivers events on one goroutine until Close.
type Notifier struct {
	opts  Options
	mu    sync.Mutex
	subs  []Subscription
	queue chan delivery
	sent  *prometheus.CounterVec
	ctx   context.Context // cancelled by Close, ending requests in flight
	stop  context.CancelFunc
	done  chan struct{}
}

// New starts a notifier for the given subscriptions.
func New(subs []Subscription, opts Options) *Notifier {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	n := &Notifier{
		opts: opts, subs: subs, queue: make(chan delivery, opts.QueueSize), done: make(chan struct{}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "privlink", Name: "notifications_total",
			Help: "Endpoint connection notifications by result: delivered, failed (every attempt failed), dropped (queue full)."}, []string{"result"}),
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(n.sent); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				n.sent = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	n.ctx, n.stop = context.WithCancel(context.Background())
	go n.run()
	return n
}

// SetSubscriptions replaces the subscriptions (on reload).
func (n *Notifier) SetSubscriptions(subs []Subscription) {
	n.mu.Lock()
	n.subs = subs
	n.mu.Unlock()
}

// Notify queues e for every subscription that wants it; it never blocks.
func (n *Notifier) Notify(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	n.mu.Lock()
	subs := n.subs
	n.mu.Unlock()
	for _, s := range subs {
		if !s.wants(e) {
			continue
		}
		select {
		case n.queue <- delivery{url: s.URL, event: e}:
		default:
			n.sent.WithLabelValues("dropped").Inc()
			n.opts.Logger.Warn("notification queue full; event dropped", zap.String("url", s.URL), zap.String("event", e.Event))
		}
	}
}

// Close stops delivery; queued events are abandoned.
func (n *Notifier) Close() {
	n.stop()
	<-n.done
}

func (n *Notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.ctx.Done():
			return
		case d := <-n.queue:
			n.deliver(d)
		}
	}
}

// deliver tries one event with back-off; a 2xx answer is success.
func (n *Notifier) deliver(d delivery) {
	body, _ := json.Marshal(d.event)
	wait := n.opts.Backoff
	var err error
	for attempt := 1; attempt <= n.opts.Attempts; attempt++ {
		if err = n.post(d.url, body); err == nil {
			n.sent.WithLabelValues("delivered").Inc()
			return
		}
		if attempt == n.opts.Attempts {
			break
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	n.sent.WithLabelValues("failed").Inc()
	n.opts.Logger.Warn("notification not delivered", zap.String("url", d.url), zap.String("event", d.event.Event),
		zap.Int("attempts", n.opts.Attempts), zap.Error(err))
}

func (n *Notifier) post(url string, body []byte) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
