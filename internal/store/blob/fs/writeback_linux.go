package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing a range of f to disk without waiting
// (sync_file_range WRITE). It is a hint for speed: durability still comes
// from the fsync, so a failure is ignored.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
