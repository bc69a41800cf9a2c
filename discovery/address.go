package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrInvalidAddress is wrapped by every error ParseAddress returns.
var ErrInvalidAddress = errors.New("discovery: invalid server address")

// ParseAddress splits a server key written network@address, as registries store it, into
// its network and address: "tcp@1.2.3.4:8972" gives ("tcp", "1.2.3.4:8972"). A key without
// "@" is a tcp address. For the unix networks (unix, unixgram, unixpacket) the address is a
// socket path ("unix@/run/app.sock"); for every other network it must be host:port with a
// numeric port from 1 to 65535 (IPv6 hosts in brackets). Only the first "@" separates, so
// "unix@@name" is the Linux abstract socket "@name".
func ParseAddress(key string) (network, address string, err error) {
	if key == "" {
		return "", "", fmt.Errorf("%w: empty", ErrInvalidAddress)
	}
	network, address, found := strings.Cut(key, "@")
	if !found {
		network, address = "tcp", key
	}
	if err := checkNetwork(network); err != nil {
		return "", "", fmt.Errorf("%w %q: %v", ErrInvalidAddress, key, err)
	}
	if err := checkAddress(network, address); err != nil {
		return "", "", fmt.Errorf("%w %q: %v", ErrInvalidAddress, key, err)
	}
	return network, address, nil
}

// checkNetwork accepts a network name made of ASCII letters, digits and "+-._".
func checkNetwork(network string) error {
	if network == "" {
		return errors.New("empty network")
	}
	for _, r := range network {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9',
			r == '+', r == '-', r == '.', r == '_':
		default:
			return fmt.Errorf("network %q has character %q", network, r)
		}
	}
	return nil
}

func isUnixNetwork(network string) bool {
	switch network {
	case "unix", "unixgram", "unixpacket":
		return true
	}
	return false
}

func checkAddress(network, address string) error {
	if address == "" {
		return errors.New("empty address")
	}
	if isUnixNetwork(network) {
		if strings.IndexByte(address, 0) >= 0 {
			return errors.New("socket path contains NUL")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return checkHost(host)
}

// checkHost accepts a host name, an IPv4 address, an IPv6 address (with an optional zone) or
// the empty host (the local system).
func checkHost(host string) error {
	if strings.Contains(host, ":") {
		ip, _, _ := strings.Cut(host, "%")
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("host %q is not an IPv6 address", host)
		}
		return nil
	}
	for _, r := range host {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9',
			r == '.', r == '-', r == '_':
		default:
			return fmt.Errorf("host %q has character %q", host, r)
		}
	}
	return nil
}
