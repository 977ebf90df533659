// Package atomicfile replaces files so that readers, and the file after a
// crash or a kill, hold the old or the new content, never a mix. The
// portal, state and plan files are all written this way.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// synced writes data to a new temp file in dir and syncs it.
func synced(dir, base string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
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
		return os.Rename(link, path+".backup")
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return Write(path+".backup", old, false)
}
