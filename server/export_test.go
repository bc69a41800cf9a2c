package server

// StreamState sums, over every connection of s, the open streams and the messages and
// bytes they hold unreceived (for tests of cancellation and flow control).
func StreamState(s *Server) (streams, queued int, queuedCost int64) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.streamMu.Lock()
		for _, st := range c.streams {
			streams++
			n, cost := st.flow.Queued()
			queued += n
			queuedCost += cost
		}
		c.streamMu.Unlock()
	}
	return streams, queued, queuedCost
}
