-- Apps' webhook subscriptions (POST /{app}/subscriptions), one per object type.
CREATE TABLE app_subscriptions (
    app    INTEGER NOT NULL REFERENCES apps (id),
    object TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (app, object)
) WITHOUT ROWID;
