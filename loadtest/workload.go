package loadtest

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// message returns the seq-th message: Size bytes of the pattern starting
// at seq mod 26, so consecutive messages differ and a stale or shifted
// echo is caught.
func (r *runner) message(seq uint64) []byte {
	off := int(seq % 26)
	return r.pattern[off : off+r.o.Size]
}

// extendDeadline keeps c's deadline between 3/4 Timeout and Timeout
// ahead, moving it only when a quarter has passed: setting it on every
// message would cost more than a small message.
func (r *runner) extendDeadline(c *net.TCPConn, st *opState, now time.Time) error {
	if now.Add(r.o.Timeout * 3 / 4).Before(st.deadline) {
		return nil
	}
	st.deadline = now.Add(r.o.Timeout)
	return c.SetDeadline(st.deadline)
}

// exchange sends message seq on c and reads it back into buf.
func (r *runner) exchange(c *net.TCPConn, st *opState, seq uint64, buf []byte) error {
	msg := r.message(seq)
	if err := r.extendDeadline(c, st, time.Now()); err != nil {
		return err
	}
	n, err := c.Write(msg)
	r.st.sent.Add(int64(n))
	if err != nil {
		return err
	}
	n, err = io.ReadFull(c, buf[:len(msg)])
	if n > 0 {
		st.received = true
		r.st.recvd.Add(int64(n))
	}
	if err != nil {
		return eofError(err)
	}
	if !bytes.Equal(buf[:n], msg) {
		return errMismatch
	}
	st.firstOp = false
	return nil
}

func (r *runner) connectWorker(ctx context.Context, id int) {
	buf := make([]byte, r.o.Size)
	for r.running(ctx) {
		r.connectOnce(ctx, id, time.Now(), buf)
	}
}

// connectOnce opens a connection, echoes one message when Size > 0, and
// closes it; the latency runs from due to the end of the echo.
func (r *runner) connectOnce(ctx context.Context, id int, due time.Time, buf []byte) {
	c, st, err := r.dial(ctx)
	if err != nil {
		r.failed(ctx, err, st)
		return
	}
	defer c.Close()
	if r.o.Size > 0 {
		stop := closeOnDone(ctx, c)
		err = r.exchange(c, &st, uint64(id), buf)
		stop()
		if err != nil {
			r.failed(ctx, err, st)
			return
		}
	}
	r.st.record(id, time.Since(due))
	r.st.ops.Add(1)
}

// echoWorker keeps one connection and sends messages on it, reconnecting
// after an error. With jobs (open loop) each message waits for its
// scheduled time from the channel and its latency counts from then.
func (r *runner) echoWorker(ctx context.Context, id int, jobs <-chan time.Time) {
	ec := echoConn{r: r, id: id, buf: make([]byte, r.o.Size)}
	defer ec.close()
	for seq := uint64(id); r.running(ctx); seq++ {
		due := time.Now()
		if jobs != nil {
			select {
			case due = <-jobs:
			case <-ctx.Done():
				return
			}
		}
		ec.send(ctx, seq, due, jobs == nil)
	}
}

// echoConn is an echo worker's current connection.
type echoConn struct {
	r    *runner
	id   int
	buf  []byte
	c    *net.TCPConn
	st   opState
	stop func() bool
}

// send delivers one message, dialling first if needed. In a closed loop
// (fromExchange) the latency excludes the dial.
func (e *echoConn) send(ctx context.Context, seq uint64, due time.Time, fromExchange bool) {
	if e.c == nil {
		c, st, err := e.r.dial(ctx)
		if err != nil {
			e.r.failed(ctx, err, st)
			return
		}
		e.c, e.st, e.stop = c, st, closeOnDone(ctx, c)
	}
	if fromExchange {
		due = time.Now()
	}
	if err := e.r.exchange(e.c, &e.st, seq, e.buf); err != nil {
		e.r.failed(ctx, err, e.st)
		e.close()
		return
	}
	e.r.st.record(e.id, time.Since(due))
	e.r.st.ops.Add(1)
}

func (e *echoConn) close() {
	if e.c != nil {
		e.stop()
		e.c.Close()
		e.c = nil
	}
}

// streamWorker moves bytes over one connection at a time until the end of
// the run, reconnecting after an error.
func (r *runner) streamWorker(ctx context.Context) {
	up, down := make([]byte, r.o.Size), make([]byte, r.o.Size)
	for r.running(ctx) {
		c, st, err := r.dial(ctx)
		if err != nil {
			r.failed(ctx, err, st)
			continue
		}
		if err := r.stream(ctx, c, &st, up, down); err != nil {
			r.failed(ctx, err, st)
		}
		c.Close()
	}
}

// stream runs the selected directions on c until one fails or the run
// ends; the first error is returned and stops the other direction.
func (r *runner) stream(ctx context.Context, c *net.TCPConn, st *opState, up, down []byte) error {
	stop := closeOnDone(ctx, c)
	defer stop()
	var (
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		once.Do(func() { first = err; c.SetDeadline(time.Unix(1, 0)) })
	}
	if r.o.Download {
		wg.Go(func() { fail(r.download(c, st, down)) })
	}
	if r.o.Upload {
		wg.Go(func() { fail(r.upload(c, st, up)) })
	}
	wg.Wait()
	return first
}

// upload writes chunks until an error; after the first chunk a reset no
// longer counts as reset_before_data.
func (r *runner) upload(c *net.TCPConn, st *opState, buf []byte) error {
	for {
		if err := c.SetWriteDeadline(time.Now().Add(r.o.Timeout)); err != nil {
			return err
		}
		n, err := c.Write(buf)
		r.st.sent.Add(int64(n))
		if err != nil {
			return err
		}
		st.firstOp = false
		r.st.ops.Add(1)
	}
}

// download reads until an error; a clean EOF is an error too (a source
// target never stops sending).
func (r *runner) download(c *net.TCPConn, st *opState, buf []byte) error {
	for {
		if err := c.SetReadDeadline(time.Now().Add(r.o.Timeout)); err != nil {
			return err
		}
		n, err := c.Read(buf)
		if n > 0 {
			st.received = true
			r.st.recvd.Add(int64(n))
		}
		if err != nil {
			return eofError(err)
		}
	}
}
