package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher calls a function when a configuration file changes. It watches the
// file's directory, so editors that replace the file by a rename and
// Kubernetes ConfigMap symlink swaps are seen too.
//
// It asks inotify for what ends a change only: a file written and closed,
// or moved, created or deleted in the directory. Not for every write: a
// file that stays open and is written all the time beside the
// configuration (the flow-log file, say) would wake the watcher on each
// write, 50 times a second with flow logs on. A change is seen when the
// writer closes the file or moves it into place, as editors,
// os.WriteFile, kubectl and configuration tools do.
type Watcher struct {
	f      *os.File // the inotify descriptor, read through Go's poller
	done   chan struct{}
	once   sync.Once
	events atomic.Int64 // inotify events read (tests: what woke the watcher)
}

// watchMask is what ends a change of a file in the directory.
const watchMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// Watch starts watching path; onChange runs on the watcher's goroutine,
// once per burst of changes (debounced), whenever the file's content changed.
func Watch(path string, debounce time.Duration, onChange func()) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify: %w", path, err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), watchMask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w := &Watcher{f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}
	changes := make(chan struct{}, 1)
	go w.read(filepath.Base(path), changes)
	go w.loop(path, signature(path), debounce, changes, onChange)
	return w, nil
}

// Close stops the watcher and waits for its goroutines.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		err = w.f.Close() // read returns, closes changes, loop returns
		<-w.done
	})
	return err
}

// read turns the inotify events that concern the file into a pending
// change; it closes changes when the descriptor is closed.
func (w *Watcher) read(name string, changes chan<- struct{}) {
	defer close(changes)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		mine := false
		for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			w.events.Add(1)
			mask := binary.NativeEndian.Uint32(b[4:8])
			l := int(binary.NativeEndian.Uint32(b[12:16]))
			ev := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+l], "\x00"))
			b = b[unix.SizeofInotifyEvent+l:]
			// Other files of the directory are none of our business;
			// Kubernetes swaps ConfigMaps through "..data" entries; the
			// directory itself going away is.
			if ev == name || strings.HasPrefix(ev, "..") || mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
				mine = true
			}
		}
		if mine {
			select {
			case changes <- struct{}{}:
			default: // one is pending
			}
		}
	}
}

func (w *Watcher) loop(path string, last [sha256.Size]byte, debounce time.Duration, changes <-chan struct{}, onChange func()) {
	defer close(w.done)
	var timer <-chan time.Time
	for {
		select {
		case _, ok := <-changes:
			if !ok {
				return
			}
			timer = time.After(debounce)
		case <-timer:
			timer = nil
			if sig := signature(path); sig != last {
				last = sig
				onChange()
			}
		}
	}
}

// signature identifies the file's current content: a hash, because two
// quick writes can share a modification time.
func signature(path string) [sha256.Size]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(b)
}
