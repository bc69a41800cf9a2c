// Package embedded runs a single-node etcd server inside the current process, for tests,
// demos and tools that need a registry without installing one. It uses etcd's own server
// (go.etcd.io/etcd/server/v3/embed), so clients talk to it exactly as to a real cluster.
//
// Each Server is independent: any number can run in one process, each with its own data
// directory and ports. Stopping a Server with Close and starting it again with the same
// Config (see [Server.Config]) restarts it on the same data and ports, as a restart of a
// real etcd would.
//
// Example:
//
//	srv, err := embedded.Start(ctx, embedded.Config{Dir: dir})
//	if err != nil { ... }
//	defer srv.Close()
//	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints()})
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config says where a Server keeps its data and listens.
type Config struct {
	// Dir is the data directory, created if missing. Empty means a new temporary
	// directory, deleted by Close.
	Dir string
	// ClientAddr is the host:port clients connect to (default "127.0.0.1:0"). The host must
	// be an IP address or "localhost"; port 0 picks a free port.
	ClientAddr string
	// PeerAddr is the host:port of etcd's peer (raft) listener, which a single node needs
	// but nobody dials (default: the client host, port 0, which picks a free port).
	PeerAddr string
	// Name is the member's name (default "brisk").
	Name string
	// UnsafeNoFsync skips fsync: faster, but a machine crash may lose or corrupt the data.
	// Fine for tests and demos.
	UnsafeNoFsync bool
	// Logger receives etcd's log. Nil discards it.
	Logger *zap.Logger
}

// Server is a running single-node etcd.
type Server struct {
	etcd    *embed.Etcd
	cfg     Config // as started, ports resolved
	tempDir string // removed by Close
	once    sync.Once
}

// Start starts a single-node etcd and returns once it serves clients. ctx bounds the wait
// for it to be ready (opening the data directory is not interruptible). Close it when done.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = "127.0.0.1:0"
	}
	clientHost, clientPort, err := splitAddr("ClientAddr", cfg.ClientAddr)
	if err != nil {
		return nil, err
	}
	if cfg.PeerAddr == "" {
		cfg.PeerAddr = net.JoinHostPort(clientHost, "0")
	}
	peerHost, peerPort, err := splitAddr("PeerAddr", cfg.PeerAddr)
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "brisk"
	}
	s := &Server{}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "brisk-etcd-")
		if err != nil {
			return nil, fmt.Errorf("embedded etcd: %w", err)
		}
		s.tempDir = dir
	}

	// A port picked here may be taken by someone else before etcd binds it: try again
	// with new ones.
	const attempts = 5
	for i := 0; ; i++ {
		run := cfg
		if clientPort == 0 {
			if run.ClientAddr, err = freeAddr(clientHost); err != nil {
				break
			}
		}
		if peerPort == 0 {
			if run.PeerAddr, err = freeAddr(peerHost); err != nil {
				break
			}
		}
		dir := run.Dir
		if dir == "" {
			dir = s.tempDir
		}
		var e *embed.Etcd
		e, err = start(ctx, run, dir)
		if err == nil {
			s.etcd, s.cfg = e, run
			return s, nil
		}
		// Only a port picked here is worth picking again.
		picked := (clientPort == 0 && strings.Contains(err.Error(), run.ClientAddr)) ||
			(peerPort == 0 && strings.Contains(err.Error(), run.PeerAddr))
		if i+1 == attempts || !errors.Is(err, syscall.EADDRINUSE) || !picked {
			break
		}
	}
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
	return nil, err
}

// start runs one etcd with every address resolved and waits for it to be ready.
func start(ctx context.Context, cfg Config, dir string) (*embed.Etcd, error) {
	clientURL := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	peerURL := url.URL{Scheme: "http", Host: cfg.PeerAddr}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = dir
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	ec.ListenPeerUrls = []url.URL{peerURL}
	ec.AdvertisePeerUrls = []url.URL{peerURL}
	ec.InitialCluster = cfg.Name + "=" + peerURL.String()
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	ec.EnableGRPCGateway = false
	// A single node has no peers to wait for: a short election timeout makes it leader
	// (and the server ready) within about 100 ms instead of a second.
	ec.TickMs, ec.ElectionMs = 10, 100
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: starting in %s on %s: %w", dir, cfg.ClientAddr, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-e.Server.StopNotify():
		e.Close()
		return nil, errors.New("embedded etcd: the server stopped while starting")
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: starting: %w", ctx.Err())
	}
}

// splitAddr parses host:port.
func splitAddr(field, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("embedded etcd: %s %q: %w", field, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embedded etcd: %s %q: bad port", field, addr)
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("embedded etcd: %s %q: the host must be an IP address or localhost", field, addr)
	}
	return host, port, nil
}

// freeAddr returns host with a TCP port that was free a moment ago.
func freeAddr(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("embedded etcd: finding a free port on %s: %w", host, err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return net.JoinHostPort(host, port), nil
}

// Endpoints returns the URLs clients connect to, for clientv3.Config.Endpoints.
func (s *Server) Endpoints() []string {
	return []string{(&url.URL{Scheme: "http", Host: s.cfg.ClientAddr}).String()}
}

// ClientAddr returns the host:port clients connect to.
func (s *Server) ClientAddr() string { return s.cfg.ClientAddr }

// Config returns the configuration the server runs with, its ports resolved: Start(ctx,
// s.Config()) after Close restarts it on the same data and ports. (If Dir was empty, it
// still is, and the restarted server starts empty in a new temporary directory.)
func (s *Server) Config() Config { return s.cfg }

// Close stops the server and waits until it has released its ports and data directory.
// It deletes the data directory if Start created it. Calling it again does nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		s.etcd.Close()
		if s.tempDir != "" {
			_ = os.RemoveAll(s.tempDir)
		}
	})
}
