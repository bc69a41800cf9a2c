//go:build !linux

package mdns_test

import "errors"

var netnsErr = errors.New("the tests make their own network namespace on Linux only")

func runInOwnNetns() (int, bool) { return 0, false }

func setLinkFlags(string, uint16, uint16) error { return netnsErr }

func inOwnNetns() bool { return false }
