package mdns

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// listenGoodbyes listens for mDNS messages on ifaces until stop is called and hands the
// goodbyes of ServiceType instances to s. The zeroconf browser drops goodbyes silently;
// without this a server that shut down would stay listed for the TTL. Listening is best
// effort: if no socket can be opened, the TTL still removes such servers.
func (s *source) listenGoodbyes(ifaces []net.Interface, w *watch) (stop func()) {
	suffix := "." + ServiceType + "." + s.cfg.domain
	var conns []net.PacketConn
	if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}); err == nil {
		p := ipv4.NewPacketConn(c)
		joined := false
		for i := range ifaces {
			joined = p.JoinGroup(&ifaces[i], &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251)}) == nil || joined
		}
		if joined {
			conns = append(conns, c)
		} else {
			c.Close()
		}
	}
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}); err == nil {
		p := ipv6.NewPacketConn(c)
		joined := false
		for i := range ifaces {
			joined = p.JoinGroup(&ifaces[i], &net.UDPAddr{IP: net.ParseIP("ff02::fb")}) == nil || joined
		}
		if joined {
			conns = append(conns, c)
		} else {
			c.Close()
		}
	}
	if len(conns) == 0 {
		s.settings.Logger.Debug("brisk mdns: cannot listen for goodbyes; servers that shut down leave the list after the TTL")
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				var msg dns.Msg
				if msg.Unpack(buf[:n]) != nil {
					continue
				}
				now := time.Now()
				for _, key := range goodbyeKeys(&msg, suffix) {
					if s.goodbye(key, now) {
						select {
						case w.requery <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}
}

// goodbyeKeys returns the keys (instance:port, as source.update makes them) of the
// instances whose SRV record msg withdraws (TTL 0). msg comes from the network.
func goodbyeKeys(msg *dns.Msg, suffix string) []string {
	if !msg.Response {
		return nil
	}
	var keys []string
	for _, rr := range append(msg.Answer[:len(msg.Answer):len(msg.Answer)], msg.Extra...) {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Hdr.Ttl != 0 || len(srv.Hdr.Name) <= len(suffix) ||
			!strings.EqualFold(srv.Hdr.Name[len(srv.Hdr.Name)-len(suffix):], suffix) {
			continue
		}
		instance := srv.Hdr.Name[:len(srv.Hdr.Name)-len(suffix)]
		keys = append(keys, instance+":"+strconv.Itoa(int(srv.Port)))
	}
	return keys
}
