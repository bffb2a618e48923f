package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMembershipJoinAndLeave(t *testing.T) {
	var ms []*Membership
	for i := range 3 {
		m, err := StartMembership(MembershipConfig{
			Meta:     Meta{Name: fmt.Sprintf("n%d@127.0.0.1", i), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 5000+i)},
			BindAddr: "127.0.0.1", Port: 0, Local: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	defer func() {
		for _, m := range ms[:2] {
			m.Leave(context.Background())
		}
	}()
	for _, m := range ms[1:] {
		if _, err := m.Join([]string{fmt.Sprintf("127.0.0.1:%d", ms[0].Port())}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return len(ms[0].Alive()) == 3 && len(ms[2].Alive()) == 3 })
	if meta, ok := ms[2].Lookup("n1@127.0.0.1"); !ok || meta.HTTPAddr != "127.0.0.1:5001" {
		t.Fatalf("lookup n1 from n2: %+v %v", meta, ok)
	}
	changed := ms[0].Changed()
	if err := ms[2].Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(ms[0].Alive()) == 2 })
	select {
	case <-changed:
	default:
		t.Fatal("Changed did not fire on leave")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
