//! The PostgreSQL store, for several servers sharing one database. Writes are serialised across
//! servers by a transaction-scoped advisory lock; each appends its changes to the `changes` log
//! and notifies the other servers, which apply the log in order.
//!
//! Every call takes a connection of its own from a pool, and a write runs in a transaction on
//! that connection alone: nothing another call sends can join it. A write session
//! ([`Store::begin_write`]) holds its connection, its transaction and the cluster-wide lock from
//! the moment it reads the log until it commits.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{Metrics, Object, Pool, RecycleError, RecycleResult};

use futures_util::StreamExt;
use model::{AuditEvent, Change, DeliveryAttempt, GraphId, WebhookDelivery};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{AsyncMessage, Client, GenericClient, Row};

use crate::sql::{self, Cell, P};
use crate::{AuditQuery, Begun, Logged, Result, Store, StoreError, WriteSession};

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

/// How many connections one server holds at most (the notification connection aside).
const POOL_SIZE: usize = 16;

/// What the change log keeps (docs/operations.md): a server that fell further behind reloads
/// its whole world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRetention {
    /// At least this many of the newest rows ...
    pub rows: i64,
    /// ... and every row younger than this (seconds).
    pub seconds: i64,
    /// The log is compacted when a write's sequence number is a multiple of this.
    pub every: i64,
}

impl Default for LogRetention {
    fn default() -> Self {
        LogRetention { rows: 10_000, seconds: 600, every: 1_000 }
    }
}

/// Makes and checks the pool's connections: each through [`connect`], its tables looked up in
/// the store's schema.
struct Connector {
    url: String,
    schema: Option<String>,
}

impl deadpool::managed::Manager for Connector {
    type Type = PgConn;
    type Error = StoreError;

    async fn create(&self) -> Result<PgConn> {
        Ok(PgConn { client: connect(&self.url, self.schema.as_deref(), false).await?, statements: Default::default() })
    }

    async fn recycle(&self, client: &mut PgConn, _: &Metrics) -> RecycleResult<StoreError> {
        if client.is_closed() {
            return Err(RecycleError::message("the connection is closed"));
        }
        Ok(())
    }
}

type Conn = Object<Connector>;

/// A pooled connection and the statements prepared on it for writes (a write's statements are
/// a few dozen texts: each is prepared once per connection).
struct PgConn {
    client: Client,
    statements: std::sync::Mutex<std::collections::HashMap<&'static str, tokio_postgres::Statement>>,
}

impl std::ops::Deref for PgConn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

pub struct PgStore {
    url: String,
    schema: Option<String>,
    pool: Pool<Connector>,
    keep: std::sync::Mutex<LogRetention>,
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
        let mut client = connect(&url, schema.as_deref(), true).await?;
        migrate(&mut client).await?;
        drop(client);
        let pool = Pool::builder(Connector { url: url.clone(), schema: schema.clone() })
            .max_size(POOL_SIZE)
            .runtime(deadpool::Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| StoreError::new(format!("postgres pool: {e}")))?;
        let store = PgStore {
            url,
            schema,
            pool,
            keep: Default::default(),
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

    /// Sets what the change log keeps (the default keeps ten minutes and 10,000 rows).
    pub fn set_log_retention(&self, keep: LogRetention) {
        *self.keep.lock().unwrap_or_else(|e| e.into_inner()) = keep;
    }

    fn log_retention(&self) -> LogRetention {
        *self.keep.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection of the pool, for this call alone; a lost one is replaced.
    async fn client(&self) -> Result<Conn> {
        self.pool.get().await.map_err(|e| match e {
            deadpool::managed::PoolError::Backend(e) => e,
            other => StoreError::new(format!("postgres pool: {other}")),
        })
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

async fn migrate(client: &mut Client) -> Result<()> {
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
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
        let now: i64 = tx.query_opt("SELECT version FROM schema_version", &[]).await?.map(|r| r.get(0)).unwrap_or(0);
        if now > i as i64 {
            tx.commit().await?;
            continue;
        }
        tx.batch_execute(migration).await?;
        tx.execute("DELETE FROM schema_version", &[]).await?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&(i as i64 + 1)]).await?;
        // Dropped on an error: rolled back.
        tx.commit().await?;
    }
    Ok(())
}

/// Seconds since the epoch, for the log's rows.
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Runs one write's statements in the transaction open on `client`, pipelined: every statement
/// is sent without waiting for the answer to the one before (PostgreSQL runs them in order).
/// `cache`, when given, keeps the statements prepared on `client`'s connection.
async fn write_rows(
    client: &impl GenericClient,
    changes: &[Change],
    audit: &[AuditEvent],
    cache: Option<&PgConn>,
) -> Result<()> {
    let mut stmts = Vec::new();
    for change in changes {
        stmts.extend(sql::writes(change)?);
    }
    for event in audit {
        stmts.push(sql::audit_insert(event)?);
    }
    // Prepared first (in any order), so that each execution is sent on its first poll: in order.
    let mut texts: Vec<&'static str> = stmts.iter().map(|st| st.sql).collect();
    texts.sort_unstable();
    texts.dedup();
    let known: Vec<Option<tokio_postgres::Statement>> = match cache {
        Some(conn) => {
            let cached = conn.statements.lock().unwrap_or_else(|e| e.into_inner());
            texts.iter().map(|t| cached.get(t).cloned()).collect()
        }
        None => vec![None; texts.len()],
    };
    let prepared = futures_util::future::try_join_all(texts.iter().zip(known).map(|(t, known)| async move {
        match known {
            Some(statement) => Ok(statement),
            None => client.prepare(t).await,
        }
    }))
    .await?;
    if let Some(conn) = cache {
        let mut cached = conn.statements.lock().unwrap_or_else(|e| e.into_inner());
        for (t, statement) in texts.iter().zip(&prepared) {
            cached.entry(t).or_insert_with(|| statement.clone());
        }
    }
    let statement = |sql: &str| &prepared[texts.binary_search(&sql).unwrap_or_default()];
    let bound: Vec<Vec<&(dyn ToSql + Sync)>> = stmts.iter().map(|st| params(&st.params)).collect();
    futures_util::future::try_join_all(stmts.iter().zip(&bound).map(|(st, ps)| client.execute(statement(st.sql), ps)))
        .await?;
    Ok(())
}

/// The log's rows after `seq`, in order, read on `client`. A log compacted past `seq` cannot
/// answer: the error says so ([`StoreError::behind`]) and the caller reloads its world.
async fn log_since(client: &Client, seq: u64) -> Result<Vec<Logged>> {
    let (rows, head) = futures_util::future::try_join(log_rows(client, seq), log_head(client)).await?;
    checked_log(rows, head, seq)
}

async fn log_rows(client: &Client, seq: u64) -> Result<Vec<Row>> {
    Ok(client.query("SELECT seq, body FROM changes WHERE seq > $1 ORDER BY seq", &[&(seq as i64)]).await?)
}

async fn log_head(client: &Client) -> Result<i64> {
    Ok(client.query_one("SELECT coalesce(max(seq), 0) FROM changes", &[]).await?.get(0))
}

/// The rows after `seq`, decoded, unless they do not follow on from `seq`: the log was
/// compacted past it, or `seq` is ahead of the log (another database). Compaction keeps the
/// newest rows, so a log that has rows after `seq` still has the first of them unless it was
/// compacted past `seq`.
fn checked_log(rows: Vec<Row>, head: i64, seq: u64) -> Result<Vec<Logged>> {
    let follows = match rows.first() {
        Some(first) => first.get::<_, i64>(0) as u64 == seq + 1,
        // Nothing newer. A head past `seq` is a write committed between the two reads (outside a
        // write session they are two snapshots): the next read gets it. A head behind `seq` means
        // this position is not of this log.
        None => head as u64 >= seq,
    };
    if !follows {
        return Err(StoreError::behind());
    }
    rows.iter()
        .map(|r| {
            let seq: i64 = r.get(0);
            let body: String = r.get(1);
            Ok((seq as u64, serde_json::from_str(&body)?))
        })
        .collect()
}

/// The changes other servers need in their memory: messages and webhook events are not held
/// in memory, so they stay out of the log.
fn logged(changes: &[Change]) -> Vec<&Change> {
    changes.iter().filter(|c| !matches!(c, Change::Message(_) | Change::Event(_))).collect()
}

/// Appends a write to the log under the held lock, notifies, and now and then compacts the log.
/// Answers the write's sequence number, or `None` when it holds nothing for the log.
async fn append_log(
    client: &impl GenericClient,
    head: i64,
    changes: &[Change],
    keep: LogRetention,
) -> Result<Option<u64>> {
    let indexed = logged(changes);
    if indexed.is_empty() {
        return Ok(None);
    }
    let body = serde_json::to_string(&indexed)?;
    let seq = head + 1;
    let now = unix_now();
    client.execute("INSERT INTO changes (seq, body, created_at) VALUES ($1, $2, $3)", &[&seq, &body, &now]).await?;
    client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()]).await?;
    if keep.every > 0 && seq % keep.every == 0 {
        client
            .execute(
                "DELETE FROM changes WHERE seq <= $1 AND created_at < $2",
                &[&(seq - keep.rows), &(now - keep.seconds)],
            )
            .await?;
    }
    Ok(Some(seq as u64))
}

/// A write holding the cluster-wide lock in its own transaction, on a connection of its own.
struct PgSession {
    /// `None` once committed or rolled back.
    client: Option<Conn>,
    handle: Handle,
    /// The log's head when the lock was taken: no other write can move it while it is held.
    head: i64,
    keep: LogRetention,
}

impl WriteSession for PgSession {
    fn commit(mut self: Box<Self>, changes: &[Change], audit: &[AuditEvent]) -> Result<Option<u64>> {
        let client = self.client.take().ok_or_else(|| StoreError::new("the write session has ended"))?;
        let head = self.head;
        self.handle.block_on(async {
            let done = async {
                // Pipelined: the rows and the log's row are sent without waiting for each other.
                let ((), seq) = futures_util::future::try_join(
                    write_rows(&client.client, changes, audit, Some(&client)),
                    append_log(&client.client, head, changes, self.keep),
                )
                .await?;
                client.batch_execute("COMMIT").await?;
                Ok(seq)
            }
            .await;
            if done.is_err() {
                // Its state is unknown: the connection leaves the pool (PostgreSQL rolls back
                // what it had not committed).
                drop(Object::take(client));
            }
            done
        })
    }

    fn rollback(mut self: Box<Self>) {
        if let Some(client) = self.client.take() {
            let rolled = self.handle.block_on(client.batch_execute("ROLLBACK"));
            if rolled.is_err() {
                drop(Object::take(client));
            }
        }
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        // Neither committed nor rolled back (the write was abandoned): the connection, with its
        // open transaction and lock, is closed rather than handed to another call.
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

impl Store for PgStore {
    fn load_into(&self, apply: &mut dyn FnMut(Change)) -> Result<()> {
        self.block(async {
            // One snapshot for every table, streamed row by row.
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            for (sql, decode) in sql::LOADS {
                let rows = tx.query_raw(*sql, std::iter::empty::<&(dyn ToSql + Sync)>()).await?;
                futures_util::pin_mut!(rows);
                while let Some(row) = rows.next().await {
                    apply(decode(&cells(&row?))?);
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn commit(&self, based_on: u64, changes: &[Change], audit: &[AuditEvent]) -> Result<Option<u64>> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
            let head: i64 = tx.query_one("SELECT coalesce(max(seq), 0) FROM changes", &[]).await?.get(0);
            if head as u64 != based_on {
                return Err(StoreError::stale());
            }
            write_rows(&tx, changes, audit, None).await?;
            let seq = append_log(&tx, head, changes, self.log_retention()).await?;
            // Dropped on an error: rolled back.
            tx.commit().await?;
            Ok(Some(seq.unwrap_or(head as u64)))
        })
    }

    fn begin_write(&self, since: u64) -> Result<Option<Begun>> {
        self.block(async {
            let client = self.client().await?;
            let begun = async {
                // Pipelined: the log is read once the lock is held (PostgreSQL runs them in order).
                let lock = format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK});");
                let locked = async { Ok::<_, StoreError>(client.batch_execute(&lock).await?) };
                let ((), rows, head) =
                    futures_util::future::try_join3(locked, log_rows(&client, since), log_head(&client)).await?;
                Ok::<_, StoreError>((head, checked_log(rows, head, since)?))
            }
            .await;
            match begun {
                Ok((head, log)) => {
                    let keep = self.log_retention();
                    let session = PgSession { client: Some(client), handle: self.handle.clone(), head, keep };
                    Ok(Some((Box::new(session) as Box<dyn WriteSession>, log)))
                }
                Err(e) => {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                    Err(e)
                }
            }
        })
    }

    fn changes_since(&self, seq: u64) -> Result<Vec<Logged>> {
        self.block(async { log_since(&*self.client().await?, seq).await })
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
        // Only the filters given, so the planner uses the index of the one that narrows
        // (`audit_by_business`, `audit_by_actor`, `audit_by_target`), as on SQLite.
        let (query, ps) = sql::audit_query(q)?;
        self.block(async {
            let client = self.client().await?;
            let rows = client.query(query.as_str(), &params(&ps)).await?;
            rows.iter().map(|r| sql::audit_row(&cells(r))).collect()
        })
    }

    fn ping(&self) -> Result<()> {
        self.block(async {
            // A pooled connection the database ended is noticed only when used: one retry, on a
            // connection made for it, tells a store that is back from one that is not.
            if self.client().await?.query_one("SELECT 1", &[]).await.is_ok() {
                return Ok(());
            }
            connect(&self.url, self.schema.as_deref(), false).await?.query_one("SELECT 1", &[]).await?;
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
