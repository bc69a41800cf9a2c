// Package realsvc starts real registry servers (ZooKeeper, Redis) for tests, from the
// binaries Debian's packages install (scripts/services.sh install installs them), each on
// a free loopback port with its own data directory, so a test can stop and restart it.
//
// Under make test (BRISK_REQUIRE_SERVICES=1) a missing binary fails the test; under plain
// go test it skips with a message naming the command that installs it.
package realsvc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing service into a failure.
const RequireEnv = "BRISK_REQUIRE_SERVICES"

// InstallHint is the command that installs every service the tests need.
const InstallHint = "scripts/services.sh install (make test runs it)"

// Missing reports that what is not available: t fails under make test and skips otherwise.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available (%v); install it with %s", what, err, InstallHint)
	if os.Getenv(RequireEnv) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("realsvc: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a server process a test started. Stop and Start may be called any number of
// times; the process is stopped when the test ends.
type Process struct {
	t     testing.TB
	name  string
	argv  []string
	env   []string
	addr  string // host:port it serves on
	ready func(ctx context.Context) error

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
}

// NewProcess describes a server: argv runs it, addr is where it listens, ready tells
// whether it serves (polled until it does, for up to 60 s). Call Start to run it.
func NewProcess(t testing.TB, name, addr string, argv, env []string, ready func(ctx context.Context) error) *Process {
	p := &Process{t: t, name: name, argv: argv, env: env, addr: addr, ready: ready}
	t.Cleanup(p.Stop)
	return p
}

// Addr returns host:port.
func (p *Process) Addr() string { return p.addr }

// Start runs the server and waits until it is ready; it fails the test if it never is.
func (p *Process) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	out, err := os.CreateTemp(p.t.TempDir(), p.name+"-*.log")
	if err != nil {
		p.t.Fatalf("realsvc: %v", err)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		p.t.Fatalf("realsvc: starting %s: %v", p.name, err)
	}
	p.cmd, p.out = cmd, out
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var lastErr error
	for wait := 10 * time.Millisecond; ctx.Err() == nil; wait = min(2*wait, 200*time.Millisecond) {
		if lastErr = p.ready(ctx); lastErr == nil {
			return
		}
		time.Sleep(wait) // polling a child process for readiness; nothing to wait on instead
	}
	log, _ := os.ReadFile(out.Name())
	p.stopLocked()
	p.t.Fatalf("realsvc: %s did not become ready on %s: %v\n%s", p.name, p.addr, lastErr, log)
}

// Stop kills the server (SIGKILL: a crash, as far as clients can tell) and waits for it to
// exit and for its port to close.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

func (p *Process) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.out.Close()
	p.cmd = nil
	// The port is released when the process is gone; make sure before a restart rebinds.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", p.addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart stops and starts the server on the same port.
func (p *Process) Restart() {
	p.t.Helper()
	p.Stop()
	p.Start()
}

// HostPort joins 127.0.0.1 and port.
func HostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
