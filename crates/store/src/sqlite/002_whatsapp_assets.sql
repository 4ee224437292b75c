CREATE TABLE solutions (
    id   INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE solution_wabas (
    waba         INTEGER NOT NULL REFERENCES wabas (id),
    solution     INTEGER NOT NULL REFERENCES solutions (id),
    created_time INTEGER NOT NULL,
    PRIMARY KEY (waba, solution)
) WITHOUT ROWID;
CREATE TABLE allocations (
    id          INTEGER PRIMARY KEY,
    credit_line INTEGER NOT NULL REFERENCES credit_lines (id),
    waba        INTEGER NOT NULL REFERENCES wabas (id),
    body        TEXT NOT NULL
);
CREATE TABLE subscribed_apps (
    waba INTEGER NOT NULL REFERENCES wabas (id),
    app  INTEGER NOT NULL REFERENCES apps (id),
    body TEXT NOT NULL,
    PRIMARY KEY (waba, app)
) WITHOUT ROWID;
-- Sent messages, for the console; never loaded into memory.
CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    waba         INTEGER NOT NULL REFERENCES wabas (id),
    phone_number INTEGER NOT NULL REFERENCES phone_numbers (id),
    created_time INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX messages_by_waba ON messages (waba, seq);
