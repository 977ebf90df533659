// Package ghapi is the small part of the GitHub REST API that b24perm's CI
// integration uses: one PR comment found by a hidden marker and updated in
// place, and labels. Requests are retried on 5xx/429 with backoff; the
// token never appears in errors.
package ghapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one repository.
type Client struct {
	BaseURL string // e.g. https://api.github.com
	Token   string
	Repo    string // owner/name
	HTTP    *http.Client
	// Sleep is time.Sleep; tests replace it.
	Sleep func(time.Duration)
}

// Comment is an issue comment.
type Comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	var last error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			sleep(time.Duration(1<<attempt) * 500 * time.Millisecond)
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("User-Agent", "b24perm")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = fmt.Errorf("%s %s: %v", method, path, c.redact(err.Error()))
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if resp.StatusCode >= 500 || resp.StatusCode == 429 {
			last = fmt.Errorf("%s %s: GitHub answered %s", method, path, resp.Status)
			continue
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: GitHub answered %s: %s", method, path, resp.Status, c.redact(strings.TrimSpace(string(b))))
		}
		if out != nil && len(b) > 0 {
			return json.Unmarshal(b, out)
		}
		return nil
	}
	return last
}

func (c *Client) redact(s string) string {
	if c.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.Token, "****")
}

// FindComment returns the first comment of issue n containing marker.
func (c *Client) FindComment(ctx context.Context, n int, marker string) (*Comment, error) {
	for page := 1; page <= 20; page++ {
		var cs []Comment
		if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/issues/%d/comments?per_page=100&page=%d", c.Repo, n, page), nil, &cs); err != nil {
			return nil, err
		}
		for i := range cs {
			if strings.Contains(cs[i].Body, marker) {
				return &cs[i], nil
			}
		}
		if len(cs) < 100 {
			return nil, nil
		}
	}
	return nil, nil
}

// UpsertComment updates the comment holding marker, or creates one.
func (c *Client) UpsertComment(ctx context.Context, n int, marker, body string) (created bool, err error) {
	existing, err := c.FindComment(ctx, n, marker)
	if err != nil {
		return false, err
	}
	if existing != nil {
		return false, c.do(ctx, "PATCH", fmt.Sprintf("/repos/%s/issues/comments/%d", c.Repo, existing.ID), map[string]string{"body": body}, nil)
	}
	return true, c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", c.Repo, n), map[string]string{"body": body}, nil)
}

// SetLabels adds want and removes the other labels of the managed set.
func (c *Client) SetLabels(ctx context.Context, n int, managed, want []string) error {
	var current []struct {
		Name string `json:"name"`
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("/repos/%s/issues/%d/labels", c.Repo, n), nil, &current); err != nil {
		return err
	}
	has := map[string]bool{}
	for _, l := range current {
		has[l.Name] = true
	}
	var add []string
	for _, l := range want {
		if !has[l] {
			add = append(add, l)
		}
	}
	if len(add) > 0 {
		if err := c.do(ctx, "POST", fmt.Sprintf("/repos/%s/issues/%d/labels", c.Repo, n), map[string][]string{"labels": add}, nil); err != nil {
			return err
		}
	}
	for _, l := range managed {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == l
		}
		if has[l] && !wanted {
			if err := c.do(ctx, "DELETE", fmt.Sprintf("/repos/%s/issues/%d/labels/%s", c.Repo, n, url.PathEscape(l)), nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
