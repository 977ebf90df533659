// Package cputime reads the process's CPU time for benchmarks, which
// report it next to wall time because the machines they run on are
// shared, where wall time says little.
package cputime

import "time"

// Process is the process's user+system CPU time so far; 0 where the
// platform does not say.
func Process() time.Duration { return process() }
