package relay

import (
	"math/rand/v2"
	"testing"
)

// The timer heap gives timers back in due order, after any mix of sets,
// resets and cancels.
func TestTimerHeapOrder(t *testing.T) {
	tests := []struct {
		name           string
		n, reset, drop int
	}{
		{"few", 3, 1, 1},
		{"many", 200, 50, 70},
		{"none left", 20, 0, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tt.n)))
			var th timerHeap
			ts := make([]timer, tt.n)
			for i := range ts {
				th.set(&ts[i], r.Int64N(1000))
			}
			for i := range tt.reset {
				th.set(&ts[i], r.Int64N(1000))
			}
			for i := range tt.drop {
				th.cancel(&ts[len(ts)-1-i])
				th.cancel(&ts[len(ts)-1-i]) // twice: a no-op
			}
			last, got := int64(-1), 0
			for len(th.h) > 0 {
				x := th.h[0]
				if x.at < last {
					t.Fatalf("timer due %d after one due %d", x.at, last)
				}
				last = x.at
				th.cancel(x)
				got++
			}
			if got != tt.n-tt.drop {
				t.Fatalf("%d timers came out, want %d", got, tt.n-tt.drop)
			}
			if th.wait(0) != -1 {
				t.Fatal("an empty heap has a wait")
			}
		})
	}
}
