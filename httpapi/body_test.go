package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAdmitBody: large bodies share the in-flight budget, a request over
// it waits until another ends (or its context does), and small bodies and
// second reads of one request never wait.
func TestAdmitBody(t *testing.T) {
	a, _ := newTestAPI(t, func(c *Config) { c.MaxInflightBodyBytes = 200 << 10 })
	newReq := func(ctx context.Context) *request {
		rq := &request{}
		rq.reset(a, httptest.NewRecorder(), httptest.NewRequest("POST", "/db/_bulk_docs", nil).WithContext(ctx))
		return rq
	}
	first := newReq(context.Background())
	if err := first.admitBody(150 << 10); err != nil {
		t.Fatal(err)
	}
	if err := first.admitBody(150 << 10); err != nil { // already admitted
		t.Fatalf("second admission of one request: %v", err)
	}
	if err := newReq(context.Background()).admitBody(10 << 10); err != nil { // small: never waits
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := newReq(ctx).admitBody(100 << 10); err == nil {
		t.Fatal("a body over the budget was admitted while another held it")
	}
	second := newReq(context.Background())
	admitted := make(chan error, 1)
	go func() { admitted <- second.admitBody(1 << 30) }() // clamped to the whole budget
	select {
	case err := <-admitted:
		t.Fatalf("admitted before the first request ended: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	a.putRequest(first)
	if err := <-admitted; err != nil {
		t.Fatal(err)
	}
	a.putRequest(second)
}
