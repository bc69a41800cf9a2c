package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/reflection"
)

func newListCmd() *cobra.Command {
	var (
		conn    connFlags
		schema  bool
		asJSON  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "list ADDR [Service | Service.Method]",
		Short: "List a server's services and methods (reflection)",
		Long: `List a server's services and methods through its reflection service (_brisk.Reflection),
with each method's kind, and with --schema the JSON Schemas of its argument and reply
(one line each; --json --schema prints them in full).

ADDR may be a registry URL naming a service (etcd://host:2379/base/Service): the first
server the registry lists for it is asked.`,
		Example: `  brisk list localhost:8972
  brisk list localhost:8972 Arith.Mul --schema
  brisk list etcd://127.0.0.1:2379/rpcx_test/Arith --json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			reply, err := fetchReflection(ctx, args[0], conn)
			if err != nil {
				return err
			}
			if len(args) == 2 {
				if err := filterServices(reply, args[1]); err != nil {
					return err
				}
			}
			if asJSON {
				if !schema {
					for i := range reply.Services {
						for j := range reply.Services[i].Methods {
							reply.Services[i].Methods[j].Args = nil
							reply.Services[i].Methods[j].Reply = nil
						}
					}
				}
				b, err := json.MarshalIndent(reply, "", "  ")
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(append(b, '\n'))
				return err
			}
			return printServices(cmd.OutOrStdout(), reply, schema)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&schema, "schema", false, "print the JSON Schemas of each method's argument and reply")
	fs.BoolVar(&asJSON, "json", false, "print the reflection reply as JSON")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "bound on the whole command (0: none)")
	conn.register(fs)
	return cmd
}

// filterServices keeps only the service name, or only the method Service.Method.
func filterServices(reply *reflection.ListReply, name string) error {
	for _, s := range reply.Services {
		if s.Name == name {
			reply.Services = []reflection.ServiceInfo{s}
			return nil
		}
	}
	if service, method, err := splitServiceMethod(name); err == nil {
		for _, s := range reply.Services {
			if s.Name != service {
				continue
			}
			for _, m := range s.Methods {
				if m.Name == method {
					s.Methods = []reflection.MethodInfo{m}
					reply.Services = []reflection.ServiceInfo{s}
					return nil
				}
			}
			return withCode(exitService, fmt.Errorf("service %s has no method %q", service, method))
		}
	}
	return withCode(exitService, fmt.Errorf("the server has no service %q", name))
}

// fetchReflection asks the server at addr (or the first server of a registry URL's service)
// for its services.
func fetchReflection(ctx context.Context, addr string, o connFlags) (*reflection.ListReply, error) {
	if isRegistryURL(addr) {
		server, err := firstServer(ctx, addr, o)
		if err != nil {
			return nil, err
		}
		addr = server
	}
	c, err := dialDirect(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	reply, err := reflection.List(ctx, c)
	if err != nil {
		if client.IsNotFound(err) {
			return nil, withCode(exitService, fmt.Errorf("the server does not answer reflection (%w): is it a brisk server?", err))
		}
		return nil, classify(err)
	}
	return reply, nil
}

// firstServer returns the address of the first server a registry URL lists for its service.
func firstServer(ctx context.Context, rawURL string, o connFlags) (string, error) {
	u, err := parseRegistryURL(rawURL)
	if err != nil {
		return "", err
	}
	if u.Service == "" {
		return "", usageErrorf("%s names no service: list asks one server, so give a service (…/base/Service)", rawURL)
	}
	reg, err := openRegistry(ctx, u, o.ConnectTimeout)
	if err != nil {
		return "", err
	}
	defer reg.Close()
	d, err := reg.discovery(u.Service)
	if err != nil {
		return "", err
	}
	defer closeDiscovery(d)
	if err := waitListed(ctx, d, u.Service, o.ConnectTimeout); err != nil {
		return "", err
	}
	return d.Servers()[0].Key, nil
}

// printServices writes the human-readable listing.
func printServices(w io.Writer, reply *reflection.ListReply, schema bool) error {
	if len(reply.Services) == 0 {
		_, err := fmt.Fprintln(w, "(no services)")
		return err
	}
	for i, s := range reply.Services {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if s.Metadata != "" {
			fmt.Fprintf(w, "%s (%s)\n", s.Name, s.Metadata)
		} else {
			fmt.Fprintln(w, s.Name)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, m := range s.Methods {
			fmt.Fprintf(tw, "  %s\t%s\n", m.Name, m.Kind)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if schema {
			for _, m := range s.Methods {
				if len(m.Args) == 0 && len(m.Reply) == 0 {
					continue
				}
				fmt.Fprintf(w, "\n  %s.%s\n", s.Name, m.Name)
				printSchema(w, "args", m.Args)
				printSchema(w, "reply", m.Reply)
			}
		}
	}
	return nil
}

func printSchema(w io.Writer, label string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	fmt.Fprintf(w, "    %-6s %s\n", label+":", buf.String())
}
