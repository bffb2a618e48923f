package memlimit

import (
	"testing"
	"time"
)

const mib = 1 << 20

func TestLimitFor(t *testing.T) {
	o := Options{Floor: 128 * mib, Ceiling: 256 * mib, Headroom: 0.5}
	for _, tc := range []struct {
		live, nonHeap, want int64
	}{
		{live: 40 * mib, nonHeap: 15 * mib, want: 128 * mib},  // a small heap keeps the floor
		{live: 100 * mib, nonHeap: 15 * mib, want: 165 * mib}, // 15 + 100 + 50
		{live: 200 * mib, nonHeap: 15 * mib, want: 256 * mib}, // capped
	} {
		if got := limitFor(tc.live, tc.nonHeap, o); got != tc.want {
			t.Errorf("limitFor(live %d MiB, non-heap %d MiB) = %d MiB, want %d MiB",
				tc.live/mib, tc.nonHeap/mib, got/mib, tc.want/mib)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	tu := New(Options{Floor: 128 * mib})
	if tu.opts.Ceiling != 512*mib || tu.opts.Headroom != 0.5 || tu.opts.Hold != 10*time.Second {
		t.Errorf("defaults: ceiling %d MiB, headroom %v, hold %v", tu.opts.Ceiling/mib, tu.opts.Headroom, tu.opts.Hold)
	}
	if tu = New(Options{Floor: 128 * mib, Ceiling: 64 * mib}); tu.opts.Ceiling != 128*mib {
		t.Errorf("a ceiling below the floor became %d MiB, want the floor", tu.opts.Ceiling/mib)
	}
}

// TestApplyRisesAtOnceFallsAfterHold checks the limit's movement: up as soon
// as more is wanted, down only once less has been wanted for Hold.
func TestApplyRisesAtOnceFallsAfterHold(t *testing.T) {
	var set []int64
	tu := New(Options{Floor: 128 * mib, Hold: 10 * time.Second})
	tu.setLimit = func(l int64) int64 { set = append(set, l); return 0 }
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		want, then int64
	}{
		{0, 128 * mib, 128 * mib},
		{time.Second, 170 * mib, 170 * mib},      // rises at once
		{2 * time.Second, 130 * mib, 170 * mib},  // held
		{10 * time.Second, 130 * mib, 170 * mib}, // still held: 9 s since the rise
		{11 * time.Second, 130 * mib, 130 * mib}, // falls after 10 s
		{13 * time.Second, 131 * mib, 130 * mib}, // a move under 1/64 is not made
		{14 * time.Second, 200 * mib, 200 * mib}, // rises again
		{25 * time.Second, 200 * mib, 200 * mib}, // wanted again: held anew
		{34 * time.Second, 128 * mib, 200 * mib}, // 9 s since last wanted
		{35 * time.Second, 128 * mib, 128 * mib},
	}
	for i, st := range steps {
		if got := tu.apply(st.want, t0.Add(st.at)); got != st.then {
			t.Fatalf("step %d (at %v, want %d MiB): limit %d MiB, want %d MiB", i, st.at, st.want/mib, got/mib, st.then/mib)
		}
	}
	wantSet := []int64{128 * mib, 170 * mib, 130 * mib, 200 * mib, 128 * mib}
	if len(set) != len(wantSet) {
		t.Fatalf("limits set %v, want %v", set, wantSet)
	}
	for i := range set {
		if set[i] != wantSet[i] {
			t.Fatalf("limits set %v, want %v", set, wantSet)
		}
	}
}

// TestRaiseGate checks that the limit stays at the floor while Raise says
// no, whatever the live heap.
func TestRaiseGate(t *testing.T) {
	raise := false
	tu := New(Options{Floor: 1, Ceiling: 1 << 40, Raise: func() bool { return raise }})
	var last int64
	tu.setLimit = func(l int64) int64 { last = l; return 0 }
	now := time.Unix(1000, 0)
	if got := tu.tune(now); got != 1 || last != 1 {
		t.Fatalf("with Raise false the limit is %d, want the floor (1)", got)
	}
	raise = true
	// The test process's own live heap and runtime memory are well above
	// one byte.
	if got := tu.tune(now.Add(time.Second)); got <= 1 {
		t.Fatalf("with Raise true the limit stayed at %d", got)
	}
}
