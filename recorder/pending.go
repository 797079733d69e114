package recorder

// Pending counts the lessons waiting to be processed or being processed: a node that drains waits
// for it to reach zero (within its drain time) so that its last classes become lessons before it exits.
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.queue)
	if s.current != "" {
		n++
	}
	return n
}
