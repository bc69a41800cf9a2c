package consul_test

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/registry/consul"
	"github.com/brisk-rpc/brisk/server"
)

// TestCatalog: NewCatalogRegistrar registers the server in the agent's service catalog as
// well as in the KV store: an agent service with the server's host and port, the groups as
// tags and the metadata as meta, and a TTL check the refresh loop keeps passing; an
// inactive server is in maintenance mode; Shutdown deregisters it.
func TestCatalog(t *testing.T) {
	tg := newTarget(t)
	ln := testsvc.Listen(t)
	addr := "tcp@" + ln.Addr().String()
	reg, err := consul.NewCatalogRegistrar(tg.client(t), addr, tg.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewServer(server.WithRegistrar(reg))
	// "bad.key" is not a key Consul accepts in service meta: it is left out of the catalog.
	if err := s.RegisterName("Arith", testsvc.NewArith(), "weight=3&group=a&group=b&bad.key=x"); err != nil {
		t.Fatal(err)
	}
	testsvc.ServeOn(t, s, ln)

	id := "Arith:" + addr
	checkID := "service:" + id
	maintID := "_service_maintenance:" + id
	agent := tg.raw.Agent()
	services := func() map[string]*api.AgentService {
		t.Helper()
		svcs, err := agent.Services()
		if err != nil {
			t.Fatal(err)
		}
		return svcs
	}
	checks := func() map[string]*api.AgentCheck {
		t.Helper()
		cs, err := agent.Checks()
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	svc := services()[id]
	if svc == nil {
		t.Fatalf("no catalog service %s among %v", id, slices.Collect(maps.Keys(services())))
	}
	port := ln.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	wantMeta := map[string]string{"weight": "3", "group": "a,b", "network": "tcp"}
	if svc.Service != "Arith" || svc.Address != "127.0.0.1" || svc.Port != int(port) ||
		!slices.Equal(svc.Tags, []string{"a", "b"}) || !maps.Equal(svc.Meta, wantMeta) {
		t.Errorf("catalog service %+v, want Arith at 127.0.0.1:%d, tags [a b], meta %v", svc, port, wantMeta)
	}
	if c := checks()[checkID]; c == nil || c.Status != api.HealthPassing || c.ServiceID != id {
		t.Fatalf("check %s = %+v, want passing for %s", checkID, c, id)
	}
	if kv := tg.get(t, tg.key("Arith", addr)); kv == nil || string(kv.Value) != "weight=3&group=a&group=b&bad.key=x" {
		t.Errorf("KV entry %+v: the catalog comes in addition to the KV layout", kv)
	}

	// The refresh loop passes the TTL check.
	if err := agent.UpdateTTL(checkID, "failed by the test", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	testsvc.Eventually(t, "the refresh to pass the check again", func() bool {
		c := checks()[checkID]
		return c != nil && c.Status == api.HealthPassing
	})

	ctx := context.Background()
	if err := reg.SetInactive(ctx, true); err != nil {
		t.Fatal(err)
	}
	if c := checks()[maintID]; c == nil || c.Status != api.HealthCritical {
		t.Errorf("maintenance check %s = %+v, want critical while inactive", maintID, c)
	}
	if svc := services()[id]; svc == nil || svc.Meta["state"] != "inactive" {
		t.Errorf("catalog service while inactive: %+v, want meta state=inactive", svc)
	}
	if err := reg.SetInactive(ctx, false); err != nil {
		t.Fatal(err)
	}
	if c := checks()[maintID]; c != nil {
		t.Errorf("maintenance check %+v still there once active", c)
	}
	if svc := services()[id]; svc == nil || svc.Meta["state"] != "" {
		t.Errorf("catalog service once active again: %+v", svc)
	}

	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if svc := services()[id]; svc != nil {
		t.Errorf("catalog service %+v still there after Shutdown", svc)
	}
	for _, c := range []string{checkID, maintID} {
		if checks()[c] != nil {
			t.Errorf("check %s still there after Shutdown", c)
		}
	}
}
