package client

// OpenStreams returns how many streams c has open (for tests: a stream that ended must
// leave no trace).
func OpenStreams(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams)
}
