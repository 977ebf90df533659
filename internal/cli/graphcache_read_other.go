//go:build !linux

package cli

import "os"

// readCacheEntry reads the cache entry (Linux maps it instead).
func readCacheEntry(path string) ([]byte, error) { return os.ReadFile(path) }
