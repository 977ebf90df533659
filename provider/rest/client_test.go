package rest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
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

// bigServer streams a JSON answer of n bytes, announced (Content-Length)
// or not (chunked), and counts the requests.
func bigServer(t *testing.T, n int, announce bool, calls *int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		head, tail := `{"result":"`, `"}`
		if announce {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write([]byte(head))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for left := n - len(head) - len(tail); left > 0; left -= len(chunk) {
			if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
				return // the client hung up
			}
		}
		w.Write([]byte(tail))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A 70 MB answer is refused with an error naming the method and the
// limit, after reading at most the limit, and is not retried.
func TestResponseTooLarge(t *testing.T) {
	for _, announce := range []bool{false, true} {
		t.Run(map[bool]string{false: "streamed", true: "announced"}[announce], func(t *testing.T) {
			calls := 0
			srv := bigServer(t, 70_000_000, announce, &calls)
			c, err := rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = c.Call(context.Background(), "user.get", nil, true)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, rest.ErrResponseTooLarge) {
				t.Fatalf("err = %v, want ErrResponseTooLarge", err)
			}
			for _, want := range []string{"user.get", "32 MiB"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if calls != 1 {
				t.Errorf("%d requests, want 1 (a too large answer is not retried)", calls)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100<<20 {
				t.Errorf("refusing the answer allocated %d MiB, want under 100", alloc>>20)
			}
		})
	}
	// Under the limit, the same answer is read.
	calls := 0
	srv := bigServer(t, 1<<20, false, &calls)
	c, _ := rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, MaxResponse: 2 << 20})
	r, err := c.Call(context.Background(), "user.get", nil, true)
	if err != nil || len(r.Result) != 1<<20-len(`{"result":}`) {
		t.Fatalf("1 MiB answer under a 2 MiB limit: %v", err)
	}
}

// limitServer answers OPERATION_TIME_LIMIT with a reset `after` away on
// the first call, then succeeds.
func limitServer(t *testing.T, after time.Duration) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"OPERATION_TIME_LIMIT","error_description":"Method is blocked due to operation time limit.","time":{"operating_reset_at":` + strconv.FormatInt(time.Now().Add(after).Unix(), 10) + `}}`))
			return
		}
		w.Write([]byte(`{"result":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A reset beyond the overall deadline fails at once with a clear error;
// a reset within it is waited for and announced.
func TestOverallDeadline(t *testing.T) {
	srv := limitServer(t, 5*time.Minute)
	c, _ := rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, Deadline: time.Minute})
	start := time.Now()
	_, err := c.Call(context.Background(), "crm.item.list", nil, true)
	if err == nil || !strings.Contains(err.Error(), "crm.item.list") || !strings.Contains(err.Error(), "overall deadline of 1m0s") {
		t.Fatalf("err = %v, want the overall deadline named", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %v, want at once", d)
	}

	var msgs []string
	srv = limitServer(t, time.Second)
	c, _ = rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, Progress: func(m string) { msgs = append(msgs, m) }})
	if _, err := c.Call(context.Background(), "crm.item.list", nil, true); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0], "crm.item.list") || !strings.Contains(msgs[0], "OPERATION_TIME_LIMIT") || !strings.Contains(msgs[0], "waiting") {
		t.Errorf("progress = %q, want one announced wait", msgs)
	}

	// A call still running at the deadline ends with the same error.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	c, _ = rest.New(slow.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, Deadline: 200 * time.Millisecond})
	if _, err := c.Call(context.Background(), "user.get", nil, true); err == nil || !strings.Contains(err.Error(), "overall deadline") {
		t.Errorf("slow portal: err = %v, want the overall deadline named", err)
	}
}

// A portal that answers at once but trickles its body (a byte every 50
// ms, which no per-read timeout notices) is given up on at the overall
// deadline, naming it (issue 16 #15: 13 minutes in silence before).
func TestOverallDeadlineTrickle(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"result":[`))
		w.(http.Flusher).Flush()
		for i := 0; i < 200; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			w.Write([]byte(" "))
			w.(http.Flusher).Flush()
		}
		w.Write([]byte(`]}`))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	c, _ := rest.New(srv.URL+"/rest/1/tok/", rest.Options{RPS: 1e6, Burst: 1e6, Deadline: 500 * time.Millisecond})
	start := time.Now()
	_, err := c.Call(context.Background(), "user.get", nil, true)
	if err == nil || !strings.Contains(err.Error(), "overall deadline of 500ms") || !strings.Contains(err.Error(), "user.get") {
		t.Fatalf("err = %v, want the overall deadline named", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("giving up took %v, want about the deadline", d)
	}
}
