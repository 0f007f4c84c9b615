package privlinktest_test

import (
	"fmt"
	"net/netip"
	"testing"
)

// exampleT stands in for the *testing.T an example has not: it keeps the
// cleanups to run them at the end, and panics on Fatal.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (e *exampleT) Helper()                           {}
func (e *exampleT) Name() string                      { return "Example" }
func (e *exampleT) Cleanup(f func())                  { e.cleanups = append(e.cleanups, f) }
func (e *exampleT) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }

// done runs the cleanups, last first, as a test's end does.
func (e *exampleT) done() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func netipAddrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
