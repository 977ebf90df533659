package atomicfile

import (
	"fmt"
	"io"
)

// ReadRegular reads path if it is a regular file of at most limit bytes:
// a FIFO would block forever and a device (/dev/zero) never end. The
// checks are made on the opened file, and the limit is counted while
// reading, so a file that changes in between cannot get past them.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d MB", path, limit>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MB", path, limit>>20)
	}
	return b, nil
}
