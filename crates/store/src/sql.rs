//! The SQL both backends share: the statements that persist each [`Change`], and the queries that
//! load the world back. Written once with `$n` placeholders, which SQLite and PostgreSQL both read.

use model::{
    Assignment, AuditEvent, Change, DeliveryAttempt, DeliveryStatus, GraphId, Share, SolutionWaba, TaskSet, Token,
    WebhookDelivery, WebhookEvent,
};

use crate::{Result, StoreError};

/// A parameter of a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum P {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
}

/// A value read back, borrowed from its row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl Cell<'_> {
    fn int(&self) -> Result<i64> {
        match self {
            Cell::Int(v) => Ok(*v),
            other => Err(StoreError::new(format!("expected an integer column, found {other:?}"))),
        }
    }

    fn opt_int(&self) -> Result<Option<i64>> {
        match self {
            Cell::Null => Ok(None),
            other => other.int().map(Some),
        }
    }

    fn text(&self) -> Result<&str> {
        match self {
            Cell::Text(v) => Ok(v),
            other => Err(StoreError::new(format!("expected a text column, found {other:?}"))),
        }
    }

    fn opt_text(&self) -> Result<Option<&str>> {
        match self {
            Cell::Null => Ok(None),
            other => other.text().map(Some),
        }
    }
}

pub struct Stmt {
    pub sql: &'static str,
    pub params: Vec<P>,
}

pub fn id(v: GraphId) -> Result<i64> {
    i64::try_from(v.0).map_err(|_| StoreError::new(format!("id {v} is too large to store")))
}

fn gid(v: i64) -> GraphId {
    GraphId(v as u64)
}

fn json<T: serde::Serialize>(v: &T) -> Result<P> {
    Ok(P::Text(serde_json::to_string(v)?))
}

fn upsert_body(sql: &'static str, key: GraphId, body: P) -> Result<Vec<Stmt>> {
    Ok(vec![Stmt { sql, params: vec![P::Int(id(key)?), body] }])
}

/// The statements that make one change durable.
pub fn writes(change: &Change) -> Result<Vec<Stmt>> {
    match change {
        Change::Business(b) => upsert_body(
            "INSERT INTO businesses (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            b.id,
            json(b)?,
        ),
        Change::Person(p) => Ok(vec![Stmt {
            sql: "INSERT INTO persons (id, business, email, body) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (id) DO UPDATE SET email = excluded.email, body = excluded.body",
            params: vec![P::Int(id(p.id)?), P::Int(id(p.business)?), P::Text(p.email.to_lowercase()), json(p)?],
        }]),
        Change::App(a) => Ok(vec![Stmt {
            sql: "INSERT INTO apps (id, business, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(a.id)?), P::Int(id(a.business)?), json(a)?],
        }]),
        Change::SystemUser(s) => Ok(vec![Stmt {
            sql: "INSERT INTO system_users (id, business, body) VALUES ($1, $2, $3)
                  ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(s.id)?), P::Int(id(s.business)?), json(s)?],
        }]),
        Change::Token(t) => Ok(vec![Stmt {
            sql: "INSERT INTO tokens (id, hash, system_user, app, body, last_used_at) VALUES ($1, $2, $3, $4, $5, $6)
                  ON CONFLICT (id) DO UPDATE SET body = excluded.body,
                    last_used_at = CASE WHEN coalesce(tokens.last_used_at, 0) > coalesce(excluded.last_used_at, 0)
                                        THEN tokens.last_used_at ELSE excluded.last_used_at END",
            params: vec![
                P::Int(id(t.id)?),
                P::Bytes(t.hash.to_vec()),
                P::Int(id(t.system_user)?),
                P::Int(id(t.app)?),
                json(t)?,
                P::OptInt(t.last_used_at),
            ],
        }]),
        Change::Waba(w) => Ok(vec![Stmt {
            sql: "INSERT INTO wabas (id, owner, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(w.id)?), P::Int(id(w.owner)?), json(w)?],
        }]),
        Change::Share(s) => Ok(vec![Stmt {
            sql: "INSERT INTO shares (waba, partner, level, created_time) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (waba, partner) DO UPDATE SET level = excluded.level",
            params: vec![P::Int(id(s.waba)?), P::Int(id(s.partner)?), P::Text(s.level.as_str().into()), P::Int(s.created_time)],
        }]),
        Change::Unshare { waba, partner } => Ok(vec![
            Stmt {
                sql: "DELETE FROM assignments WHERE waba = $1 AND user_id IN
                        (SELECT id FROM system_users WHERE business = $2 UNION SELECT id FROM persons WHERE business = $2)",
                params: vec![P::Int(id(*waba)?), P::Int(id(*partner)?)],
            },
            Stmt {
                sql: "DELETE FROM shares WHERE waba = $1 AND partner = $2",
                params: vec![P::Int(id(*waba)?), P::Int(id(*partner)?)],
            },
        ]),
        Change::Assign(a) => Ok(vec![Stmt {
            sql: "INSERT INTO assignments (waba, user_id, tasks, assigned_time) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (waba, user_id) DO UPDATE SET tasks = excluded.tasks, assigned_time = excluded.assigned_time",
            params: vec![P::Int(id(a.waba)?), P::Int(id(a.user)?), P::Int(a.tasks.bits() as i64), P::Int(a.assigned_time)],
        }]),
        Change::Unassign { waba, user } => Ok(vec![Stmt {
            sql: "DELETE FROM assignments WHERE waba = $1 AND user_id = $2",
            params: vec![P::Int(id(*waba)?), P::Int(id(*user)?)],
        }]),
        Change::PhoneNumber(p) => Ok(vec![Stmt {
            sql: "INSERT INTO phone_numbers (id, waba, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(p.id)?), P::Int(id(p.waba)?), json(p)?],
        }]),
        Change::Template(t) => Ok(vec![Stmt {
            sql: "INSERT INTO templates (id, waba, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(t.id)?), P::Int(id(t.waba)?), json(t)?],
        }]),
        Change::DeleteTemplate { id: template } => {
            Ok(vec![Stmt { sql: "DELETE FROM templates WHERE id = $1", params: vec![P::Int(id(*template)?)] }])
        }
        Change::CreditLine(c) => Ok(vec![Stmt {
            sql: "INSERT INTO credit_lines (id, business, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(c.id)?), P::Int(id(c.business)?), json(c)?],
        }]),
        Change::Solution(x) => upsert_body(
            "INSERT INTO solutions (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            x.id,
            json(x)?,
        ),
        Change::OnboardToSolution(x) => Ok(vec![Stmt {
            sql: "INSERT INTO solution_wabas (waba, solution, created_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            params: vec![P::Int(id(x.waba)?), P::Int(id(x.solution)?), P::Int(x.created_time)],
        }]),
        Change::Allocation(x) => Ok(vec![Stmt {
            sql: "INSERT INTO allocations (id, credit_line, waba, body) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(x.id)?), P::Int(id(x.credit_line)?), P::Int(id(x.waba)?), json(x)?],
        }]),
        Change::Subscribe(x) => Ok(vec![Stmt {
            sql: "INSERT INTO subscribed_apps (waba, app, body) VALUES ($1, $2, $3)
                  ON CONFLICT (waba, app) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(x.waba)?), P::Int(id(x.app)?), json(x)?],
        }]),
        Change::Unsubscribe { waba, app } => Ok(vec![Stmt {
            sql: "DELETE FROM subscribed_apps WHERE waba = $1 AND app = $2",
            params: vec![P::Int(id(*waba)?), P::Int(id(*app)?)],
        }]),
        Change::AppSubscribe(x) => Ok(vec![Stmt {
            sql: "INSERT INTO app_subscriptions (app, object, body) VALUES ($1, $2, $3)
                  ON CONFLICT (app, object) DO UPDATE SET body = excluded.body",
            params: vec![P::Int(id(x.app)?), P::Text(x.object.clone()), json(x)?],
        }]),
        Change::AppUnsubscribe { app, object } => Ok(vec![Stmt {
            sql: "DELETE FROM app_subscriptions WHERE app = $1 AND object = $2",
            params: vec![P::Int(id(*app)?), P::Text(object.clone())],
        }]),
        Change::Message(m) => Ok(vec![Stmt {
            sql: "INSERT INTO messages (id, waba, phone_number, created_time, body) VALUES ($1, $2, $3, $4, $5)",
            params: vec![P::Text(m.id.clone()), P::Int(id(m.waba)?), P::Int(id(m.phone_number)?), P::Int(m.created_time), json(m)?],
        }]),
        Change::Event(e) => Ok(vec![Stmt {
            sql: "INSERT INTO webhook_deliveries (app, entry, waba, field, body, due_ms, next_attempt_ms)
                  VALUES ($1, $2, $3, $4, $5, $6, $6)",
            params: vec![
                P::Int(id(e.app)?),
                P::Int(id(e.entry)?),
                P::OptInt(e.waba.map(id).transpose()?),
                P::Text(e.field.clone()),
                P::Text(e.body.clone()),
                P::Int(e.due_ms),
            ],
        }]),
        Change::TokensUsed { uses } => uses
            .iter()
            .map(|(token, at)| {
                Ok(Stmt {
                    sql: "UPDATE tokens SET last_used_at = CASE WHEN coalesce(last_used_at, 0) > $2 THEN last_used_at ELSE $2 END
                          WHERE id = $1",
                    params: vec![P::Int(id(*token)?), P::Int(*at)],
                })
            })
            .collect(),
    }
}

/// The statement that records one audit event.
pub fn audit_insert(event: &AuditEvent) -> Result<Stmt> {
    let mut event = event.clone();
    event.id = 0;
    Ok(Stmt {
        sql: "INSERT INTO audit_events (time, business, actor, target, body) VALUES ($1, $2, $3, $4, $5)",
        params: vec![
            P::Int(event.time),
            P::Int(id(event.business)?),
            P::Int(id(event.actor.user)?),
            P::Int(id(event.target)?),
            json(&event)?,
        ],
    })
}

/// The audit query for the filters actually given (a filter left out is not in the WHERE clause,
/// so each query can use the index of the filter it names: `audit_by_business`,
/// `audit_by_actor`, `audit_by_target`, or the primary key alone), with its parameters.
pub fn audit_query(q: &crate::AuditQuery) -> Result<(String, Vec<P>)> {
    let mut conds: Vec<String> = Vec::new();
    let mut params = Vec::new();
    for (column, value) in [("business", q.business), ("actor", q.actor), ("target", q.target)] {
        if let Some(v) = value {
            params.push(P::Int(id(v)?));
            conds.push(format!("{column} = ${}", params.len()));
        }
    }
    if let Some(before) = q.before {
        params.push(P::Int(before.min(i64::MAX as u64) as i64));
        conds.push(format!("seq < ${}", params.len()));
    }
    params.push(P::Int(q.limit.min(i64::MAX as usize) as i64));
    let filter = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    Ok((format!("SELECT seq, body FROM audit_events{filter} ORDER BY seq DESC LIMIT ${}", params.len()), params))
}

/// The queries that load the world, in an order `World::apply` accepts, with how each row becomes
/// a change.
pub type Decode = fn(&[Cell<'_>]) -> Result<Change>;

fn body<T: serde::de::DeserializeOwned>(row: &[Cell<'_>]) -> Result<T> {
    Ok(serde_json::from_str(row[0].text()?)?)
}

pub const LOADS: &[(&str, Decode)] = &[
    ("SELECT body FROM businesses ORDER BY id", |r| Ok(Change::Business(Box::new(body(r)?)))),
    ("SELECT body FROM persons ORDER BY id", |r| Ok(Change::Person(Box::new(body(r)?)))),
    ("SELECT body FROM apps ORDER BY id", |r| Ok(Change::App(Box::new(body(r)?)))),
    ("SELECT body FROM system_users ORDER BY id", |r| Ok(Change::SystemUser(Box::new(body(r)?)))),
    ("SELECT body, last_used_at FROM tokens ORDER BY id", |r| {
        let mut token: Token = body(r)?;
        token.last_used_at = token.last_used_at.max(r[1].opt_int()?);
        Ok(Change::Token(Box::new(token)))
    }),
    ("SELECT body FROM wabas ORDER BY id", |r| Ok(Change::Waba(Box::new(body(r)?)))),
    ("SELECT waba, partner, level, created_time FROM shares ORDER BY waba, partner", |r| {
        let level = serde_json::from_value(serde_json::Value::String(r[2].text()?.to_string()))?;
        Ok(Change::Share(Share { waba: gid(r[0].int()?), partner: gid(r[1].int()?), level, created_time: r[3].int()? }))
    }),
    ("SELECT waba, user_id, tasks, assigned_time FROM assignments ORDER BY waba, user_id", |r| {
        Ok(Change::Assign(Assignment {
            waba: gid(r[0].int()?),
            user: gid(r[1].int()?),
            tasks: TaskSet::from_bits(r[2].int()? as u16),
            assigned_time: r[3].int()?,
        }))
    }),
    ("SELECT body FROM phone_numbers ORDER BY id", |r| Ok(Change::PhoneNumber(Box::new(body(r)?)))),
    ("SELECT body FROM templates ORDER BY id", |r| Ok(Change::Template(Box::new(body(r)?)))),
    ("SELECT body FROM credit_lines ORDER BY id", |r| Ok(Change::CreditLine(Box::new(body(r)?)))),
    ("SELECT body FROM solutions ORDER BY id", |r| Ok(Change::Solution(Box::new(body(r)?)))),
    ("SELECT waba, solution, created_time FROM solution_wabas ORDER BY waba, solution", |r| {
        Ok(Change::OnboardToSolution(SolutionWaba {
            waba: gid(r[0].int()?),
            solution: gid(r[1].int()?),
            created_time: r[2].int()?,
        }))
    }),
    ("SELECT body FROM allocations ORDER BY id", |r| Ok(Change::Allocation(Box::new(body(r)?)))),
    ("SELECT body FROM subscribed_apps ORDER BY waba, app", |r| Ok(Change::Subscribe(Box::new(body(r)?)))),
    ("SELECT body FROM app_subscriptions ORDER BY app, object", |r| Ok(Change::AppSubscribe(Box::new(body(r)?)))),
];

/// Deletes the oldest messages created before `$1`, at most `$2` of them.
pub const PRUNE_MESSAGES: &str = "DELETE FROM messages WHERE seq IN
    (SELECT seq FROM messages WHERE created_time < $1 ORDER BY created_time LIMIT $2)";

/// The newest messages of a WABA: parameters `waba`, `limit`.
pub const MESSAGES: &str = "SELECT body FROM messages WHERE waba = $1 ORDER BY seq DESC LIMIT $2";

/// Decodes a message row (`body`).
pub fn message_row(row: &[Cell<'_>]) -> Result<model::Message> {
    body(row)
}

/// Decodes an audit row (`seq, body`).
pub fn audit_row(row: &[Cell<'_>]) -> Result<AuditEvent> {
    let mut event: AuditEvent = serde_json::from_str(row[1].text()?)?;
    event.id = row[0].int()? as u64;
    Ok(event)
}

/// The columns of a webhook delivery, in the order [`delivery_row`] reads them.
macro_rules! delivery_columns {
    () => {
        "id, app, entry, waba, field, body, due_ms, status, attempts, next_attempt_ms, last_code, last_error, \
         latency_ms, callback_url, finished_ms"
    };
}

/// Pending deliveries no earlier pending delivery of the same app and entry holds back: each
/// app's events about one entry go out one at a time, in order.
macro_rules! delivery_heads {
    () => {
        "d.status = 'pending' AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries e
            WHERE e.status = 'pending' AND e.app = d.app AND e.entry = d.entry
              AND (e.due_ms < d.due_ms OR (e.due_ms = d.due_ms AND e.id < d.id)))"
    };
}

/// Leases the deliveries that are due and at the head of their line: parameters `now`,
/// `lease_until`, `limit`. A lease that runs out (its server stopped mid-send) frees the
/// delivery for another attempt.
pub const CLAIM_DELIVERIES: &str = concat!(
    "UPDATE webhook_deliveries SET lease_until_ms = $2
     WHERE id IN (SELECT d.id FROM webhook_deliveries d
                  WHERE d.next_attempt_ms <= $1 AND (d.lease_until_ms IS NULL OR d.lease_until_ms <= $1) AND ",
    delivery_heads!(),
    " ORDER BY d.due_ms, d.id LIMIT $3)
       AND status = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms <= $1)
     RETURNING ",
    delivery_columns!()
);

/// When the next delivery at the head of its line falls due (or its lease runs out).
pub const NEXT_DELIVERY_DUE: &str = concat!(
    "SELECT min(CASE WHEN d.lease_until_ms > d.next_attempt_ms THEN d.lease_until_ms ELSE d.next_attempt_ms END)
     FROM webhook_deliveries d WHERE ",
    delivery_heads!()
);

/// Records an attempt: parameters `id, status, next_attempt_ms, code, error, latency, callback, finished`.
pub const RECORD_ATTEMPT: &str = "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
        next_attempt_ms = $3, lease_until_ms = NULL, last_code = $4, last_error = $5, latency_ms = $6,
        callback_url = $7, finished_ms = $8
     WHERE id = $1";

pub fn record_attempt(a: &DeliveryAttempt) -> Result<Vec<P>> {
    let finished = a.status != DeliveryStatus::Pending;
    Ok(vec![
        P::Int(i64::try_from(a.id).map_err(|_| StoreError::new("delivery id out of range"))?),
        P::Text(a.status.as_str().into()),
        P::Int(a.next_attempt_ms),
        P::OptInt(a.code.map(i64::from)),
        P::OptText(a.error.clone()),
        P::Int(a.latency_ms),
        P::OptText(a.callback_url.clone()),
        P::OptInt(finished.then_some(a.at_ms)),
    ])
}

/// An app's deliveries, newest first: parameters `app`, `before` (an id, or NULL), `limit`.
pub const DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE app = $1 AND id < coalesce($2, 9223372036854775807) ORDER BY id DESC LIMIT $3"
);

/// One delivery: parameter `id`.
pub const DELIVERY: &str = concat!("SELECT ", delivery_columns!(), " FROM webhook_deliveries WHERE id = $1");

/// Queues a delivery's event again, as a new delivery due now: parameters `id`, `now`.
pub const REDELIVER: &str = "INSERT INTO webhook_deliveries (app, entry, waba, field, body, due_ms, next_attempt_ms)
     SELECT app, entry, waba, field, body, $2, $2 FROM webhook_deliveries WHERE id = $1
     RETURNING id";

/// Frees one delivery's lease: parameter `id`.
pub const RELEASE_LEASE: &str =
    "UPDATE webhook_deliveries SET lease_until_ms = NULL WHERE id = $1 AND status = 'pending'";

/// Frees every lease (a store of one server's own, at its start: no attempt is in flight).
pub const RELEASE_LEASES: &str =
    "UPDATE webhook_deliveries SET lease_until_ms = NULL WHERE status = 'pending' AND lease_until_ms IS NOT NULL";

/// Forgets finished deliveries older than a time: parameter `before`.
pub const PRUNE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND finished_ms < $1";

/// Decodes a delivery row ([`delivery_columns`]).
pub fn delivery_row(r: &[Cell<'_>]) -> Result<WebhookDelivery> {
    let status = r[7].text()?;
    Ok(WebhookDelivery {
        id: r[0].int()? as u64,
        event: WebhookEvent {
            app: gid(r[1].int()?),
            entry: gid(r[2].int()?),
            waba: r[3].opt_int()?.map(gid),
            field: r[4].text()?.to_string(),
            body: r[5].text()?.to_string(),
            due_ms: r[6].int()?,
        },
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| StoreError::new(format!("unknown delivery status '{status}'")))?,
        attempts: r[8].int()? as u32,
        next_attempt_ms: r[9].int()?,
        last_code: r[10].opt_int()?.map(|c| c as u16),
        last_error: r[11].opt_text()?.map(str::to_string),
        latency_ms: r[12].opt_int()?,
        callback_url: r[13].opt_text()?.map(str::to_string),
        finished_ms: r[14].opt_int()?,
    })
}
