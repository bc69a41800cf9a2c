package realsvc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisBinary is where Debian's redis-server package installs the server.
const RedisBinary = "/usr/bin/redis-server"

// StartRedis starts a redis-server on a free loopback port with persistence turned off and
// its own working directory, and returns it running; args are added to its command line
// (for example "--cluster-enabled", "yes"). Restart keeps the port but, with no
// persistence, loses every key: what a registrar wrote must be written again. Without the
// binary the test fails under make test and skips otherwise (see Missing).
func StartRedis(t testing.TB, args ...string) *Process {
	t.Helper()
	bin := RedisBinary
	if _, err := os.Stat(bin); err != nil {
		found, lerr := exec.LookPath("redis-server")
		if lerr != nil {
			Missing(t, "Redis", err)
			return nil
		}
		bin = found
	}
	port := FreePort(t)
	addr := HostPort(port)
	argv := []string{bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", t.TempDir(),
	}
	argv = append(argv, args...)
	p := NewProcess(t, "redis", addr, argv, nil, func(ctx context.Context) error {
		return redisPing(ctx, addr)
	})
	p.Start()
	return p
}

// redisPing sends PING over a raw connection and expects +PONG (a server still loading
// its data answers -LOADING instead).
func redisPing(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
