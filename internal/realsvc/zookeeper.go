package realsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ZooKeeperJar is the server jar Debian's zookeeper package installs; its manifest lists
// the jars it needs (all in /usr/share/java), so it is the whole class path.
const ZooKeeperJar = "/usr/share/java/zookeeper.jar"

// ZooKeeperTick is the tickTime of the servers ZooKeeper starts. Session timeouts are
// bounded by 2 and 20 ticks by default; the config below allows 2 ticks (400 ms) up to
// 60 s, so tests can let a session expire quickly.
const ZooKeeperTick = 200 * time.Millisecond

// ZooKeeper starts a standalone ZooKeeper server on a free loopback port, with its data in
// a temporary directory, and returns it running. Restart reuses the port and the data
// directory, so persistent nodes (and sessions that reconnect in time) survive it. It
// skips the test (fails it under make test) when java or the jar is missing.
func ZooKeeper(t testing.TB) *Process {
	t.Helper()
	java, err := exec.LookPath("java")
	if err == nil {
		_, err = os.Stat(ZooKeeperJar)
	}
	if err != nil {
		Missing(t, "ZooKeeper", err)
	}
	dir := t.TempDir()
	port := FreePort(t)
	addr := HostPort(port)
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
minSessionTimeout=%d
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
forceSync=no
preAllocSize=1024
`, ZooKeeperTick.Milliseconds(), filepath.Join(dir, "data"), port, 2*ZooKeeperTick.Milliseconds())
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatalf("realsvc: %v", err)
	}
	argv := []string{java,
		"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", ZooKeeperJar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath}
	p := NewProcess(t, "zookeeper", addr, argv, nil, func(ctx context.Context) error {
		return zooKeeperServing(ctx, addr)
	})
	p.Start()
	return p
}

// zooKeeperServing asks the server for its status with the srvr four-letter word; a
// server that runs but does not serve yet answers without a Mode line.
func zooKeeperServing(ctx context.Context, addr string) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.Contains(string(out), "Mode: ") {
		return errors.New("not serving yet: " + strings.TrimSpace(string(out)))
	}
	return nil
}
