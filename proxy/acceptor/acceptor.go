// Package acceptor runs accept loops the way a long-running server must:
// one bad peer or a passing resource shortage (EMFILE, ECONNABORTED) never
// stops accepting; temporary errors back off from 5 ms to 1 s.
package acceptor

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Backoff bounds.
const (
	MinBackoff = 5 * time.Millisecond
	MaxBackoff = time.Second
)

// Loop accepts from ln and passes each connection to handle, until accept
// fails permanently. It returns nil when stopped() reports the listener was
// closed on purpose, the accept error otherwise. onTemporary, if not nil, is
// told about every temporary error before the back-off sleep.
func Loop(ln net.Listener, handle func(net.Conn), stopped func() bool, onTemporary func(error, time.Duration)) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err == nil {
			backoff = 0
			handle(c)
			continue
		}
		if stopped() || errors.Is(err, net.ErrClosed) {
			return nil
		}
		if !Temporary(err) {
			return err
		}
		backoff = min(max(2*backoff, MinBackoff), MaxBackoff)
		if onTemporary != nil {
			onTemporary(err, backoff)
		}
		time.Sleep(backoff)
	}
}

// Temporary reports accept errors a server should ride out.
func Temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.EPROTO)
}
