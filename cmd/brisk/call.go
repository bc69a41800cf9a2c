package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/brisk-rpc/brisk/protocol"
)

// maxArgsInput bounds the arguments read from stdin.
const maxArgsInput = 64 << 20

func newCallCmd() *cobra.Command {
	var (
		conn    connFlags
		codec   string
		meta    []string
		timeout time.Duration
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "call ADDR Service.Method [JSON | -]",
		Short: "Call a method with JSON arguments and print the reply as JSON",
		Long: `Call a method with JSON arguments and print its reply as indented JSON.

The arguments come from the third argument, or from stdin when it is "-" or missing.
With --codec msgpack the JSON is converted to msgpack (and the reply back to JSON);
with --codec raw the bytes are sent as they are and the reply is printed as it came.

Exit codes: 0 success, 1 the server answered with an error (its text is printed),
2 transport, connection or timeout error, 3 bad usage or input.`,
		Example: `  brisk call localhost:8972 Arith.Mul '{"A":6,"B":7}'
  echo '{"A":6,"B":7}' | brisk call tcp@localhost:8972 Arith.Mul --codec msgpack
  brisk call etcd://127.0.0.1:2379/rpcx_test/Arith Arith.Mul '{"A":6,"B":7}' -m trace=1 -v`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			service, method, err := splitServiceMethod(args[1])
			if err != nil {
				return err
			}
			st, md, payload, err := request(cmd, args[2:], codec, meta)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			c, err := openTarget(ctx, args[0], service, conn)
			if err != nil {
				return classify(err)
			}
			defer c.Close()
			start := time.Now()
			reply, resMD, err := c.Invoke(ctx, method, payload, st, md)
			elapsed := time.Since(start)
			if verbose {
				printMetadata(cmd.ErrOrStderr(), resMD, elapsed)
			}
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && timeout > 0 {
					err = fmt.Errorf("timed out after %v: %w", timeout, err)
				}
				return classify(err)
			}
			out, err := replyToJSON(reply, st)
			if err != nil {
				return withCode(exitTransport, err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&codec, "codec", "json", "payload codec: "+codecNames)
	fs.StringArrayVarP(&meta, "meta", "m", nil, "request metadata `key=value` (repeatable)")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "bound on the whole call, dial included (0: none)")
	fs.BoolVarP(&verbose, "verbose", "v", false, "print the response metadata and the call's duration on stderr")
	conn.register(fs)
	return cmd
}

// splitServiceMethod splits "Service.Method" at its last dot.
func splitServiceMethod(s string) (service, method string, err error) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return "", "", usageErrorf("%q is not Service.Method", s)
	}
	return s[:i], s[i+1:], nil
}

// parseMetadata parses -m key=value pairs.
// request turns the command's codec and metadata flags and its JSON arguments (args, or
// stdin) into what a call sends.
func request(cmd *cobra.Command, args []string, codec string, meta []string) (protocol.SerializeType, map[string]string, []byte, error) {
	st, err := parseCodec(codec)
	if err != nil {
		return 0, nil, nil, err
	}
	md, err := parseMetadata(meta)
	if err != nil {
		return 0, nil, nil, err
	}
	input, err := argsInput(cmd, args)
	if err != nil {
		return 0, nil, nil, err
	}
	payload, err := encodeJSONArgs(input, st)
	if err != nil {
		return 0, nil, nil, err
	}
	return st, md, payload, nil
}

func parseMetadata(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageErrorf("metadata %q is not key=value", p)
		}
		md[k] = v
	}
	return md, nil
}

// argsInput returns the arguments text: args[0] unless it is "-" or absent, then stdin.
func argsInput(cmd *cobra.Command, args []string) ([]byte, error) {
	if len(args) > 0 && args[0] != "-" {
		return []byte(args[0]), nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxArgsInput+1))
	if err != nil {
		return nil, usageErrorf("reading the arguments from stdin: %w", err)
	}
	if len(b) > maxArgsInput {
		return nil, usageErrorf("the arguments on stdin are larger than %d bytes", maxArgsInput)
	}
	return b, nil
}

// printMetadata writes the response metadata, sorted by key, and the call's duration.
func printMetadata(w io.Writer, md map[string]string, elapsed time.Duration) {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "< %s: %s\n", k, md[k])
	}
	fmt.Fprintf(w, "< (%v)\n", elapsed.Round(time.Microsecond))
}
