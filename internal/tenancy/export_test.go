package tenancy

// SetWatchDeaf makes m's organization watch drop every notification it receives while deaf is
// true: a LISTEN that "succeeds" but hears nothing, as behind a transaction-mode pooler.
func SetWatchDeaf(m *Manager, deaf bool) { m.orgHub.deaf.Store(deaf) }
