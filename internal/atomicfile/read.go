package atomicfile

import (
	"fmt"
	"io"
	"os"
)

// ReadRegular reads path if it is a regular file of at most limit bytes:
// a FIFO would block forever and a device (/dev/zero) never end. The
// checks are made on the opened file, and the limit is counted while
// reading, so a file that changes in between cannot get past them.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, st, err := openRegular(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Sized from the stat like os.ReadFile: one allocation unless the file
	// grows meanwhile (io.ReadAll grew and copied a 15 MB portal ~20
	// times, 0.2 s of a plan at XL).
	r := io.LimitReader(f, limit+1)
	b := make([]byte, 0, min(st.Size()+512, limit+1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MB", path, limit>>20)
	}
	return b, nil
}

// openRegular opens path for reading if it is a regular file of at most
// limit bytes.
func openRegular(path string, limit int64) (*os.File, os.FileInfo, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > limit {
		f.Close()
		return nil, nil, fmt.Errorf("%s is larger than %d MB", path, limit>>20)
	}
	return f, st, nil
}

// CopyRegular writes the content of path to w, with ReadRegular's checks,
// through a small buffer: hashing a file needs no copy of it in memory.
func CopyRegular(path string, limit int64, w io.Writer) error {
	f, _, err := openRegular(path, limit)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(f, limit+1), make([]byte, 256<<10))
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("%s is larger than %d MB", path, limit>>20)
	}
	return nil
}
