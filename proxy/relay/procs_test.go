package relay

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLastEngineRestoresDefaultGOMAXPROCS: when the last engine closes and
// GOMAXPROCS was Go's default, the default and its automatic updates come
// back (runtime.SetDefaultGOMAXPROCS): confining the process to one CPU
// then lowers GOMAXPROCS to 1. Setting GOMAXPROCS used to turn those
// updates off for good. It runs in a child process, whose CPU affinity it
// changes.
func TestLastEngineRestoresDefaultGOMAXPROCS(t *testing.T) {
	if os.Getenv("RELAY_PROCS_CHILD") == "1" {
		procsChild(t)
		return
	}
	if os.Getenv("GOMAXPROCS") != "" || runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs and the default GOMAXPROCS")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLastEngineRestoresDefaultGOMAXPROCS$", "-test.v")
	cmd.Env = append(os.Environ(), "RELAY_PROCS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "GOMAXPROCS followed the CPU affinity") {
		t.Fatalf("child output:\n%s", out)
	}
}

// procsChild starts and closes an engine, then confines every thread of
// the process to CPU 0 and waits for the runtime (sysmon, about once a
// second) to follow.
func procsChild(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	e, err := New(Options{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != base+1 {
		t.Fatalf("GOMAXPROCS %d with a 1-loop engine, want %d", got, base+1)
	}
	e.Close()
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("GOMAXPROCS %d after Close, want %d", got, base)
	}
	var one unix.CPUSet
	one.Set(0)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if tid, err := strconv.Atoi(task.Name()); err == nil {
				unix.SchedSetaffinity(tid, &one)
			}
		}
		if runtime.GOMAXPROCS(0) == 1 {
			t.Log("GOMAXPROCS followed the CPU affinity")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GOMAXPROCS is %d 10 s after the process was confined to one CPU: automatic updates are off", runtime.GOMAXPROCS(0))
}
