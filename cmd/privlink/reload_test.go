package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/config"
)

// reloadYAML is the default topology moved to 127.78.x (so it cannot clash
// with other tests), with an optional second listener.
func reloadYAML(second bool) string {
	y := strings.ReplaceAll(string(config.DefaultYAML()), "127.0.", "127.78.")
	y = strings.ReplaceAll(y, "127.78.0.0/8", "127.0.0.0/8")
	y = strings.Replace(y, "127.78.0.1:9480", "127.0.0.1:0", 1)
	if second {
		y = strings.Replace(y, "        - {port: 8443, target_group: tg-echo, idle_timeout: 350s}",
			"        - {port: 8443, target_group: tg-echo, idle_timeout: 350s}\n        - {port: 8444, target_group: tg-echo}", 1)
	}
	return y
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func waitDialable(t *testing.T, addr string, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for dialable(addr) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s dialable=%v after %s, want %v", addr, !want, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// privlink run reloads on SIGHUP and when its -c file changes; a broken
// file is refused and the running configuration stays.
func TestRunReloads(t *testing.T) {
	for _, mode := range []string{"sighup", "watch"} {
		t.Run(mode, func(t *testing.T) {
			path, _ := startRun(t, reloadYAML(false), "--log-level", "error", "--watch="+map[string]string{"sighup": "false", "watch": "true"}[mode])
			reload := func() {
				if mode == "sighup" {
					syscall.Kill(os.Getpid(), syscall.SIGHUP)
				}
			}
			os.WriteFile(path, []byte(reloadYAML(true)), 0o644)
			if mode == "sighup" {
				time.Sleep(300 * time.Millisecond)
				if dialable("127.78.1.10:8444") {
					t.Fatal("reloaded without SIGHUP while --watch=false")
				}
			}
			reload()
			waitDialable(t, "127.78.1.10:8444", true, 5*time.Second)
			os.WriteFile(path, []byte("region: [broken"), 0o644)
			reload()
			time.Sleep(700 * time.Millisecond)
			if !dialable("127.78.1.10:8443") || !dialable("127.78.1.10:8444") {
				t.Fatal("a broken file replaced the running configuration")
			}
			os.WriteFile(path, []byte(reloadYAML(false)), 0o644)
			reload()
			waitDialable(t, "127.78.1.10:8444", false, 5*time.Second)
		})
	}
}

// An edit made while privlink starts (after it read the file, before it
// runs) is reloaded: the watcher starts before the file is read. (It used
// to start after the listeners, and took the edited file for the loaded
// one.)
func TestRunReloadsAnEditMadeDuringStartUp(t *testing.T) {
	testHookStarted = func(path string) {
		if err := os.WriteFile(path, []byte(reloadYAML(true)), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { testHookStarted = nil })
	startRun(t, reloadYAML(false), "--log-level", "error", "--watch=true")
	waitDialable(t, "127.78.1.10:8444", true, 5*time.Second)
}

// SIGHUP reopens the flow-log file: after logrotate moved it away, new
// records go to a new file at the path; the moved one keeps the old ones.
func TestRunReopensFlowLogOnSIGHUP(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "flows.log")
	y := strings.Replace(reloadYAML(false), "deny_action: drop", "deny_action: drop\nflow_logs: {path: "+logPath+", interval: 1s}", 1)
	_, errb := startRun(t, y, "--log-level", "error", "--watch=false")
	// connect makes one connection and returns its client port as the
	// flow log prints it.
	connect := func() string {
		c, err := net.DialTimeout("tcp", "127.78.1.10:8443", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("hi"))
		c.Read(make([]byte, 2))
		c.Close()
		return fmt.Sprintf(" %d 8443 ", c.LocalAddr().(*net.TCPAddr).Port)
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	waitLogged := func(p, port string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(read(p), port); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks a record of client port%s:\n%s\nrotated file:\n%s\nstderr:\n%s", p, port, read(p), read(logPath+".1"), errb.String())
			}
		}
	}
	first := connect()
	waitLogged(logPath, first)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); read(logPath) == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
	}
	second := connect()
	waitLogged(logPath, second)
	if strings.Contains(read(logPath+".1"), second) {
		t.Fatal("a record went to the rotated file after SIGHUP")
	}
}
