package relay

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pipe is a kernel pipe used as the splice buffer of one direction.
type pipe struct {
	r, w int
	data int // bytes in the pipe
}

// pipePool keeps empty pipes for reuse; a pipe that still holds data is
// never pooled.
type pipePool struct {
	mu    sync.Mutex
	free  []*pipe
	max   int
	inUse atomic.Int64 // pipes handed out and not yet returned
	// retry is when a new pipe may be tried again after pipe2 failed
	// (owned by the loop).
	retry int64
}

// pipeRetry is how long after a failed pipe2 (out of descriptors or pipe
// memory) directions go without asking for a new pipe.
const pipeRetry = int64(100 * time.Millisecond)

// errNoPipe: no pooled pipe, and pipe2 failed less than pipeRetry ago.
var errNoPipe = errors.New("relay: no pipe")

// get returns an empty pipe from the pool or a new one; now is the loop's
// clock.
func (pp *pipePool) get(now int64) (*pipe, error) {
	pp.inUse.Add(1)
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		p := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return p, nil
	}
	pp.mu.Unlock()
	if now < pp.retry {
		pp.inUse.Add(-1)
		return nil, errNoPipe
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		pp.inUse.Add(-1)
		pp.retry = now + pipeRetry
		return nil, err
	}
	// A larger pipe moves more per splice pair: fewer syscalls per byte on
	// bulk transfers. Pipes are held only while data moves (an idle
	// direction gives its pipe back), so the size costs no idle memory. The
	// kernel may refuse (pipe-max-size, user quota): the default 64 KiB works.
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, PipeSize)
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// PipeSize is the capacity asked for each splice pipe.
const PipeSize = 256 << 10

func (pp *pipePool) put(p *pipe) {
	pp.inUse.Add(-1)
	if p.data != 0 {
		p.close()
		return
	}
	pp.mu.Lock()
	if len(pp.free) < pp.max {
		pp.free = append(pp.free, p)
		p = nil
	}
	pp.mu.Unlock()
	if p != nil {
		p.close()
	}
}

func (pp *pipePool) closeAll() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, p := range pp.free {
		p.close()
	}
	pp.free = nil
}

func (p *pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}
