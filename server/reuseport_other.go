//go:build !linux

package server

// soReusePort is SO_REUSEPORT on the BSDs and macOS.
const soReusePort = 0x200
