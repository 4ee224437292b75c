-- The audit log is read by business, by actor or by target, newest first: one index each.
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_events (actor, seq);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit_events (target, seq);
-- Claiming deliveries walks the pending ones in order (due_ms, id) and stops at its limit.
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (due_ms, id) WHERE status = 'pending';
