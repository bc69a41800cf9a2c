//go:build linux

package mdns_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"unsafe"
)

// netnsEnv marks the test process that runs in its own network namespace.
const netnsEnv = "BRISK_MDNS_TEST_NETNS"

// netnsErr says why the tests could not get a loopback interface with multicast.
var netnsErr error

// runInOwnNetns runs the test binary again in a new network namespace whose loopback
// interface is up and multicast-capable, so that the tests need no setup, send nothing to
// the host's networks and see no other mDNS traffic. It needs root (CAP_SYS_ADMIN); without
// it the tests run here and skip unless lo is multicast-capable already. ran reports
// whether the tests ran in the child, and code is its exit status.
func runInOwnNetns() (code int, ran bool) {
	if os.Getenv(netnsEnv) != "" {
		// The child: bring lo up with multicast (a new namespace's lo is down).
		netnsErr = setLinkFlags("lo", syscall.IFF_UP|syscall.IFF_MULTICAST, 0)
		return 0, false
	}
	if os.Geteuid() != 0 {
		netnsErr = errors.New("not root, so the tests cannot run in their own network namespace")
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		netnsErr = err
		return 0, false
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		netnsErr = fmt.Errorf("creating a network namespace: %w", err)
		return 0, false
	}
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			return exit.ExitCode(), true
		}
		fmt.Fprintln(os.Stderr, "mdns tests: child in network namespace:", err)
		return 1, true
	}
	return 0, true
}

// setLinkFlags sets then clears flags of the named interface (SIOCSIFFLAGS, as
// "ip link set" does), without needing the ip command.
func setLinkFlags(name string, set, clear uint16) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var req struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [24]byte
	}
	copy(req.name[:], name)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return fmt.Errorf("reading the flags of %s: %w", name, e)
	}
	req.flags = req.flags | set&^clear
	req.flags &^= clear
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return fmt.Errorf("setting the flags of %s: %w", name, e)
	}
	return nil
}

// inOwnNetns reports whether the tests run in the namespace runInOwnNetns made, where they
// may change lo's flags.
func inOwnNetns() bool { return os.Getenv(netnsEnv) != "" && netnsErr == nil }
