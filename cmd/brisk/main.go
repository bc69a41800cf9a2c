// Command brisk pokes brisk (and rpcx) services from a shell: call a method with JSON, list a
// server's services through reflection, load-test a method, look at a registry, run the
// standalone HTTP gateway, and run the demo scenario. See docs/CLI.md.
//
// Exit codes: 0 success; 1 the server answered with an error (a service error, an unknown
// service or method, refused authentication); 2 a transport, connection or timeout error;
// 3 bad usage or bad input (flags, arguments, JSON).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

func main() {
	// go-redis reports dial failures through its own process-wide logger; the command
	// reports the registry's error itself, so that logger is silenced here, in the program.
	goredis.SetLogger(quietRedisLog{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// quietRedisLog discards go-redis's internal log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}
