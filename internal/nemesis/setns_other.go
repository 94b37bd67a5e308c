//go:build !linux || (!amd64 && !arm64)

package nemesis

// sysSetns is unknown here: dialing into the clients' namespace fails
// with ENOSYS, and the nemesis cannot run.
const sysSetns = ^uintptr(0)
