// Package bench runs the same closed-loop load against brisk, grpc-go and net/rpc, with the
// message of the rpcx benchmark (581 bytes of protobuf), and measures throughput, latency
// percentiles and allocations. Client and server run in the same process.
package bench

import (
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"context"
	"fmt"
	"net"
	"net/rpc"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/brisk-rpc/brisk/bench/pb"
	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// Conn is one client connection (client object). Say must be safe for concurrent use.
type Conn interface {
	// Say calls Hello.Say with args and returns the reply, which is the caller's own.
	Say(ctx context.Context, args *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error)
	Close() error
}

// Server is a running server listening on loopback TCP.
type Server interface {
	Addr() string
	Close() error
}

// Framework is an RPC framework under test.
type Framework struct {
	Name        string
	Codec       string // the payload encoding
	HandlerMode string // how the server runs a request
	// Start starts a server for Hello.Say on 127.0.0.1, on a port of its own.
	Start func() (Server, error)
	// Dial opens a new connection to addr.
	Dial func(addr string) (Conn, error)
}

// Frameworks are the frameworks this package knows, by name.
var Frameworks = map[string]Framework{
	"brisk": {
		Name:        "brisk",
		Codec:       "protobuf (brisk protocol.ProtoBuffer, google.golang.org/protobuf)",
		HandlerMode: "goroutine per request (reused handler goroutines), reflection dispatch",
		Start:       startBrisk,
		Dial:        dialBrisk,
	},
	"brisk+obs": {
		Name:        "brisk+obs",
		Codec:       "protobuf, as brisk",
		HandlerMode: "as brisk, with OpenTelemetry tracing (every call sampled) and metrics and Prometheus metrics on client and server",
		Start:       startObserved(sdktrace.AlwaysSample()),
		Dial:        dialObserved(sdktrace.AlwaysSample()),
	},
	"brisk+obs1%": {
		Name:        "brisk+obs1%",
		Codec:       "protobuf, as brisk",
		HandlerMode: "as brisk+obs, with 1% of traces sampled (the others propagate context only)",
		Start:       startObserved(sdktrace.TraceIDRatioBased(0.01)),
		Dial:        dialObserved(sdktrace.TraceIDRatioBased(0.01)),
	},
	"grpc": {
		Name:        "grpc",
		Codec:       "protobuf (grpc-go default codec, google.golang.org/protobuf)",
		HandlerMode: "goroutine per stream (grpc-go default, no NumStreamWorkers)",
		Start:       startGRPC,
		Dial:        dialGRPC,
	},
	"netrpc": {
		Name:        "netrpc",
		Codec:       "gob (net/rpc default) of the same generated struct",
		HandlerMode: "goroutine per request (net/rpc), reflection dispatch",
		Start:       startNetRPC,
		Dial:        dialNetRPC,
	},
}

// Lookup returns the frameworks named in a comma-separated list, in its order.
func Lookup(list string) ([]Framework, error) { return lookupNamed(list, Frameworks, "framework") }

// lookupNamed returns the entries of table named in a comma-separated list, in its order;
// what names the kind of entry in errors.
func lookupNamed[T any](list string, table map[string]T, what string) ([]T, error) {
	var out []T
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		v, ok := table[name]
		if !ok {
			names := make([]string, 0, len(table))
			for n := range table {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, fmt.Errorf("unknown %s %q (known: %s)", what, name, strings.Join(names, ", "))
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s given", what)
	}
	return out, nil
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// ---- brisk ----

// BriskHello is the brisk service.
type BriskHello struct{}

// Say answers with a copy of args, field1 = "OK" and field2 = 100.
func (*BriskHello) Say(_ context.Context, args, reply *pb.BenchmarkMessage) error {
	pb.SayReply(args, reply)
	return nil
}

type briskServer struct {
	s  *server.Server
	ln net.Listener
}

func (b *briskServer) Addr() string { return b.ln.Addr().String() }
func (b *briskServer) Close() error { return b.s.Close() }

func startBrisk() (Server, error) { return startBriskWith() }

func startBriskWith(opts ...server.Option) (*briskServer, error) {
	s := server.NewServer(opts...)
	if err := s.RegisterName("Hello", new(BriskHello), ""); err != nil {
		return nil, err
	}
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	go func() { _ = s.ServeListener(ln) }()
	return &briskServer{s: s, ln: ln}, nil
}

type briskConn struct{ c *client.Client }

func (b briskConn) Say(ctx context.Context, args *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
	reply := new(pb.BenchmarkMessage)
	err := b.c.Call(ctx, "Hello.Say", args, reply)
	return reply, err
}

func (b briskConn) Close() error { return b.c.Close() }

func dialBrisk(addr string) (Conn, error) {
	opt := client.DefaultOption
	opt.SerializeType = protocol.ProtoBuffer
	c := client.NewClient(opt)
	if err := c.Connect("tcp", addr); err != nil {
		return nil, err
	}
	return briskConn{c}, nil
}

// ---- grpc-go ----

type grpcHello struct {
	pb.UnimplementedHelloServer
}

func (grpcHello) Say(_ context.Context, args *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
	reply := new(pb.BenchmarkMessage)
	pb.SayReply(args, reply)
	return reply, nil
}

type grpcServer struct {
	s  *grpc.Server
	ln net.Listener
}

func (g *grpcServer) Addr() string { return g.ln.Addr().String() }
func (g *grpcServer) Close() error { g.s.Stop(); return nil }

func startGRPC() (Server, error) {
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer()
	pb.RegisterHelloServer(s, grpcHello{})
	go func() { _ = s.Serve(ln) }()
	return &grpcServer{s: s, ln: ln}, nil
}

type grpcConn struct {
	cc *grpc.ClientConn
	c  pb.HelloClient
}

func (g grpcConn) Say(ctx context.Context, args *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
	return g.c.Say(ctx, args)
}

func (g grpcConn) Close() error { return g.cc.Close() }

// dialGRPC opens one grpc.ClientConn, which is one HTTP/2 connection, and connects it now so
// that connection set-up is not measured.
func dialGRPC(addr string) (Conn, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	cc.Connect()
	return grpcConn{cc: cc, c: pb.NewHelloClient(cc)}, nil
}

// ---- net/rpc ----

// NetRPCHello is the net/rpc service.
type NetRPCHello struct{}

// Say answers with a copy of args, field1 = "OK" and field2 = 100.
func (*NetRPCHello) Say(args, reply *pb.BenchmarkMessage) error {
	pb.SayReply(args, reply)
	return nil
}

type netrpcServer struct{ ln net.Listener }

func (n *netrpcServer) Addr() string { return n.ln.Addr().String() }

// Close stops accepting; open connections end when their clients close them.
func (n *netrpcServer) Close() error { return n.ln.Close() }

func startNetRPC() (Server, error) {
	s := rpc.NewServer()
	if err := s.RegisterName("Hello", new(NetRPCHello)); err != nil {
		return nil, err
	}
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	// rpc.Server.Accept logs when the listener closes; this loop ends quietly.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(c)
		}
	}()
	return &netrpcServer{ln: ln}, nil
}

type netrpcConn struct{ c *rpc.Client }

func (n netrpcConn) Say(_ context.Context, args *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
	reply := new(pb.BenchmarkMessage)
	err := n.c.Call("Hello.Say", args, reply)
	return reply, err
}

func (n netrpcConn) Close() error { return n.c.Close() }

func dialNetRPC(addr string) (Conn, error) {
	c, err := rpc.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netrpcConn{c}, nil
}
