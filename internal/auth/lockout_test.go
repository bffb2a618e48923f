package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/divandb/divan/internal/couch"
)

func TestParseLockoutConfig(t *testing.T) {
	def := ParseLockoutConfig(nil)
	if def != (LockoutConfig{Mode: LockoutEnforce, Threshold: 5, MaxObjects: 10000, MaxLifetime: 5 * time.Minute}) {
		t.Fatalf("defaults = %+v", def)
	}
	for _, tc := range []struct {
		in   map[string]string
		want LockoutConfig
	}{
		{map[string]string{"mode": "warn", "threshold": "3", "max_objects": "10", "max_lifetime": "1500"},
			LockoutConfig{Mode: LockoutWarn, Threshold: 3, MaxObjects: 10, MaxLifetime: 1500 * time.Millisecond}},
		{map[string]string{"mode": "off"}, LockoutConfig{Mode: LockoutOff, Threshold: 5, MaxObjects: 10000, MaxLifetime: 5 * time.Minute}},
		{map[string]string{"mode": "Enforce"}, LockoutConfig{Mode: LockoutOff, Threshold: 5, MaxObjects: 10000, MaxLifetime: 5 * time.Minute}},
		{map[string]string{"threshold": "many", "max_lifetime": "-1"}, def},
	} {
		if got := ParseLockoutConfig(tc.in); got != tc.want {
			t.Errorf("ParseLockoutConfig(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if LockoutEnforce.String() != "enforce" || LockoutWarn.String() != "warn" || LockoutOff.String() != "off" {
		t.Fatal("mode names")
	}
}

func TestLockedOutError(t *testing.T) {
	var ce *couch.Error
	if !errors.As(LockedOutError(), &ce) || ce.Code != couch.CodeForbidden ||
		ce.Reason != "Account is temporarily locked due to multiple authentication failures" {
		t.Fatalf("LockedOutError = %v", LockedOutError())
	}
}

func TestLockoutThreshold(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := NewLockout(ParseLockoutConfig(nil))
	k := LockoutKey{Peer: "192.0.2.1", User: "bob", Salt: "s1"}
	for i := 0; i < 4; i++ {
		if v := l.Check(k, t0); v != LockoutAllowed {
			t.Fatalf("after %d failures: %v", i, v)
		}
		l.Failed(k, t0.Add(time.Duration(i)*time.Second))
	}
	if v := l.Check(k, t0.Add(5*time.Second)); v != LockoutAllowed {
		t.Fatalf("after 4 failures: %v", v)
	}
	l.Failed(k, t0.Add(5*time.Second))
	if v := l.Check(k, t0.Add(6*time.Second)); v != LockoutLocked {
		t.Fatalf("after 5 failures: %v", v)
	}
	if n := l.Failures(k, t0.Add(6*time.Second)); n != 5 {
		t.Fatalf("Failures = %d", n)
	}
	// Other peer, other user, other salt (password changed): not locked.
	for _, other := range []LockoutKey{
		{Peer: "192.0.2.2", User: "bob", Salt: "s1"},
		{Peer: "192.0.2.1", User: "alice", Salt: "s1"},
		{Peer: "192.0.2.1", User: "bob", Salt: "s2"},
	} {
		if v := l.Check(other, t0.Add(6*time.Second)); v != LockoutAllowed {
			t.Fatalf("%+v: %v", other, v)
		}
	}
	// Warn mode reports but lets through; off ignores.
	l.Reconfigure(LockoutWarn, 5)
	if v := l.Check(k, t0.Add(7*time.Second)); v != LockoutWarned {
		t.Fatalf("warn: %v", v)
	}
	l.Reconfigure(LockoutEnforce, 6)
	if v := l.Check(k, t0.Add(7*time.Second)); v != LockoutAllowed {
		t.Fatalf("threshold 6: %v", v)
	}
	l.Reconfigure(LockoutOff, 1)
	if v := l.Check(k, t0.Add(7*time.Second)); v != LockoutAllowed {
		t.Fatalf("off: %v", v)
	}
	l.Failed(LockoutKey{Peer: "p", User: "x"}, t0)
	if l.Len() != 1 {
		t.Fatalf("off mode tracked a failure: %d", l.Len())
	}
}

func TestLockoutExpiry(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := NewLockout(LockoutConfig{Mode: LockoutEnforce, Threshold: 2, MaxObjects: 100, MaxLifetime: time.Minute})
	k := LockoutKey{Peer: "::1", User: "bob"}
	l.Failed(k, t0)
	l.Failed(k, t0.Add(50*time.Second)) // does not renew the creation time
	if v := l.Check(k, t0.Add(time.Minute)); v != LockoutLocked {
		t.Fatalf("at exactly max_lifetime: %v", v)
	}
	if v := l.Check(k, t0.Add(time.Minute+time.Millisecond)); v != LockoutAllowed {
		t.Fatalf("past max_lifetime: %v", v)
	}
	if l.Len() != 0 {
		t.Fatalf("expired entry kept: %d", l.Len())
	}
	// A fresh failure starts a new window at 1.
	l.Failed(k, t0.Add(2*time.Minute))
	if n := l.Failures(k, t0.Add(2*time.Minute)); n != 1 {
		t.Fatalf("Failures after expiry = %d", n)
	}
}

func TestLockoutMaxObjects(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := NewLockout(LockoutConfig{Mode: LockoutEnforce, Threshold: 1, MaxObjects: 3, MaxLifetime: time.Hour})
	key := func(i int) LockoutKey { return LockoutKey{Peer: "10.0.0.1", User: fmt.Sprint("u", i)} }
	l.Failed(key(1), t0)
	l.Failed(key(2), t0)
	l.Failed(key(3), t0)
	// Touch u1 so u2 becomes the least recently accessed.
	if v := l.Check(key(1), t0); v != LockoutLocked {
		t.Fatalf("u1: %v", v)
	}
	l.Failed(key(4), t0)
	if l.Len() != 3 {
		t.Fatalf("Len = %d", l.Len())
	}
	for i, want := range map[int]LockoutVerdict{1: LockoutLocked, 2: LockoutAllowed, 3: LockoutLocked, 4: LockoutLocked} {
		if v := l.Check(key(i), t0); v != want {
			t.Errorf("u%d: %v, want %v", i, v, want)
		}
	}
	zero := NewLockout(LockoutConfig{Mode: LockoutEnforce, Threshold: 1, MaxObjects: 0, MaxLifetime: time.Hour})
	zero.Failed(key(1), t0)
	if zero.Len() != 0 {
		t.Fatal("max_objects 0 kept an entry")
	}
}

func TestLockoutNoPeer(t *testing.T) {
	l := NewLockout(LockoutConfig{Mode: LockoutEnforce, Threshold: 1, MaxObjects: 10, MaxLifetime: time.Hour})
	k := LockoutKey{User: "bob"}
	l.Failed(k, time.Unix(0, 0))
	if l.Len() != 0 || l.Check(k, time.Unix(0, 0)) != LockoutAllowed {
		t.Fatal("request without a peer was tracked")
	}
}

func TestLockoutConcurrent(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := NewLockout(LockoutConfig{Mode: LockoutEnforce, Threshold: 1000, MaxObjects: 50, MaxLifetime: time.Hour})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := LockoutKey{Peer: "192.0.2.9", User: fmt.Sprint("u", (g*7+i)%80)}
				l.Failed(k, t0)
				l.Check(k, t0)
			}
		}(g)
	}
	wg.Wait()
	if l.Len() > 50 {
		t.Fatalf("Len = %d > max_objects", l.Len())
	}
}

func TestPeerAddress(t *testing.T) {
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.9:5555", "", "203.0.113.9"},
		{"203.0.113.9:5555", "198.51.100.23", "203.0.113.9"}, // public peer: header ignored
		{"127.0.0.1:5555", "198.51.100.23, 203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:1", "a,b , c ", "c"},
		{"172.16.0.1:1", "x", "x"},
		{"172.32.0.1:1", "x", "172.32.0.1"},
		{"192.168.1.1:1", "", "192.168.1.1"},
		{"127.0.0.2:1", "x", "127.0.0.2"},
		{"[::1]:5984", "x", "::1"},
		{"[2001:DB8::1]:5984", "", "2001:db8::1"},
		{"[::ffff:10.0.0.1]:1", "x", "x"},
		{"garbage", "x", ""},
		{"", "", ""},
	} {
		if got := PeerAddress(tc.remote, tc.xff); got != tc.want {
			t.Errorf("PeerAddress(%q, %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
}
