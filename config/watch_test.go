package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchSeesWritesAndRenames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "privlink.yaml")
	os.WriteFile(path, []byte("region: us-east-1\n"), 0o644)
	changed := make(chan struct{}, 10)
	w, err := Watch(path, 20*time.Millisecond, func() { changed <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatalf("no change seen after %s", what)
		}
	}
	os.WriteFile(path, []byte("region: eu-west-1\n"), 0o644)
	expect("a write")
	tmp := filepath.Join(dir, ".privlink.yaml.swp")
	os.WriteFile(tmp, []byte("region: ap-south-1\nx: 1\n"), 0o644)
	os.Rename(tmp, path)
	expect("an editor's rename")
	os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x"), 0o644)
	select {
	case <-changed:
		t.Fatal("a change to another file triggered a reload")
	case <-time.After(200 * time.Millisecond):
	}
}

// A file kept open and written all the time beside the configuration (the
// flow-log file) does not wake the watcher: it used to be woken by every
// write (fsnotify watched the directory for writes), 50 times a second
// with flow logs on.
func TestWatchSleepsThroughWritesToOtherFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "privlink.yaml")
	os.WriteFile(path, []byte("region: us-east-1\n"), 0o644)
	f, err := os.Create(filepath.Join(dir, "flows.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	changed := make(chan struct{}, 10)
	w, err := Watch(path, 20*time.Millisecond, func() { changed <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 100 {
		if _, err := f.WriteString(fmt.Sprintf("record %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := w.events.Load(); n != 0 {
		t.Fatalf("the watcher was woken by %d events for 100 writes to another open file", n)
	}
	// It still sees its own file.
	os.WriteFile(path, []byte("region: eu-west-1\n"), 0o644)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no change seen after a write")
	}
}

// Close returns, and no change is reported after it.
func TestWatchCloses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "privlink.yaml")
	os.WriteFile(path, []byte("region: us-east-1\n"), 0o644)
	w, err := Watch(path, time.Millisecond, func() { t.Error("a change after Close") })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("region: eu-west-1\n"), 0o644)
	time.Sleep(50 * time.Millisecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
