//go:build unix

package local

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A portal path that is a device is an error, not a read that never ends.
func TestReadRefusesNonRegularFiles(t *testing.T) {
	done := make(chan error, 1)
	go func() { _, err := New("/dev/zero").Read(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
	}
	if _, err := LoadTables("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadTables(/dev/zero): %v", err)
	}
}
