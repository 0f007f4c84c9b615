package relay

import "golang.org/x/sys/unix"

// A flow's toxics: set up when it starts (or when Hold reaches it), their
// own timers, and their end with the flow.

// startToxics sets up the toxic state of a flow on its loop: at its start,
// or on a live flow (Hold, SetToxics).
func (f *Flow) startToxics(now int64) {
	x := f.Toxics
	for i, d := range []*dir{&f.ab, &f.ba} {
		t := &x.AB
		if i == 1 {
			t = &x.BA
		}
		st := &x.st[i]
		*st = toxicDir{t: t, d: d, startAt: now, refilled: now, sliceAt: now}
		st.tm.owner = st
		if due := st.firstDue(); due > 0 {
			f.l.timers.set(&st.tm, due)
		}
	}
}

// firstDue is when a toxic acts on its own (reset_peer after T, timeout
// after T), 0 when never.
func (x *toxicDir) firstDue() int64 {
	switch {
	case x.t.Reset && x.t.ResetAfter > 0:
		return x.startAt + int64(x.t.ResetAfter)
	case x.t.Hold && x.t.HoldClose > 0:
		return x.startAt + int64(x.t.HoldClose)
	}
	return 0
}

// toxic is the direction's toxic state.
func (d *dir) toxic() *toxicDir {
	if d == &d.f.ab {
		return &d.f.Toxics.st[0]
	}
	return &d.f.Toxics.st[1]
}

// stopToxics cancels the flow's timers when it ends.
func (f *Flow) stopToxics() {
	for i := range f.Toxics.st {
		f.l.timers.cancel(&f.Toxics.st[i].tm)
	}
}

// fire runs when the direction's timer is due.
func (x *toxicDir) fire() {
	now := x.d.f.l.now
	switch {
	case x.t.Reset && x.t.ResetAfter > 0 && now >= x.startAt+int64(x.t.ResetAfter):
		x.d.f.abort(ErrTerminated, true)
		return
	case x.t.Hold && x.t.HoldClose > 0 && now >= x.startAt+int64(x.t.HoldClose):
		x.d.f.abort(ErrToxic, false)
		return
	}
	x.d.pump()
}

// heldPeerClosed closes a flow a timeout toxic holds once a peer sent its
// FIN or an RST (behind bytes it does not read), as the timeout's end
// would: the toxic holds a flow until a peer closes, not beyond. A flow
// Hold silenced (an AZ outage) does not notice.
func (x *toxicDir) heldPeerClosed() {
	d := x.d
	if !d.f.Toxics.held && d.src.readable && d.src.ends && peerClosed(d.src.fd) {
		d.f.abort(ErrToxic, false)
	}
}

// peerClosed reports whether the peer of a TCP socket sent its FIN or an
// RST, whatever is queued before it: the socket left ESTABLISHED.
func peerClosed(fd int) bool {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && (ti.State == unix.BPF_TCP_CLOSE_WAIT || ti.State == unix.BPF_TCP_CLOSE)
}

// Hold stops forwarding the flow without a word to either peer (an AZ
// outage's silence): nothing more is read or written until the flow is
// expired (Expire: the next peer that sends gets an RST) or ended; bytes
// a toxic holds stay held. It may be called from any goroutine; on an
// ended flow it does nothing.
func (f *Flow) Hold() { f.post(opHold) }

// hold runs Hold on the loop.
func (f *Flow) hold() {
	if f.ended.Load() {
		return
	}
	if f.Toxics != nil { // its directions' state stays; they stop
		f.Toxics.AB.Hold, f.Toxics.BA.Hold, f.Toxics.held = true, true, true
		return
	}
	f.Toxics = &Toxics{AB: Toxic{Hold: true}, BA: Toxic{Hold: true}, held: true}
	f.startToxics(f.l.now)
}

// SetToxics replaces the toxics of a live flow (a toxic added to or taken
// off open connections, as in Toxiproxy): bytes already read keep the
// time they were given; with ab and ba both zero, the flow goes back to
// the usual path (splice included) once its toxics hold no more bytes. A
// flow Hold reached stays held. It may be called from any goroutine; on
// an ended flow it does nothing.
func (f *Flow) SetToxics(ab, ba Toxic) {
	if f.home != nil && !f.ended.Load() {
		f.home.post(op{kind: opToxics, f: f, tox: &Toxics{AB: ab, BA: ba}})
	}
}

// setToxics runs SetToxics on the loop.
func (f *Flow) setToxics(x *Toxics) {
	switch {
	case f.ended.Load():
		return
	case f.Toxics == nil:
		if x.AB == (Toxic{}) && x.BA == (Toxic{}) {
			return
		}
		f.Toxics = x
		f.startToxics(f.l.now)
	default:
		t := f.Toxics
		t.AB, t.BA = x.AB, x.BA
		if t.held {
			t.AB.Hold, t.BA.Hold = true, true
		}
		for i := range t.st {
			if due := t.st[i].firstDue(); due > 0 {
				f.l.timers.set(&t.st[i].tm, due)
			}
		}
		if f.clearToxics() {
			return
		}
	}
	f.ab.pump()
	f.ba.pump()
}

// clearToxics puts a flow whose toxics were all taken off back on the
// usual path once they hold no more bytes, and runs both directions
// there; true: it did.
func (f *Flow) clearToxics() bool {
	x := f.Toxics
	if x.AB != (Toxic{}) || x.BA != (Toxic{}) {
		return false
	}
	for i := range x.st {
		if s := &x.st[i]; s.w != s.r || s.closeAt != 0 || s.eof {
			return false
		}
	}
	f.stopToxics()
	f.Toxics = nil
	f.ab.pump()
	f.ba.pump()
	return true
}
