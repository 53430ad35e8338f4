//go:build unix

package intake

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of the process so far; on a
// shared machine it measures the work of a benchmark where wall-clock time
// measures the neighbours too.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
