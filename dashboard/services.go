package dashboard

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/reflection"
)

// Sources of a ServicesReply.
const (
	// SourceReflection: the server's reflection service listed services, methods and
	// their JSON Schemas.
	SourceReflection = "reflection"
	// SourceServer: the server has no reflection service (or it failed: see
	// ServicesReply.Note); only the service names and metadata are known.
	SourceServer = "server"
)

// ServicesReply is the answer of /api/services.
type ServicesReply struct {
	Source string `json:"source"`
	// Note explains a SourceServer listing.
	Note      string        `json:"note,omitempty"`
	Addresses []string      `json:"addresses"`
	Services  []ServiceInfo `json:"services"`
}

// ServiceInfo is one service, as the reflection service lists it.
type ServiceInfo = reflection.ServiceInfo

// MethodInfo is one method: Kind is "unary" or "stream"; Args and Reply are the JSON
// Schemas of its types, when known.
type MethodInfo = reflection.MethodInfo

// services lists the server's services through its reflection service, or from
// Server.Services if it has none.
func (h *handler) services(ctx context.Context) ServicesReply {
	out := ServicesReply{Addresses: []string{}}
	for _, a := range h.s.Addresses() {
		out.Addresses = append(out.Addresses, a.Network()+"@"+a.String())
	}
	list, err := h.reflect(ctx)
	if err == nil {
		out.Source, out.Services = SourceReflection, list.Services
		for i := range out.Services {
			if out.Services[i].Methods == nil {
				out.Services[i].Methods = []MethodInfo{}
			}
		}
		return out
	}
	out.Source, out.Note = SourceServer, "no method list: "+err.Error()
	out.Services = []ServiceInfo{}
	for name, md := range h.s.Services() {
		out.Services = append(out.Services, ServiceInfo{Name: name, Metadata: md, Methods: []MethodInfo{}})
	}
	slices.SortFunc(out.Services, func(a, b ServiceInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// reflect calls the reflection service's List in-process.
func (h *handler) reflect(ctx context.Context) (*reflection.ListReply, error) {
	ctx, cancel := h.callContext(ctx)
	defer cancel()
	if h.authToken != "" {
		ctx = client.WithMetadata(ctx, map[string]string{protocol.AuthKey: h.authToken})
	}
	list, err := reflection.ListFrom(ctx, h.s)
	switch {
	case client.IsNotFound(err):
		return nil, errors.New("the server has no reflection service (" + protocol.ReflectionService + ")")
	case client.IsServiceError(err):
		return nil, errors.New("the reflection service failed: " + err.Error())
	case err != nil:
		return nil, err
	}
	if list.Services == nil {
		list.Services = []ServiceInfo{}
	}
	return list, nil
}

// RegistryReply is the answer of /api/registry.
type RegistryReply struct {
	// Configured reports that WithDiscovery was given.
	Configured bool              `json:"configured"`
	Services   []RegistryService `json:"services"`
}

// RegistryService is one service as its registry lists it.
type RegistryService struct {
	Name string `json:"name"`
	// Known reports that the lookup gave a Discovery for it.
	Known   bool             `json:"known"`
	Servers []RegistryServer `json:"servers"`
}

// RegistryServer is one server of a service, from discovery.Server.
type RegistryServer struct {
	Key      string `json:"key"`
	Network  string `json:"network"`
	Address  string `json:"address"`
	Metadata string `json:"metadata"`
	// State is "active", or "inactive" when the metadata says state=inactive.
	State  string   `json:"state"`
	Weight int      `json:"weight"`
	Groups []string `json:"groups"`
	// Self reports that the address is one this server listens on.
	Self bool `json:"self"`
}

func (h *handler) registry() RegistryReply {
	out := RegistryReply{Configured: h.discovery != nil, Services: []RegistryService{}}
	if h.discovery == nil {
		return out
	}
	self := map[string]bool{}
	for _, a := range h.s.Addresses() {
		self[a.String()] = true
		if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			self["*:"+strconv.Itoa(ta.Port)] = true
		}
	}
	names := make([]string, 0)
	for name := range h.s.Services() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rs := RegistryService{Name: name, Servers: []RegistryServer{}}
		if d := h.discovery(name); d != nil {
			rs.Known = true
			for _, sv := range d.Servers() {
				state := "active"
				if sv.Inactive {
					state = "inactive"
				}
				isSelf := self[sv.Address]
				if _, port, err := net.SplitHostPort(sv.Address); err == nil && self["*:"+port] {
					isSelf = true
				}
				rs.Servers = append(rs.Servers, RegistryServer{Key: sv.Key, Network: sv.Network, Address: sv.Address,
					Metadata: sv.RawMetadata, State: state, Weight: sv.Weight, Groups: nonNil(sv.Groups), Self: isSelf})
			}
			slices.SortFunc(rs.Servers, func(a, b RegistryServer) int { return cmp.Compare(a.Key, b.Key) })
		}
		out.Services = append(out.Services, rs)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
