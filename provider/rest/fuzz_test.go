package rest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzResponseDecoding: any answer from a portal (or a proxy in front of
// it) gives a result or an error, never a panic, and never the token.
func FuzzResponseDecoding(f *testing.F) {
	f.Add(200, []byte(`{"result": [{"ID": "1"}], "total": 1, "time": {"start": 1}}`))
	f.Add(503, []byte(`{"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}`))
	f.Add(200, []byte(`{"result": {"result": {"a": 1}, "result_error": {"b": {"error": "X"}}}}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Add(200, []byte(`{"result": [`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write(body)
		}))
		defer srv.Close()
		c, err := New(srv.URL+"/rest/1/sekrettoken/", Options{RPS: 1e6, Burst: 1e6, Retries: 1, Backoff: time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		c.opts.HTTP = srv.Client()
		// An answer may ask the client to wait (operating limit until a
		// far reset): it must give up when its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err = c.Call(ctx, "user.get", nil, true)
		if err != nil && contains(err.Error(), "sekrettoken") {
			t.Fatalf("token leaked: %v", err)
		}
		c.Batch(ctx, []Cmd{{Key: "a", Method: "user.get"}}, true)
	})
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
