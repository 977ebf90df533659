//go:build !unix

package bitrix

import "time"

func cpuTime() time.Duration { return 0 }
