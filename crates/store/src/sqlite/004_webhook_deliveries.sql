-- Webhook events queued for delivery, written in the same transaction as the change that caused
-- them; the delivery worker sends each app's events about one entry in order (due_ms, id).
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app             INTEGER NOT NULL,
    entry           INTEGER NOT NULL,
    waba            INTEGER,
    field           TEXT NOT NULL,
    body            TEXT NOT NULL,
    due_ms          INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER,
    last_code       INTEGER,
    last_error      TEXT,
    latency_ms      INTEGER,
    callback_url    TEXT,
    finished_ms     INTEGER
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (app, entry, due_ms, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app, id);
