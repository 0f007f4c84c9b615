package config

import (
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
