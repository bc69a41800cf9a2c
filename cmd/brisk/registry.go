package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/registry"
)

// serverJSON is one server in registry ls/watch --json output.
type serverJSON struct {
	Key      string `json:"key"`
	Network  string `json:"network"`
	Address  string `json:"address"`
	Metadata string `json:"metadata"`
	Inactive bool   `json:"inactive,omitempty"`
}

// serviceJSON is one service in registry ls/watch --json output.
type serviceJSON struct {
	Time    string       `json:"time,omitempty"` // watch only
	Service string       `json:"service"`
	Servers []serverJSON `json:"servers"`
	Error   string       `json:"error,omitempty"`
}

func toServiceJSON(service string, list []discovery.Server) serviceJSON {
	out := serviceJSON{Service: service, Servers: make([]serverJSON, 0, len(list))}
	for _, s := range list {
		out.Servers = append(out.Servers, serverJSON{Key: s.Key, Network: s.Network, Address: s.Address, Metadata: s.RawMetadata, Inactive: s.Inactive})
	}
	return out
}

func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Look at the services and servers in a registry (etcd, zookeeper, redis, consul, mdns)",
		Long: `Look at the services and servers in a registry.

URLs: etcd://host:2379/base[/Service], zookeeper://host:2181/base[/Service],
redis://[:password@]host:6379/base[/Service], consul://host:8500/base[/Service][?token=T],
mdns:///Service. The last path element is the service when there are two or more; end the
URL with "/" to name only a base path (etcd://host:2379/a/b/). The base path defaults to
/rpcx_test. Servers marked state=inactive (draining) are listed too.`,
	}
	cmd.AddCommand(newRegistryLsCmd(), newRegistryWatchCmd())
	return cmd
}

func newRegistryLsCmd() *cobra.Command {
	var (
		asJSON  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ls URL",
		Short: "List the servers of a service, or of every service under the base path",
		Example: `  brisk registry ls etcd://127.0.0.1:2379/rpcx_test
  brisk registry ls etcd://127.0.0.1:2379/rpcx_test/Arith --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			reg, services, err := openRegistryServices(ctx, args[0], timeout)
			if err != nil {
				return err
			}
			defer reg.Close()
			var all []serviceJSON
			for _, svc := range services {
				list, err := listOnce(ctx, reg, svc)
				if err != nil {
					return withCode(exitTransport, fmt.Errorf("listing %s: %w", svc, err))
				}
				all = append(all, toServiceJSON(svc, list))
			}
			w := cmd.OutOrStdout()
			if asJSON {
				if all == nil {
					all = []serviceJSON{}
				}
				b, err := json.MarshalIndent(all, "", "  ")
				if err != nil {
					return err
				}
				_, err = w.Write(append(b, '\n'))
				return err
			}
			if len(all) == 0 {
				fmt.Fprintf(w, "(no services under %s)\n", reg.u.BasePath)
				return nil
			}
			for _, s := range all {
				printServiceServers(w, s)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "bound on the whole listing")
	return cmd
}

func newRegistryWatchCmd() *cobra.Command {
	var (
		asJSON bool
		count  int
		rescan time.Duration
	)
	cmd := &cobra.Command{
		Use:   "watch URL",
		Short: "Print a service's server list every time it changes, until interrupted",
		Long: `Print a service's server list, then again every time it changes, until Ctrl-C.

Without a service in the URL every service under the base path is watched, and the base
path is scanned again every --rescan for new services. With --json each list is one JSON
object per line.`,
		Example: `  brisk registry watch etcd://127.0.0.1:2379/rpcx_test/Arith
  brisk registry watch etcd://127.0.0.1:2379/rpcx_test --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			reg, services, err := openRegistryServices(ctx, args[0], 10*time.Second)
			if err != nil {
				return err
			}
			defer reg.Close()
			w := &registryWatcher{reg: reg, ctx: ctx, events: make(chan watchEvent), watching: map[string]bool{}}
			defer func() {
				cancel() // the watchers end with the context
				w.wait()
			}()
			for _, svc := range services {
				w.start(svc)
			}
			var tick <-chan time.Time
			if reg.u.Service == "" && reg.listServices != nil && rescan > 0 {
				t := time.NewTicker(rescan)
				defer t.Stop()
				tick = t.C
			}
			out := cmd.OutOrStdout()
			printed := 0
			last := map[string]string{}
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick:
					names, err := reg.listServices(ctx)
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "brisk: scanning %s: %v\n", reg.u.BasePath, err)
						continue
					}
					for _, svc := range names {
						w.start(svc)
					}
				case ev := <-w.events:
					s := toServiceJSON(ev.service, ev.list)
					s.Time = ev.at.Format(time.RFC3339Nano)
					if ev.err != nil {
						s.Error = ev.err.Error()
					}
					key := fmt.Sprint(s.Servers, s.Error)
					if last[ev.service] == key {
						continue // a notification that changed nothing we show
					}
					last[ev.service] = key
					if asJSON {
						b, err := json.Marshal(s)
						if err != nil {
							return err
						}
						if _, err := out.Write(append(b, '\n')); err != nil {
							return err
						}
					} else {
						fmt.Fprintf(out, "%s ", ev.at.Format("15:04:05.000"))
						printServiceServers(out, s)
					}
					printed++
					if count > 0 && printed >= count {
						return nil
					}
				}
			}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per list")
	cmd.Flags().IntVar(&count, "count", 0, "exit after printing this many lists (0: run until interrupted)")
	cmd.Flags().DurationVar(&rescan, "rescan", 5*time.Second, "how often to look for new services when watching a whole base path")
	return cmd
}

// openRegistryServices opens the registry of rawURL and returns the services to show: the
// URL's service, or every service under its base path.
func openRegistryServices(ctx context.Context, rawURL string, timeout time.Duration) (*registryConn, []string, error) {
	u, err := parseRegistryURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	reg, err := openRegistry(ctx, u, timeout)
	if err != nil {
		return nil, nil, err
	}
	if u.Service != "" {
		return reg, []string{u.Service}, nil
	}
	if reg.listServices == nil {
		reg.Close()
		return nil, nil, usageErrorf("%s registries cannot list their services: give one in the URL (%s:///Service)", u.Scheme, u.Scheme)
	}
	services, err := reg.listServices(ctx)
	if err != nil {
		reg.Close()
		return nil, nil, withCode(exitTransport, fmt.Errorf("listing the services under %s: %w", u.BasePath, err))
	}
	return reg, services, nil
}

// allServers is the discovery option that keeps inactive servers in the lists.
func allServers() registry.Option {
	return registry.WithDiscoveryOptions(discovery.WithInactive())
}

// listOnce returns service's servers as soon as the registry has listed them once.
func listOnce(ctx context.Context, reg *registryConn, service string) ([]discovery.Server, error) {
	d, err := reg.newDisc(service, reg.options(allServers())...)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ch, stop := d.Watch()
	defer stop()
	for {
		select {
		case list, ok := <-ch:
			if !ok {
				return nil, fmt.Errorf("discovery closed")
			}
			if d.Err() == nil {
				return list, nil
			}
		case <-ctx.Done():
			if err := d.Err(); err != nil {
				return nil, fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
			return nil, ctx.Err()
		}
	}
}

// watchEvent is one list (or registry error) of one watched service.
type watchEvent struct {
	service string
	list    []discovery.Server
	err     error
	at      time.Time
}

// registryWatcher runs one goroutine per watched service, each sending its lists to events.
type registryWatcher struct {
	reg      *registryConn
	ctx      context.Context
	events   chan watchEvent
	watching map[string]bool // used by the command's goroutine only
	done     []chan struct{}
}

// start watches service unless it is already watched.
func (w *registryWatcher) start(service string) {
	if w.watching[service] {
		return
	}
	w.watching[service] = true
	d, err := w.reg.newDisc(service, w.reg.options(allServers())...)
	done := make(chan struct{})
	w.done = append(w.done, done)
	go func() {
		defer close(done)
		if err != nil {
			w.send(watchEvent{service: service, err: err, at: time.Now()})
			return
		}
		defer d.Close()
		ch, stop := d.Watch()
		defer stop()
		listed := false
		for {
			select {
			case list, ok := <-ch:
				if !ok {
					return
				}
				ev := watchEvent{service: service, list: list, err: d.Err(), at: time.Now()}
				if ev.err != nil && !listed {
					continue // not listed yet: the first list comes with Err nil
				}
				listed = true
				if !w.send(ev) {
					return
				}
			case <-w.ctx.Done():
				return
			}
		}
	}()
}

func (w *registryWatcher) send(ev watchEvent) bool {
	select {
	case w.events <- ev:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// wait waits for every watching goroutine (after the context ended).
func (w *registryWatcher) wait() {
	for _, d := range w.done {
		<-d
	}
}

// printServiceServers writes one service and its servers.
func printServiceServers(w io.Writer, s serviceJSON) {
	n := len(s.Servers)
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%s (%d server%s)\n", s.Service, n, plural)
	if s.Error != "" {
		fmt.Fprintf(w, "  registry error: %s (showing the last list)\n", s.Error)
	}
	servers := slices.Clone(s.Servers)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, srv := range servers {
		md := srv.Metadata
		if md == "" {
			md = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", srv.Key, md)
	}
	_ = tw.Flush()
}
