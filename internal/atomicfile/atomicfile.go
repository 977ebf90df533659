// Package atomicfile replaces files so that readers, and the file after a
// crash or a kill, hold the old or the new content, never a mix. The
// portal, state and plan files are all written this way.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Write replaces path with data: a temp file in the same directory,
// fsync, rename, fsync of the directory. Missing directories are created.
// With backup, the previous content is kept at path+".backup". On error
// path is unchanged and no temp file is left.
func Write(path string, data []byte, backup bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	CleanStale(path)
	tmp, err := synced(dir, filepath.Base(path), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	if backup {
		if err := keep(path); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// TempPattern is the os.CreateTemp pattern of a temp file for base: it
// names the writing process, so that a later run can tell a temp file
// of a writer that died (kill -9, power loss) from one being written.
func TempPattern(base string) string {
	return fmt.Sprintf(".%s.tmp-p%d-*", base, os.Getpid())
}

// StaleAfter is the age after which a temp file is removed even if its
// writer's process ID is alive (it may be another process by now); no
// write takes this long.
const StaleAfter = time.Hour

// CleanStale removes the temp files a dead writer left next to path
// (TempPattern, and the ".backup.tmp" link of keep): those whose process
// no longer runs on this host, and any older than StaleAfter. Temp files
// of the old pattern without a process ID are removed after ten minutes.
// It never fails: it is housekeeping before a write.
func CleanStale(path string) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range entries {
		n := e.Name()
		full := filepath.Join(dir, n)
		var stale bool
		switch {
		case n == base+".backup.tmp":
			stale = olderThan(full, time.Minute)
		case strings.HasPrefix(n, prefix+"p"):
			pidStr, _, ok := strings.Cut(strings.TrimPrefix(n, prefix+"p"), "-")
			pid, err := strconv.Atoi(pidStr)
			stale = !ok || err != nil || !processAlive(pid) || olderThan(full, StaleAfter)
		case strings.HasPrefix(n, prefix):
			stale = olderThan(full, 10*time.Minute)
		}
		if stale && !e.IsDir() {
			os.Remove(full)
		}
	}
}

func olderThan(path string, d time.Duration) bool {
	st, err := os.Lstat(path)
	return err == nil && time.Since(st.ModTime()) > d
}

// synced writes data to a new temp file in dir and syncs it.
func synced(dir, base string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, TempPattern(base))
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	if cerr := f.Close(); werr != nil || serr != nil || cerr != nil {
		os.Remove(f.Name())
		return "", errors.Join(werr, serr, cerr)
	}
	return f.Name(), nil
}

// keep saves the current file at path+".backup": a hard link to the old
// inode (the rename that follows leaves it untouched), or a synced copy
// where links are not supported. A missing file has nothing to keep.
func keep(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	link := path + ".backup.tmp"
	os.Remove(link)
	if err := os.Link(path, link); err == nil {
		if err := os.Rename(link, path+".backup"); err != nil {
			os.Remove(link)
			return err
		}
		return nil
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Write(path+".backup", old, false)
}
