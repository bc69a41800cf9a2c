package registry

import (
	"errors"
	"fmt"
	"strings"

	"github.com/brisk-rpc/brisk/discovery"
)

// CleanBasePath returns p with one leading slash and no trailing one; "" gives
// DefaultBasePath.
func CleanBasePath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return DefaultBasePath
	}
	return "/" + p
}

// ServicePath returns <basePath>/<service>, the prefix under which the service's servers
// are listed.
func ServicePath(basePath, service string) string {
	return CleanBasePath(basePath) + "/" + service
}

// Key returns <basePath>/<service>/<address>, the key of one server's entry.
func Key(basePath, service, address string) string {
	return ServicePath(basePath, service) + "/" + address
}

// CheckService rejects service names that would break the layout.
func CheckService(service string) error {
	if service == "" || strings.ContainsAny(service, "/ \t\r\n") {
		return fmt.Errorf("registry: invalid service name %q", service)
	}
	return nil
}

// CheckAddress rejects a server address clients could not dial: it must be
// network@host:port (or unix@path); a bare host:port is taken as tcp and returned with
// "tcp@" in front.
func CheckAddress(address string) (string, error) {
	if address == "" {
		return "", errors.New("registry: the server's address is required (network@host:port)")
	}
	network, addr, err := discovery.ParseAddress(address)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	return network + "@" + addr, nil
}

// CheckKeyAddress is CheckAddress for the backends whose keys end with the address as
// one path element (etcd, ZooKeeper, Consul): it also rejects an address containing '/'
// (a unix socket path, say), whose entry would lie more than one level below the service
// path, where clients (brisk's and rpcx's alike) do not list it.
func CheckKeyAddress(address string) (string, error) {
	address, err := CheckAddress(address)
	if err != nil {
		return "", err
	}
	if strings.Contains(address, "/") {
		return "", fmt.Errorf("registry: address %q cannot be advertised: it contains '/', so its entry would not be a single key element below the service path", address)
	}
	return address, nil
}

// CheckBasePath rejects a base path (as CleanBasePath returns it) with an empty, "." or
// ".." element: ZooKeeper refuses such paths, and HTTP path cleaning on the way to Consul
// may not keep them.
func CheckBasePath(p string) error {
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("registry: invalid base path %q: empty, . or .. element", p)
		}
	}
	return nil
}

// WithState returns metadata with its state key removed and, if inactive, state=inactive
// appended. Other keys keep their order and encoding.
func WithState(metadata string, inactive bool) string {
	var parts []string
	for _, p := range strings.Split(metadata, "&") {
		if p == "" || p == "state" || strings.HasPrefix(p, "state=") {
			continue
		}
		parts = append(parts, p)
	}
	if inactive {
		parts = append(parts, "state=inactive")
	}
	return strings.Join(parts, "&")
}
