package config

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher calls a function when a configuration file changes. It watches the
// file's directory, so editors that replace the file by a rename and
// Kubernetes ConfigMap symlink swaps are seen too.
type Watcher struct {
	w    *fsnotify.Watcher
	done chan struct{}
	once sync.Once
}

// Watch starts watching path; onChange runs on the watcher's goroutine,
// once per burst of changes (debounced), whenever the file's content changed.
func Watch(path string, debounce time.Duration, onChange func()) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	if err := fw.Add(filepath.Dir(path)); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch %s: %w", path, err)
	}
	w := &Watcher{w: fw, done: make(chan struct{})}
	go w.loop(path, signature(path), debounce, onChange)
	return w, nil
}

// Close stops the watcher and waits for its goroutine.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		err = w.w.Close()
		<-w.done
	})
	return err
}

func (w *Watcher) loop(path string, last [sha256.Size]byte, debounce time.Duration, onChange func()) {
	defer close(w.done)
	var timer <-chan time.Time
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			// Other files of the directory (a flow-log file written
			// beside the configuration, say) are none of our business;
			// Kubernetes swaps ConfigMaps through "..data" entries.
			if name := filepath.Base(ev.Name); name != filepath.Base(path) && !strings.HasPrefix(name, "..") {
				continue
			}
			timer = time.After(debounce)
		case _, ok := <-w.w.Errors:
			if !ok {
				return
			}
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
