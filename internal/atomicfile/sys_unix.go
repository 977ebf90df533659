//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"syscall"
)

// processAlive reports whether a process with pid runs on this host
// (EPERM: it runs, as another user).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// openNonBlocking opens path for reading without blocking on a FIFO that
// has no writer.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
