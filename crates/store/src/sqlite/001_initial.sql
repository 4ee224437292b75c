CREATE TABLE businesses (
    id   INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE persons (
    id       INTEGER PRIMARY KEY,
    business INTEGER NOT NULL REFERENCES businesses (id),
    email    TEXT NOT NULL UNIQUE,
    body     TEXT NOT NULL
);
CREATE TABLE apps (
    id       INTEGER PRIMARY KEY,
    business INTEGER NOT NULL REFERENCES businesses (id),
    body     TEXT NOT NULL
);
CREATE TABLE system_users (
    id       INTEGER PRIMARY KEY,
    business INTEGER NOT NULL REFERENCES businesses (id),
    body     TEXT NOT NULL
);
-- Only the SHA-256 of a token is kept; the token itself is shown once and never stored.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    hash         BLOB NOT NULL UNIQUE,
    system_user  INTEGER NOT NULL REFERENCES system_users (id),
    app          INTEGER NOT NULL REFERENCES apps (id),
    body         TEXT NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX tokens_by_system_user ON tokens (system_user);
CREATE TABLE wabas (
    id    INTEGER PRIMARY KEY,
    owner INTEGER NOT NULL REFERENCES businesses (id),
    body  TEXT NOT NULL
);
CREATE TABLE shares (
    waba         INTEGER NOT NULL REFERENCES wabas (id),
    partner      INTEGER NOT NULL REFERENCES businesses (id),
    level        TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    PRIMARY KEY (waba, partner)
) WITHOUT ROWID;
-- user_id is a system user or a person; the service checks which before it writes.
CREATE TABLE assignments (
    waba          INTEGER NOT NULL REFERENCES wabas (id),
    user_id       INTEGER NOT NULL,
    tasks         INTEGER NOT NULL,
    assigned_time INTEGER NOT NULL,
    PRIMARY KEY (waba, user_id)
) WITHOUT ROWID;
CREATE TABLE phone_numbers (
    id   INTEGER PRIMARY KEY,
    waba INTEGER NOT NULL REFERENCES wabas (id),
    body TEXT NOT NULL
);
CREATE TABLE templates (
    id   INTEGER PRIMARY KEY,
    waba INTEGER NOT NULL REFERENCES wabas (id),
    body TEXT NOT NULL
);
CREATE TABLE credit_lines (
    id       INTEGER PRIMARY KEY,
    business INTEGER NOT NULL REFERENCES businesses (id),
    body     TEXT NOT NULL
);
CREATE TABLE audit_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time     INTEGER NOT NULL,
    business INTEGER NOT NULL,
    actor    INTEGER NOT NULL,
    target   INTEGER NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX audit_by_business ON audit_events (business, seq);
