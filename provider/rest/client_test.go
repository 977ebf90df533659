package rest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/b24perm/b24perm/provider/rest"
)

// okServer answers every call with an empty result and records when.
func okServer(t *testing.T) (*httptest.Server, func() []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"result":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []time.Time { mu.Lock(); defer mu.Unlock(); return append([]time.Time(nil), at...) }
}

// The client's bucket lets Burst calls through at once, then RPS a second.
func TestRateAndBurst(t *testing.T) {
	srv, times := okServer(t)
	c, err := rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 10, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 3 + 10 {
		if _, err := c.Call(context.Background(), "user.get", nil, true); err != nil {
			t.Fatal(err)
		}
	}
	at := times()
	if len(at) != 13 {
		t.Fatalf("%d requests, want 13", len(at))
	}
	// Without the burst the third call would wait 200 ms.
	if d := at[2].Sub(start); d > 150*time.Millisecond {
		t.Errorf("the burst of 3 took %v, want immediate", d)
	}
	// 10 calls beyond the burst at 10/s: one second at least.
	if d := at[12].Sub(start); d < 950*time.Millisecond || d > 3*time.Second {
		t.Errorf("13 calls at 10/s burst 3 took %v, want about 1s", d)
	}
}
