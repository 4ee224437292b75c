//! The PostgreSQL store, for several servers sharing one database. Writes are serialised across
//! servers by a transaction-scoped advisory lock; each appends its changes to the `changes` log
//! and notifies the other servers, which apply the log in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use model::{AuditEvent, Change, DeliveryAttempt, GraphId, WebhookDelivery};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{AsyncMessage, Client, Row};

use crate::sql::{self, Cell, P};
use crate::{AuditQuery, Result, Store, StoreError};

mod tls;

/// Schema migrations, applied in order; the schema's version is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("001_initial.sql"),
    include_str!("002_app_subscriptions.sql"),
    include_str!("003_webhook_deliveries.sql"),
    include_str!("004_scrub_messages.sql"),
    include_str!("005_audit_and_delivery_indexes.sql"),
];

/// The channel servers NOTIFY on after each write.
pub const CHANNEL: &str = "wabagate_changes";

/// The advisory lock every write holds (a constant key: "wabagate" in ASCII).
const WRITE_LOCK: i64 = 0x7761_6261_6761_7465;

pub struct PgStore {
    url: String,
    schema: Option<String>,
    client: Mutex<Option<Arc<Client>>>,
    handle: Handle,
    changed: Arc<Notify>,
    /// Generations of the notification connection: odd while listening, even while not.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl ToSql for P {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            P::Int(v) => v.to_sql(ty, out),
            P::OptInt(v) => v.to_sql(ty, out),
            P::Text(v) => v.to_sql(ty, out),
            P::OptText(v) => v.to_sql(ty, out),
            P::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty) || <String as ToSql>::accepts(ty) || <Vec<u8> as ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

fn cells(row: &Row) -> Vec<Cell<'_>> {
    (0..row.len())
        .map(|i| match *row.columns()[i].type_() {
            Type::INT8 | Type::INT4 => row
                .try_get::<_, Option<i64>>(i)
                .ok()
                .flatten()
                .map(Cell::Int)
                .or_else(|| row.try_get::<_, Option<i32>>(i).ok().flatten().map(|v| Cell::Int(v as i64)))
                .unwrap_or(Cell::Null),
            _ => row.try_get::<_, Option<&str>>(i).ok().flatten().map(Cell::Text).unwrap_or(Cell::Null),
        })
        .collect()
}

fn params(ps: &[P]) -> Vec<&(dyn ToSql + Sync)> {
    ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// Splits wabagate's own `schema=` parameter off a database URL.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None) };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(s) => {
                schema = Some(s.to_string());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    (url, schema)
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A connection, its tables looked up in `schema`; `create` makes the schema first (only a
/// store being opened does: a reconnect must not bring back a schema dropped meanwhile).
async fn connect(url: &str, schema: Option<&str>, create: bool) -> Result<Client> {
    let (client, connection) = tls::connect(url).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the PostgreSQL connection ended");
        }
    });
    if let Some(schema) = schema {
        if create {
            client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
        }
        client.batch_execute(&format!("SET search_path TO {schema}")).await?;
    }
    Ok(client)
}

impl PgStore {
    /// Connects, brings the schema up to date, and starts listening for other servers' writes.
    /// `url` is a libpq-style URL; `?schema=NAME` keeps wabagate's tables in that schema.
    pub async fn open(url: &str) -> Result<PgStore> {
        let (url, schema) = split_schema(url);
        if let Some(s) = schema.as_ref().filter(|s| !valid_schema(s)) {
            return Err(StoreError::new(format!("schema '{s}' must be lowercase letters, digits and underscores")));
        }
        let client = connect(&url, schema.as_deref(), true).await?;
        migrate(&client).await?;
        let store = PgStore {
            url,
            schema,
            client: Mutex::new(Some(Arc::new(client))),
            handle: Handle::current(),
            changed: Arc::new(Notify::new()),
            generation: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        };
        store.spawn_listener();
        Ok(store)
    }

    fn spawn_listener(&self) {
        let (url, schema, changed) = (self.url.clone(), self.schema.clone(), self.changed.clone());
        let generation = self.generation.clone();
        let set_listening = move |on: bool| {
            use std::sync::atomic::Ordering;
            let g = generation.load(Ordering::SeqCst);
            if (g % 2 == 1) != on {
                generation.store(g + 1, Ordering::SeqCst);
            }
        };
        self.handle.spawn(async move {
            loop {
                match tls::connect(&url).await {
                    Ok((client, mut connection)) => {
                        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                        let listen = async {
                            if let Some(schema) = &schema {
                                client.batch_execute(&format!("SET search_path TO {schema}")).await?;
                            }
                            client.batch_execute(&format!("LISTEN {CHANNEL}")).await
                        };
                        // The LISTEN only completes while the connection is polled.
                        let mut listen = std::pin::pin!(listen);
                        let listening = loop {
                            tokio::select! {
                                r = &mut listen => break r.is_ok(),
                                m = messages.next() => if m.is_none() { break false },
                            }
                        };
                        if listening {
                            set_listening(true);
                            // Anything written while this server was not listening is in the log.
                            changed.notify_one();
                            while let Some(m) = messages.next().await {
                                match m {
                                    Ok(AsyncMessage::Notification(_)) => changed.notify_one(),
                                    Ok(_) => {}
                                    Err(_) => break,
                                }
                            }
                        }
                        set_listening(false);
                        tracing::warn!("lost the PostgreSQL notification connection; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot reach PostgreSQL for notifications; retrying"),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// The client, reconnecting if the connection was lost.
    async fn client(&self) -> Result<Arc<Client>> {
        let current = self.client.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(c) = current.filter(|c| !c.is_closed()) {
            return Ok(c);
        }
        let fresh = Arc::new(connect(&self.url, self.schema.as_deref(), false).await?);
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    /// Runs a future on the runtime from a blocking thread (the store's callers are blocking).
    fn block<T>(&self, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        self.handle.block_on(f)
    }

    /// Drops every table of this store's schema, ending the connections whose application_name
    /// starts with the schema's name (tests' cleanup).
    pub async fn drop_schema(url: &str) -> Result<()> {
        let (url, schema) = split_schema(url);
        let Some(schema) = schema.filter(|s| valid_schema(s)) else { return Ok(()) };
        let client = connect(&url, None, false).await?;
        // The servers of that schema may still hold connections (their tests ended without
        // stopping them): end those first, so the drop waits on no lock of theirs.
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name LIKE $1 AND pid <> pg_backend_pid()",
                &[&format!("{schema}%")],
            )
            .await?;
        client.batch_execute(&format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE")).await?;
        Ok(())
    }
}

async fn migrate(client: &Client) -> Result<()> {
    client.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").await?;
    let current: i64 =
        client.query_opt("SELECT version FROM schema_version", &[]).await?.map(|r| r.get::<_, i64>(0)).unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::new(format!(
            "the store's schema is version {current}, newer than this wabagate knows ({known}); upgrade wabagate"
        )));
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        // Two servers starting at once: the lock makes one migrate and the other see it done.
        client.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK});")).await?;
        let now: i64 =
            client.query_opt("SELECT version FROM schema_version", &[]).await?.map(|r| r.get(0)).unwrap_or(0);
        if now > i as i64 {
            client.batch_execute("COMMIT").await?;
            continue;
        }
        let applied = async {
            client.batch_execute(migration).await?;
            client.execute("DELETE FROM schema_version", &[]).await?;
            client.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(i as i64 + 1)]).await?;
            client.batch_execute("COMMIT").await
        }
        .await;
        if let Err(e) = applied {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e.into());
        }
    }
    Ok(())
}

impl Store for PgStore {
    fn load_into(&self, apply: &mut dyn FnMut(Change)) -> Result<()> {
        self.block(async {
            // A connection of its own: one snapshot for every table, streamed row by row.
            let client = connect(&self.url, self.schema.as_deref(), false).await?;
            client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
            let loaded = async {
                for (sql, decode) in sql::LOADS {
                    let rows = client.query_raw(*sql, std::iter::empty::<&(dyn ToSql + Sync)>()).await?;
                    futures_util::pin_mut!(rows);
                    while let Some(row) = rows.next().await {
                        apply(decode(&cells(&row?))?);
                    }
                }
                Ok::<_, StoreError>(())
            }
            .await;
            client.batch_execute(if loaded.is_ok() { "COMMIT" } else { "ROLLBACK" }).await?;
            loaded
        })
    }

    fn commit(&self, based_on: u64, changes: &[Change], audit: &[AuditEvent]) -> Result<Option<u64>> {
        // Other servers apply the log to their memory: what memory does not hold stays out of it.
        let indexed: Vec<&Change> =
            changes.iter().filter(|c| !matches!(c, Change::Message(_) | Change::Event(_))).collect();
        let body = serde_json::to_string(&indexed)?;
        self.block(async {
            let client = self.client().await?;
            client.batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK});")).await?;
            let done = async {
                let head: i64 = client.query_one("SELECT coalesce(max(seq), 0) FROM changes", &[]).await?.get(0);
                if head as u64 != based_on {
                    return Err(StoreError::stale());
                }
                for change in changes {
                    for stmt in sql::writes(change)? {
                        client.execute(stmt.sql, &params(&stmt.params)).await?;
                    }
                }
                for event in audit {
                    let stmt = sql::audit_insert(event)?;
                    client.execute(stmt.sql, &params(&stmt.params)).await?;
                }
                let seq = head + 1;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                client
                    .execute("INSERT INTO changes (seq, body, created_at) VALUES ($1, $2, $3)", &[&seq, &body, &now])
                    .await?;
                client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()]).await?;
                client.batch_execute("COMMIT").await?;
                Ok(seq as u64)
            }
            .await;
            if done.is_err() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            done.map(Some)
        })
    }

    fn changes_since(&self, seq: u64) -> Result<Vec<(u64, Vec<Change>)>> {
        self.block(async {
            let client = self.client().await?;
            let rows =
                client.query("SELECT seq, body FROM changes WHERE seq > $1 ORDER BY seq", &[&(seq as i64)]).await?;
            rows.iter()
                .map(|r| {
                    let seq: i64 = r.get(0);
                    let body: String = r.get(1);
                    Ok((seq as u64, serde_json::from_str(&body)?))
                })
                .collect()
        })
    }

    fn log_head(&self) -> Result<u64> {
        self.block(async {
            let client = self.client().await?;
            let head: i64 = client.query_one("SELECT coalesce(max(seq), 0) FROM changes", &[]).await?.get(0);
            Ok(head as u64)
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn listening(&self) -> Option<u64> {
        let g = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        (g % 2 == 1).then_some(g)
    }

    fn watch(&self) -> Option<Arc<Notify>> {
        Some(self.changed.clone())
    }

    fn prune_messages(&self, before: i64, limit: usize) -> Result<u64> {
        self.block(async {
            let client = self.client().await?;
            Ok(client.execute(sql::PRUNE_MESSAGES, &[&before, &(limit as i64)]).await?)
        })
    }

    fn messages(&self, waba: GraphId, limit: usize) -> Result<Vec<model::Message>> {
        let waba = sql::id(waba)?;
        self.block(async {
            let client = self.client().await?;
            let rows = client.query(sql::MESSAGES, &[&waba, &(limit as i64)]).await?;
            rows.iter().map(|r| sql::message_row(&cells(r))).collect()
        })
    }

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let opt = |v: Option<GraphId>| -> Result<Option<i64>> { v.map(sql::id).transpose() };
        let (business, actor, target) = (opt(q.business)?, opt(q.actor)?, opt(q.target)?);
        let before = q.before.map(|b| b as i64);
        let limit = q.limit as i64;
        self.block(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT seq, body FROM audit_events
                     WHERE ($1::BIGINT IS NULL OR business = $1) AND ($2::BIGINT IS NULL OR actor = $2)
                       AND ($3::BIGINT IS NULL OR target = $3) AND ($4::BIGINT IS NULL OR seq < $4)
                     ORDER BY seq DESC LIMIT $5",
                    &[&business, &actor, &target, &before, &limit],
                )
                .await?;
            rows.iter().map(|r| sql::audit_row(&cells(r))).collect()
        })
    }

    fn ping(&self) -> Result<()> {
        self.block(async {
            self.client().await?.query_one("SELECT 1", &[]).await?;
            Ok(())
        })
    }

    fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> Result<Vec<WebhookDelivery>> {
        let ps = [P::Int(now_ms), P::Int(lease_until_ms), P::Int(limit as i64)];
        let mut claimed = self.block(async {
            let client = self.client().await?;
            let rows = client.query(sql::CLAIM_DELIVERIES, &params(&ps)).await?;
            rows.iter().map(|r| sql::delivery_row(&cells(r))).collect::<Result<Vec<_>>>()
        })?;
        claimed.sort_by_key(|d| (d.event.due_ms, d.id));
        Ok(claimed)
    }

    fn next_delivery_due(&self) -> Result<Option<i64>> {
        self.block(async {
            let client = self.client().await?;
            Ok(client.query_one(sql::NEXT_DELIVERY_DUE, &[]).await?.get::<_, Option<i64>>(0))
        })
    }

    fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()> {
        let ps = sql::record_attempt(attempt)?;
        self.block(async {
            let client = self.client().await?;
            client.execute(sql::RECORD_ATTEMPT, &params(&ps)).await?;
            Ok(())
        })
    }

    fn deliveries(&self, app: GraphId, before: Option<u64>, limit: usize) -> Result<Vec<WebhookDelivery>> {
        let ps = [P::Int(sql::id(app)?), P::OptInt(before.map(|b| b as i64)), P::Int(limit as i64)];
        self.block(async {
            let client = self.client().await?;
            let rows = client.query(sql::DELIVERIES, &params(&ps)).await?;
            rows.iter().map(|r| sql::delivery_row(&cells(r))).collect()
        })
    }

    fn delivery(&self, id: u64) -> Result<Option<WebhookDelivery>> {
        self.block(async {
            let client = self.client().await?;
            let rows = client.query(sql::DELIVERY, &[&(id as i64)]).await?;
            rows.first().map(|r| sql::delivery_row(&cells(r))).transpose()
        })
    }

    fn redeliver(&self, id: u64, now_ms: i64) -> Result<Option<u64>> {
        self.block(async {
            let client = self.client().await?;
            let row = client.query_opt(sql::REDELIVER, &[&(id as i64), &now_ms]).await?;
            Ok(row.map(|r| r.get::<_, i64>(0) as u64))
        })
    }

    fn release_leases(&self, ids: &[u64]) -> Result<()> {
        self.block(async {
            let client = self.client().await?;
            for id in ids {
                client.execute(sql::RELEASE_LEASE, &[&(*id as i64)]).await?;
            }
            Ok(())
        })
    }

    fn release_all_leases(&self) -> Result<()> {
        // Other servers may be sending: their leases run out on their own.
        Ok(())
    }

    fn prune_deliveries(&self, before_ms: i64) -> Result<u64> {
        self.block(async {
            let client = self.client().await?;
            Ok(client.execute(sql::PRUNE_DELIVERIES, &[&before_ms]).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_wabagate_s_own() {
        assert_eq!(split_schema("postgres://u@h/db?schema=s1"), ("postgres://u@h/db".into(), Some("s1".into())));
        assert_eq!(
            split_schema("postgres://u@h/db?sslmode=disable&schema=s1"),
            ("postgres://u@h/db?sslmode=disable".into(), Some("s1".into()))
        );
        assert_eq!(split_schema("postgres://u@h/db"), ("postgres://u@h/db".into(), None));
        assert!(!valid_schema("x; DROP TABLE y"));
    }
}
