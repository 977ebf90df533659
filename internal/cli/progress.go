package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressTick is how often a long phase says it is still running, as
// Terraform's "Still reading… [10s elapsed]".
const progressTick = 10 * time.Second

// progressEnv shortens the tick for tests ("1ms"); each tick then counts
// as progressTick on a fake clock, so the elapsed times printed are
// deterministic ([00m10s], [00m20s] …), and every phase lasts at least
// one tick. Read only here, in internal/cli.
const progressEnv = "B24PERM_PROGRESS_TICK"

// reporter prints the progress of long phases (compile, read, diff,
// access delta, render, apply) on stderr. It is silent unless stderr is a
// terminal or --progress asks for it, so piped and CI output stays clean.
type reporter struct {
	mu   *sync.Mutex
	w    io.Writer
	on   bool
	tick time.Duration
	fake bool
}

// reporter returns the progress reporter of a run; forced is --progress.
func (c *Command) reporter(w io.Writer, forced bool) *reporter {
	r := &reporter{mu: &sync.Mutex{}, w: w, on: forced || c.streams.ErrIsTTY, tick: progressTick}
	if v := c.streams.Getenv(progressEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			r.tick, r.fake = d, true
		}
	}
	return r
}

func (r *reporter) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, format, args...)
}

func elapsedText(e time.Duration) string {
	e = e.Round(time.Second)
	return fmt.Sprintf("%02dm%02ds", int(e.Minutes()), int(e.Seconds())%60)
}

// phase starts a quiet phase: nothing is printed unless it runs longer
// than a tick; then "Still <still()>… [00m10s elapsed]" every tick and
// "<done> after 12.3s." at the end. still is asked at every tick, so an
// engine callback can say which step the phase is in.
func (r *reporter) phase(still func() string, done string) func() {
	if r == nil || !r.on {
		return func() {}
	}
	begin := time.Now()
	stop, finished, first := make(chan struct{}), make(chan struct{}), make(chan struct{})
	printed := false
	go func() {
		defer close(finished)
		t := time.NewTicker(r.tick)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-t.C:
				e := time.Since(begin)
				if r.fake {
					e = time.Duration(n) * progressTick
				}
				r.printf("Still %s… [%s elapsed]\n", still(), elapsedText(e))
				if !printed {
					close(first)
				}
				printed = true
			}
		}
	}()
	return func() {
		if r.fake {
			// On the fake clock every phase lasts at least one tick, so
			// that tests see each phase's line whatever the machine's speed.
			<-first
		}
		close(stop)
		<-finished
		if printed {
			r.printf("%s after %.1fs.\n", done, time.Since(begin).Seconds())
		}
	}
}

// announced starts a phase that is announced at once ("Reading live
// portal (…)…") and ends with "done in"/"failed after", with "Still …"
// lines in between; ticks false leaves those to an enclosing phase.
func (r *reporter) announced(w io.Writer, what, still string, ticks bool) func(error) {
	if r == nil || !r.on {
		return func(error) {}
	}
	begin := time.Now()
	fmt.Fprintf(w, "%s…\n", what)
	stop := func() {}
	if ticks {
		stop = r.phase(func() string { return still }, what+": still running")
	}
	return func(err error) {
		stop()
		if err != nil {
			fmt.Fprintf(w, "%s: failed after %.1fs\n", what, time.Since(begin).Seconds())
			return
		}
		fmt.Fprintf(w, "%s: done in %.1fs\n", what, time.Since(begin).Seconds())
	}
}

// step holds the current step of a phase, set by an engine callback and
// read by the ticker.
type step struct {
	mu   sync.Mutex
	name string
}

func (s *step) set(name string) {
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
}

// text is base, with the current step in parentheses when there is one.
func (s *step) text(base string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.name == "" {
		return base
	}
	return base + " (" + s.name + ")"
}
