//go:build !unix

package atomicfile

import "os"

// processAlive cannot tell here: temp files are then removed by age only.
func processAlive(pid int) bool { return true }

// openNonBlocking opens path for reading.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
