package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/gateway"
	"github.com/brisk-rpc/brisk/protocol"
)

func newGatewayCmd() *cobra.Command {
	var (
		conn            connFlags
		listen          string
		callTimeout     time.Duration
		shutdownTimeout time.Duration
		maxBody         int64
		corsOrigins     []string
	)
	cmd := &cobra.Command{
		Use:   "gateway ADDR",
		Short: "Run the standalone HTTP gateway (rpcx HTTP invoke and JSON-RPC 2.0) in front of a server or registry",
		Long: `Run the standalone HTTP gateway: HTTP requests (rpcx's HTTP invoke, X-RPCX-* headers, and
JSON-RPC 2.0) are forwarded to the server at ADDR, or to the servers a registry URL lists.
Each service gets its own XClient (Failover, RoundRobin), created on its first request; a
registry URL naming a service forwards that service only. SIGINT or SIGTERM stops it
gracefully: requests in flight finish (up to --shutdown-timeout).`,
		Example: `  brisk gateway --listen :8080 localhost:8972
  brisk gateway --listen :8080 etcd://127.0.0.1:2379/rpcx_test
  curl -s localhost:8080 -H 'Content-Type: application/json' \
       -d '{"jsonrpc":"2.0","id":1,"method":"Arith.Mul","params":{"A":6,"B":7}}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pool, closeTarget, err := openGatewayTarget(ctx, args[0], conn)
			if err != nil {
				return err
			}
			defer closeTarget()
			opts := []gateway.Option{gateway.WithTimeout(callTimeout), gateway.WithMaxBodySize(maxBody)}
			if len(corsOrigins) > 0 {
				opts = append(opts, gateway.WithCORS(gateway.CORS{AllowedOrigins: corsOrigins}))
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withCode(exitTransport, fmt.Errorf("listen %s: %w", listen, err))
			}
			srv := &http.Server{Handler: gateway.New(pool, opts...), ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(cmd.ErrOrStderr(), "brisk gateway: listening on http://%s, forwarding to %s\n", ln.Addr(), args[0])
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			select {
			case err := <-served:
				return withCode(exitTransport, err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
			defer cancel()
			err = srv.Shutdown(sctx)
			if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
				err = serr
			}
			if err != nil {
				_ = srv.Close()
				return withCode(exitTransport, fmt.Errorf("shutting down: %w", err))
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "brisk gateway: stopped")
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&listen, "listen", ":8080", "HTTP `address` to listen on")
	fs.DurationVar(&callTimeout, "call-timeout", 30*time.Second, "bound on each forwarded call (0: the HTTP request's own)")
	fs.DurationVar(&shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful stop waits for requests in flight")
	fs.Int64Var(&maxBody, "max-body", gateway.DefaultMaxBodySize, "largest request body in bytes")
	fs.StringSliceVar(&corsOrigins, "cors-origin", nil, "browser `origins` allowed to call the gateway (CORS; \"*\" for any)")
	conn.register(fs)
	return cmd
}

// openGatewayTarget returns the Invoker the gateway forwards to and a function that closes it.
func openGatewayTarget(ctx context.Context, addr string, o connFlags) (gateway.Invoker, func(), error) {
	if !isRegistryURL(addr) {
		if _, _, err := parseServerAddress(addr); err != nil {
			return nil, nil, err
		}
		if _, err := o.clientOption(""); err != nil { // check the TLS files now
			return nil, nil, err
		}
		pool := newXPool(func(string) (discovery.Discovery, error) {
			return discovery.NewPeer2Peer(addr, "")
		}, o)
		return pool, func() { _ = pool.Close() }, nil
	}
	u, err := parseRegistryURL(addr)
	if err != nil {
		return nil, nil, err
	}
	if _, err := o.clientOption(""); err != nil {
		return nil, nil, err
	}
	reg, err := openRegistry(ctx, u, o.ConnectTimeout)
	if err != nil {
		return nil, nil, err
	}
	pool := newXPool(reg.discovery, o)
	pool.only = u.Service
	return pool, func() { _ = pool.Close(); reg.Close() }, nil
}

// unknownService is the answer to a request for a service the gateway does not forward,
// the same a server gives.
func unknownService(req *protocol.Message) *protocol.Message {
	resp := &protocol.Message{Header: req.Header, ServicePath: req.ServicePath, ServiceMethod: req.ServiceMethod}
	resp.SetMessageType(protocol.Response)
	resp.SetOneway(false)
	resp.SetCompressType(protocol.None)
	resp.SetMessageStatusType(protocol.Error)
	resp.Metadata = map[string]string{protocol.ServiceError: "brisk: can't find service " + req.ServicePath}
	return resp
}
