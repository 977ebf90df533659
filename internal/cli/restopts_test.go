package cli

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestRESTProgressOnlyOnTerminal: waits are announced on a terminal's
// stderr, never into a log, and the limits come from the flags.
func TestRESTProgressOnlyOnTerminal(t *testing.T) {
	var buf strings.Builder
	c := New([]string{"version"}, Streams{Out: io.Discard, Err: &buf})
	c.global.restDeadline, c.global.restMaxResponse = 3*time.Second, 2
	if o := c.restOptions(); o.Progress != nil || o.Deadline != 3*time.Second || o.MaxResponse != 2<<20 {
		t.Fatalf("not a terminal: %+v", o)
	}
	c.streams.ErrIsTTY = true
	o := c.restOptions()
	if o.Progress == nil {
		t.Fatal("terminal: no progress")
	}
	o.Progress("crm.role.list: rate limited; waiting 3s")
	if !strings.Contains(buf.String(), "waiting 3s") {
		t.Fatalf("progress not printed: %q", buf.String())
	}
}
