package compiler

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileError is ReadPolicyFile's refusal of a file: Summary is the
// diagnostic's title ("Not a regular file", "File too large").
type FileError struct{ Summary, Detail string }

func (e *FileError) Error() string { return e.Detail }

func refuse(format string, args ...any) error {
	return &FileError{Summary: "Not a regular file", Detail: fmt.Sprintf(format, args...)}
}

// ReadPolicyFile reads one policy file of the directory dir: only a
// regular file (a FIFO would block forever, /dev/zero would never end), at
// most MaxFileSize bytes, and a symbolic link only when it stays inside
// dir (a link to a file elsewhere would show that file's lines in the
// diagnostics). The checks are made on the opened file, so a file swapped
// between the check and the read cannot get past them.
func ReadPolicyFile(dir, path string) ([]byte, error) {
	var b []byte
	_, err := readPolicyFile(dir, path, func(f *os.File, size int64) (int64, error) {
		// Sized by the stat (io.ReadAll would grow and copy its buffer
		// some thirty times for a large policy file); a file that grew
		// since is still read whole, up to the limit.
		buf := bytes.NewBuffer(make([]byte, 0, size+512))
		n, err := buf.ReadFrom(io.LimitReader(f, MaxFileSize+1))
		b = buf.Bytes()
		return n, err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// readPolicyFile opens a policy file with ReadPolicyFile's checks and
// reads it with read (given the file's size by its stat), which returns
// how many bytes it read; more than MaxFileSize is an error.
func readPolicyFile(dir, path string, read func(f *os.File, size int64) (int64, error)) (int64, error) {
	li, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	if li.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return 0, err // a dangling link: "no such file or directory"
		}
		realDir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return 0, err
		}
		if rel, err := filepath.Rel(realDir, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			return 0, refuse("%s is a symbolic link to %s, outside the policy directory; copy the file into the directory instead", filepath.Base(path), target)
		}
	}
	f, err := openNonBlocking(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, refuse("%s is %s; policy files must be regular files", filepath.Base(path), fileKind(st.Mode()))
	}
	if st.Size() > MaxFileSize {
		return 0, tooLarge(path)
	}
	n, err := read(f, st.Size())
	if err != nil {
		return 0, err
	}
	if n > MaxFileSize {
		return 0, tooLarge(path)
	}
	return n, nil
}

func tooLarge(path string) error {
	return &FileError{Summary: "File too large", Detail: fmt.Sprintf("%s is larger than %d MB; a policy file may be at most %d MB (split it into several files)",
		filepath.Base(path), MaxFileSize>>20, MaxFileSize>>20)}
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file (" + m.Type().String() + ")"
}
