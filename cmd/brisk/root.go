package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the brisk command (documented in main.go and docs/CLI.md).
const (
	exitOK        = 0
	exitService   = 1 // the server answered with an error
	exitTransport = 2 // connection, transport or timeout error
	exitUsage     = 3 // bad flags, arguments or input
)

// exitError carries the exit code a command's failure maps to. Commands return errors
// wrapped with withCode; run prints the error to stderr and exits with its code. Errors
// without a code exit with exitUsage when cobra raised them before the command ran (unknown
// command or flag, wrong arguments) and with exitTransport otherwise.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode wraps err so that the command exits with code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErrorf is a bad-input error (exit code 3).
func usageErrorf(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

// newRootCmd builds the brisk command tree. Subcommands write to cmd.OutOrStdout() and
// cmd.ErrOrStderr() and read cmd.InOrStdin(), so tests drive them in-process.
func newRootCmd() *cobra.Command {
	return newRootCmdStarted(new(bool))
}

// newRootCmdStarted is newRootCmd that sets *started once flags and arguments have been
// parsed and validated and a command is about to run.
func newRootCmdStarted(started *bool) *cobra.Command {
	root := &cobra.Command{
		Use:   "brisk",
		Short: "Call, list, load-test and inspect brisk (and rpcx) services",
		Long: `brisk is the command-line companion of the brisk RPC framework.

Addresses are network@host:port (tcp when there is no "@"; tcp4, tcp6, unix, http, ws, wss,
quic, kcp) or registry URLs such as etcd://host:2379/base/Service.

Exit codes: 0 success, 1 the server answered with an error, 2 transport or timeout error,
3 bad usage or input.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			*started = true
		},
	}
	root.AddCommand(
		newCallCmd(),
		newListCmd(),
		newBenchCmd(),
		newRegistryCmd(),
		newGatewayCmd(),
		newDemoCmd(),
		newVersionCmd(),
	)
	return root
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var started bool
	root := newRootCmdStarted(&started)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "brisk: ") { // the client's errors carry the prefix already
		msg = "brisk: " + msg
	}
	fmt.Fprintln(stderr, msg)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if !started {
		return exitUsage
	}
	return exitTransport
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the brisk command's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
}

// versionString is the module version and VCS revision the binary was built from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "brisk (unknown version)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	out := "brisk " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " (" + rev + modified + ")"
	}
	return out + " " + bi.GoVersion
}
