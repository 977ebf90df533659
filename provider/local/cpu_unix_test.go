//go:build unix

package local

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time: benchmarks report it
// per op because the machines they run on are shared, where wall time
// says little.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
