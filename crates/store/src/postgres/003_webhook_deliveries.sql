-- Webhook events queued for delivery, written in the same transaction as the change that caused
-- them; the delivery worker sends each app's events about one entry in order (due_ms, id).
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    app             BIGINT NOT NULL,
    entry           BIGINT NOT NULL,
    waba            BIGINT,
    field           TEXT NOT NULL,
    body            TEXT NOT NULL,
    due_ms          BIGINT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms  BIGINT,
    last_code       BIGINT,
    last_error      TEXT,
    latency_ms      BIGINT,
    callback_url    TEXT,
    finished_ms     BIGINT
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (app, entry, due_ms, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app, id);
