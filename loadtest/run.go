package loadtest

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// runner is one Run: the options, the counters and the dial setup.
type runner struct {
	o       Options
	addr    string    // the resolved target
	end     time.Time // the end of the run
	st      *stats
	src     *sources
	pattern []byte // message bytes; a message is a Size-long window of it
}

// Run loads the target as opts say until opts.Duration has passed or ctx
// is done, calling progress (if not nil) every opts.ProgressInterval from
// its own goroutine. It returns an error only for bad options or a target
// that does not resolve; failed connections and messages are counted in
// the Result by ErrorClass.
func Run(ctx context.Context, opts Options, progress func(Snapshot)) (*Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ta, err := net.ResolveTCPAddr("tcp", o.Target)
	if err != nil {
		return nil, fmt.Errorf("loadtest: target %q: %w", o.Target, err)
	}
	r := &runner{o: o, addr: ta.String(), st: newStats(o.Conns), src: newSources(o.Source)}
	r.pattern = make([]byte, o.Size+26)
	for i := range r.pattern {
		r.pattern[i] = 'a' + byte(i%26) // never 'P' or '\r': targets look for PROXY headers
	}
	start := time.Now()
	r.end = start.Add(o.Duration)
	rctx, cancel := context.WithDeadline(ctx, r.end)
	defer cancel()
	stopProgress := r.startProgress(start, progress)
	if o.Rate > 0 {
		r.openLoop(rctx)
	} else {
		r.closedLoop(rctx)
	}
	elapsed := time.Since(start)
	stopProgress()
	return r.result(elapsed), nil
}

// closedLoop runs Conns workers, each starting its next operation when the
// previous one is done.
func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for id := range r.o.Conns {
		switch r.o.Mode {
		case WorkloadConnect:
			wg.Go(func() { r.connectWorker(ctx, id) })
		case WorkloadEcho:
			wg.Go(func() { r.echoWorker(ctx, id, nil) })
		case WorkloadStream:
			wg.Go(func() { r.streamWorker(ctx) })
		}
	}
	wg.Wait()
}

// openLoop starts operations at Rate per second whether or not earlier
// ones finished: connect mode, one goroutine per connection (at most Conns
// in flight; the others wait, and their wait counts in their latency);
// echo mode, messages queued to Conns connection workers.
func (r *runner) openLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if r.o.Mode == WorkloadEcho {
		jobs := make(chan time.Time, r.o.Conns)
		for id := range r.o.Conns {
			wg.Go(func() { r.echoWorker(ctx, id, jobs) })
		}
		r.schedule(ctx, func(_ int64, due time.Time) bool {
			select {
			case jobs <- due:
				return true
			case <-ctx.Done():
				return false
			}
		})
		return
	}
	slots := make(chan struct{}, r.o.Conns)
	r.schedule(ctx, func(i int64, due time.Time) bool {
		wg.Go(func() {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			r.connectOnce(ctx, int(i), due, make([]byte, r.o.Size))
		})
		return true
	})
}

// schedule calls fire for operation i at start + (i+1)/Rate, paced by a
// token bucket. The bucket's burst (10 ms of operations) lets a briefly
// late scheduler catch up; due stays the intended time either way, so
// latency is measured from when the operation should have started
// (coordinated omission corrected). The scheduler sleeps on its own OS
// thread with nanosleep: the runtime's timers wake about a millisecond
// late on an idle host, and that lateness would count as latency. It
// returns at the end of the run or when fire returns false.
func (r *runner) schedule(ctx context.Context, fire func(i int64, due time.Time) bool) {
	runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
	preciseTimers()
	burst := max(1, int(math.Ceil(r.o.Rate/100)))
	lim := rate.NewLimiter(rate.Limit(r.o.Rate), burst)
	start := time.Now()
	lim.ReserveN(start, burst) // empty the bucket: the schedule starts now
	period := float64(time.Second) / r.o.Rate
	for i := int64(0); ; i++ {
		now := time.Now()
		if !r.sleepUntil(ctx, now.Add(lim.ReserveN(now, 1).DelayFrom(now))) {
			return
		}
		r.st.scheduled.Add(1)
		if !fire(i, start.Add(time.Duration(float64(i+1)*period))) {
			return
		}
	}
}

// sleepUntil sleeps until t; false if the run ends first.
func (r *runner) sleepUntil(ctx context.Context, t time.Time) bool {
	if t.After(r.end) {
		return false
	}
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		nap(min(d, 5*time.Millisecond))
	}
}

// dial opens one connection, from the next source address if any.
func (r *runner) dial(ctx context.Context) (*net.TCPConn, opState, error) {
	d := net.Dialer{Timeout: r.o.Timeout, KeepAlive: -1}
	if r.src != nil {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(r.src.pick(), 0))
		d.Control = bindAddressNoPort
	}
	c, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return nil, opState{}, err
	}
	r.st.conns.Add(1)
	return c.(*net.TCPConn), opState{established: time.Now(), firstOp: true}, nil
}

// running reports whether the run goes on. It checks the clock too: a
// dial bounded by the run's deadline can fail before ctx says it is done.
func (r *runner) running(ctx context.Context) bool {
	return ctx.Err() == nil && time.Now().Before(r.end)
}

// failed counts err unless the run is over (then the operation was cut
// off, not failed).
func (r *runner) failed(ctx context.Context, err error, st opState) {
	if !r.running(ctx) {
		return
	}
	r.st.fail(classify(err, st), err)
}

// closeOnDone closes c when ctx is done, unblocking any read or write.
func closeOnDone(ctx context.Context, c net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

func (r *runner) startProgress(start time.Time, fn func(Snapshot)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.o.ProgressInterval)
		defer t.Stop()
		var prev Snapshot
		for {
			select {
			case <-t.C:
				prev = r.st.snapshot(time.Since(start), prev)
				fn(prev)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (r *runner) result(elapsed time.Duration) *Result {
	o, st := r.o, r.st
	res := &Result{
		Target: o.Target, Mode: o.Mode, Direction: o.direction(), Conns: o.Conns, Rate: o.Rate, Size: o.Size,
		Duration: o.Duration, Elapsed: elapsed, Ops: st.ops.Load(), Connections: st.conns.Load(),
		Scheduled: st.scheduled.Load(), SourceAddrs: r.src.used(), BytesSent: st.sent.Load(), BytesReceived: st.recvd.Load(),
		Latency: summarize(st.merged()), Errors: map[ErrorClass]int64{}, ErrorSamples: map[ErrorClass]string{},
	}
	if o.Source.IsValid() {
		res.Source = o.Source.String()
	}
	if s := elapsed.Seconds(); s > 0 {
		res.OpsPerSec = float64(res.Ops) / s
		res.UploadMBps = float64(res.BytesSent) / s / 1e6
		res.DownloadMBps = float64(res.BytesReceived) / s / 1e6
	}
	for _, c := range ErrorClasses() {
		res.Errors[c] = st.errs[c].Load()
	}
	st.samplesMu.Lock()
	for c, s := range st.samples {
		res.ErrorSamples[c] = s
	}
	st.samplesMu.Unlock()
	return res
}
