package fs

// SetWriteback sets writebackEvery (0: off) and returns a function that restores it.
func SetWriteback(n int64) (restore func()) {
	old := writebackEvery
	writebackEvery = n
	return func() { writebackEvery = old }
}
