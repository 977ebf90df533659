package ghapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted answers each request with the next of its responses; the last
// one repeats.
type scripted struct {
	mu    sync.Mutex
	steps []func(w http.ResponseWriter)
	calls int
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.calls, len(s.steps)-1)
	s.calls++
	s.steps[i](w)
}

func answer(code int, headers map[string]string, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

var okComments = answer(200, nil, `[{"id": 5, "body": "<!-- m --> hi"}]`)

func TestRateLimitAndForbidden(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	reset := strconv.FormatInt(now.Unix()+30, 10)
	for _, tc := range []struct {
		name    string
		steps   []func(http.ResponseWriter)
		maxWait time.Duration
		calls   int
		sleeps  []time.Duration
		wantErr error
		errText string
	}{
		{name: "secondary limit with Retry-After",
			steps: []func(http.ResponseWriter){answer(403, map[string]string{"Retry-After": "7"}, `{"message":"You have exceeded a secondary rate limit"}`), okComments},
			calls: 2, sleeps: []time.Duration{7 * time.Second}},
		{name: "429 with Retry-After",
			steps: []func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "3"}, ``), okComments},
			calls: 2, sleeps: []time.Duration{3 * time.Second}},
		{name: "primary limit waits for x-ratelimit-reset",
			steps: []func(http.ResponseWriter){answer(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, `{"message":"API rate limit exceeded"}`), okComments},
			calls: 2, sleeps: []time.Duration{31 * time.Second}},
		{name: "secondary limit without headers backs off",
			steps: []func(http.ResponseWriter){answer(403, nil, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes"}`), okComments},
			calls: 2, sleeps: []time.Duration{time.Second}},
		{name: "bounded retries",
			steps: []func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "1"}, ``)},
			calls: 5, sleeps: []time.Duration{time.Second, time.Second, time.Second, time.Second}, wantErr: ErrRateLimited},
		{name: "bounded total wait",
			steps:   []func(http.ResponseWriter){answer(403, map[string]string{"Retry-After": "3600"}, `{"message":"secondary rate limit"}`)},
			maxWait: time.Minute, calls: 1, wantErr: ErrRateLimited, errText: "exceed the 1m0s budget"},
		{name: "fork pull request: read-only token",
			steps: []func(http.ResponseWriter){answer(403, nil, `{"message":"Resource not accessible by integration"}`)},
			calls: 1, wantErr: ErrReadOnlyToken, errText: "fork"},
		{name: "5xx retried",
			steps: []func(http.ResponseWriter){answer(502, nil, ``), okComments},
			calls: 2, sleeps: []time.Duration{time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{steps: tc.steps}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var sleeps []time.Duration
			c := &Client{BaseURL: srv.URL, Token: "ghs_tok", Repo: "a/b", MaxWait: tc.maxWait,
				Sleep: func(d time.Duration) { sleeps = append(sleeps, d) }, Now: func() time.Time { return now }}
			got, err := c.FindComment(context.Background(), 1, "<!-- m -->")
			if s.calls != tc.calls {
				t.Errorf("calls = %d, want %d", s.calls, tc.calls)
			}
			if len(sleeps) != len(tc.sleeps) {
				t.Fatalf("sleeps = %v, want %v", sleeps, tc.sleeps)
			}
			for i := range sleeps {
				if sleeps[i] != tc.sleeps[i] {
					t.Errorf("sleeps = %v, want %v", sleeps, tc.sleeps)
				}
			}
			if tc.wantErr == nil {
				if err != nil || got == nil || got.ID != 5 {
					t.Fatalf("got %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) || strings.Contains(err.Error(), "ghs_tok") {
				t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.errText)
			}
		})
	}
}
