CREATE TABLE businesses (
    id   BIGINT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE persons (
    id       BIGINT PRIMARY KEY,
    business BIGINT NOT NULL REFERENCES businesses (id),
    email    TEXT NOT NULL UNIQUE,
    body     TEXT NOT NULL
);
CREATE TABLE apps (
    id       BIGINT PRIMARY KEY,
    business BIGINT NOT NULL REFERENCES businesses (id),
    body     TEXT NOT NULL
);
CREATE TABLE system_users (
    id       BIGINT PRIMARY KEY,
    business BIGINT NOT NULL REFERENCES businesses (id),
    body     TEXT NOT NULL
);
-- Only the SHA-256 of a token is kept; the token itself is shown once and never stored.
CREATE TABLE tokens (
    id           BIGINT PRIMARY KEY,
    hash         BYTEA NOT NULL UNIQUE,
    system_user  BIGINT NOT NULL REFERENCES system_users (id),
    app          BIGINT NOT NULL REFERENCES apps (id),
    body         TEXT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX tokens_by_system_user ON tokens (system_user);
CREATE TABLE wabas (
    id    BIGINT PRIMARY KEY,
    owner BIGINT NOT NULL REFERENCES businesses (id),
    body  TEXT NOT NULL
);
CREATE TABLE shares (
    waba         BIGINT NOT NULL REFERENCES wabas (id),
    partner      BIGINT NOT NULL REFERENCES businesses (id),
    level        TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    PRIMARY KEY (waba, partner)
);
-- user_id is a system user or a person; the service checks which before it writes.
CREATE TABLE assignments (
    waba          BIGINT NOT NULL REFERENCES wabas (id),
    user_id       BIGINT NOT NULL,
    tasks         BIGINT NOT NULL,
    assigned_time BIGINT NOT NULL,
    PRIMARY KEY (waba, user_id)
);
CREATE TABLE phone_numbers (
    id   BIGINT PRIMARY KEY,
    waba BIGINT NOT NULL REFERENCES wabas (id),
    body TEXT NOT NULL
);
CREATE TABLE templates (
    id   BIGINT PRIMARY KEY,
    waba BIGINT NOT NULL REFERENCES wabas (id),
    body TEXT NOT NULL
);
CREATE TABLE credit_lines (
    id       BIGINT PRIMARY KEY,
    business BIGINT NOT NULL REFERENCES businesses (id),
    body     TEXT NOT NULL
);
CREATE TABLE solutions (
    id   BIGINT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE solution_wabas (
    waba         BIGINT NOT NULL REFERENCES wabas (id),
    solution     BIGINT NOT NULL REFERENCES solutions (id),
    created_time BIGINT NOT NULL,
    PRIMARY KEY (waba, solution)
);
CREATE TABLE allocations (
    id          BIGINT PRIMARY KEY,
    credit_line BIGINT NOT NULL REFERENCES credit_lines (id),
    waba        BIGINT NOT NULL REFERENCES wabas (id),
    body        TEXT NOT NULL
);
CREATE TABLE subscribed_apps (
    waba BIGINT NOT NULL REFERENCES wabas (id),
    app  BIGINT NOT NULL REFERENCES apps (id),
    body TEXT NOT NULL,
    PRIMARY KEY (waba, app)
);
-- Sent messages, for the console; never loaded into memory.
CREATE TABLE messages (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    waba         BIGINT NOT NULL REFERENCES wabas (id),
    phone_number BIGINT NOT NULL REFERENCES phone_numbers (id),
    created_time BIGINT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX messages_by_waba ON messages (waba, seq);
CREATE TABLE audit_events (
    seq      BIGSERIAL PRIMARY KEY,
    time     BIGINT NOT NULL,
    business BIGINT NOT NULL,
    actor    BIGINT NOT NULL,
    target   BIGINT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX audit_by_business ON audit_events (business, seq);
-- Every write's changes, in commit order: each server applies them in order to its memory.
CREATE TABLE changes (
    seq        BIGINT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
