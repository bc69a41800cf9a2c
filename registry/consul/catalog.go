package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
)

const (
	// deregisterCriticalAfter is how long after its TTL check went critical the agent
	// deregisters a service whose server stopped refreshing it (Consul's minimum is 1m).
	deregisterCriticalAfter = "1m"
	// inactiveReason is the reason given for the maintenance mode of an inactive server.
	inactiveReason = "brisk: server is inactive (draining)"
	// Limits Consul puts on service meta.
	maxMetaPairs    = 64
	maxMetaKeyLen   = 128
	maxMetaValueLen = 512
)

// serviceID returns the catalog ID of service at address.
func serviceID(service, address string) string {
	return service + ":" + strings.ReplaceAll(address, "/", "_")
}

// checkID returns the ID of the TTL check of the catalog service id, the one Consul would
// give the only check of a registration.
func checkID(id string) string { return "service:" + id }

// registration returns the agent service registration of service at address with the
// metadata string value.
func registration(service, address, value, ttl string) *api.AgentServiceRegistration {
	network, hostPort, _ := strings.Cut(address, "@")
	host, portStr, err := net.SplitHostPort(hostPort)
	port := 0
	if err == nil {
		port, _ = strconv.Atoi(portStr)
	} else {
		host = hostPort // unix@path and the like: no port
	}
	id := serviceID(service, address)
	tags, meta := catalogMeta(value)
	if _, ok := meta["network"]; !ok && len(meta) < maxMetaPairs {
		meta["network"] = network
	}
	return &api.AgentServiceRegistration{
		ID:      id,
		Name:    service,
		Tags:    tags,
		Address: host,
		Port:    port,
		Meta:    meta,
		Check: &api.AgentServiceCheck{
			CheckID:                        checkID(id),
			Name:                           "brisk registrar refresh",
			Notes:                          "passed by the brisk server's registrar every refresh interval",
			TTL:                            ttl,
			Status:                         api.HealthPassing,
			DeregisterCriticalServiceAfter: deregisterCriticalAfter,
		},
	}
}

// catalogMeta turns a metadata string into catalog tags (the group values) and service meta:
// one pair per key Consul accepts (letters, digits, '-' and '_', not starting with
// "consul-"), repeated values joined with ","; values longer than Consul allows and pairs
// beyond its limit are left out.
func catalogMeta(metadata string) (tags []string, meta map[string]string) {
	values, _ := url.ParseQuery(metadata) // keeps what parses
	meta = make(map[string]string)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := values[k]
		if k == "group" {
			for _, g := range vs {
				if g != "" && !slices.Contains(tags, g) {
					tags = append(tags, g)
				}
			}
		}
		v := strings.Join(vs, ",")
		if !validMetaKey(k) || len(v) > maxMetaValueLen || len(meta) >= maxMetaPairs-1 {
			continue // one pair is kept for "network"
		}
		meta[k] = v
	}
	return tags, meta
}

func validMetaKey(k string) bool {
	if k == "" || len(k) > maxMetaKeyLen || strings.HasPrefix(k, "consul-") {
		return false
	}
	for _, r := range k {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// inactive tells whether a metadata string marks the server inactive.
func inactive(value string) bool {
	for _, p := range strings.Split(value, "&") {
		if p == "state=inactive" {
			return true
		}
	}
	return false
}

// register registers service in the catalog (if the store does) with the metadata value,
// then turns its maintenance mode on or off to match the value's state.
func (s *store) register(ctx context.Context, service, value string) error {
	if s.catalog == nil {
		return nil
	}
	reg := registration(service, s.address, value, s.ttl.String())
	agent := s.cli.Agent()
	if err := agent.ServiceRegisterOpts(reg, api.ServiceRegisterOpts{}.WithContext(ctx)); err != nil {
		return fmt.Errorf("consul: registering catalog service %s: %w", reg.ID, err)
	}
	s.catalog[service] = true
	var err error
	if inactive(value) {
		err = agent.EnableServiceMaintenanceOpts(reg.ID, inactiveReason, qopts(ctx))
	} else {
		err = agent.DisableServiceMaintenanceOpts(reg.ID, qopts(ctx))
	}
	if err != nil {
		return fmt.Errorf("consul: setting the maintenance mode of catalog service %s: %w", reg.ID, err)
	}
	return nil
}

// deregister removes service from the catalog if the store registered it there.
func (s *store) deregister(ctx context.Context, service string) error {
	if !s.catalog[service] {
		return nil
	}
	id := serviceID(service, s.address)
	err := s.cli.Agent().ServiceDeregisterOpts(id, qopts(ctx))
	var se api.StatusError
	if err != nil && !(errors.As(err, &se) && se.Code == http.StatusNotFound) {
		return fmt.Errorf("consul: deregistering catalog service %s: %w", id, err)
	}
	delete(s.catalog, service)
	return nil
}

// passChecks passes the TTL check of every entry registered in the catalog, and registers
// again those the agent no longer knows (it restarted without them, or reaped them).
func (s *store) passChecks(ctx context.Context, entries map[string]string) error {
	if s.catalog == nil {
		return nil
	}
	var errs []error
	agent := s.cli.Agent()
	for service, value := range entries {
		id := serviceID(service, s.address)
		err := agent.UpdateTTLOpts(checkID(id), "", api.HealthPassing, qopts(ctx))
		if err == nil {
			continue
		}
		s.settings.Logger.Info("brisk registry: registering a catalog service again", "id", id, "err", err)
		errs = append(errs, s.register(ctx, service, value))
	}
	return errors.Join(errs...)
}
