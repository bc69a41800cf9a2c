package discovery

// Peer2Peer is a Discovery of one fixed server: a client talking to a known address, with
// no registry.
type Peer2Peer struct {
	b *Broadcaster
}

// NewPeer2Peer returns a Discovery of the one server at addr (network@host:port, see
// ParseAddress) with the given metadata string. It fails if addr or metadata is invalid.
// Filters apply: with state=inactive in metadata, the list is empty.
func NewPeer2Peer(addr, metadata string, opts ...Option) (*Peer2Peer, error) {
	s, err := NewServer(addr, metadata)
	if err != nil {
		return nil, err
	}
	b := NewBroadcaster(opts...)
	b.Set([]Server{s})
	return &Peer2Peer{b: b}, nil
}

// Servers implements Discovery.
func (p *Peer2Peer) Servers() []Server { return p.b.Servers() }

// Watch implements Discovery. The list never changes, so the channel only ever holds the
// first list, and is closed by stop or Close.
func (p *Peer2Peer) Watch() (<-chan []Server, func()) { return p.b.Watch() }

// Close implements Discovery.
func (p *Peer2Peer) Close() error { return p.b.Close() }

// MultipleServers is a Discovery of a list of servers that the application gives, and may
// replace at run time.
type MultipleServers struct {
	b *Broadcaster
}

// NewMultipleServers returns a Discovery of the servers in pairs (Key network@host:port,
// Value the metadata string). It fails if any entry is invalid.
func NewMultipleServers(pairs []KVPair, opts ...Option) (*MultipleServers, error) {
	list, err := ParseServers(pairs)
	if err != nil {
		return nil, err
	}
	b := NewBroadcaster(opts...)
	b.Set(list)
	return &MultipleServers{b: b}, nil
}

// Update replaces the list with pairs and, if that changes it, notifies the watchers. If any
// entry is invalid, it returns the error and keeps the current list. After Close it returns
// ErrClosed.
func (m *MultipleServers) Update(pairs []KVPair) error {
	list, err := ParseServers(pairs)
	if err != nil {
		return err
	}
	select {
	case <-m.b.Done():
		return ErrClosed
	default:
	}
	m.b.Set(list)
	return nil
}

// Servers implements Discovery.
func (m *MultipleServers) Servers() []Server { return m.b.Servers() }

// Watch implements Discovery.
func (m *MultipleServers) Watch() (<-chan []Server, func()) { return m.b.Watch() }

// Close implements Discovery.
func (m *MultipleServers) Close() error { return m.b.Close() }
