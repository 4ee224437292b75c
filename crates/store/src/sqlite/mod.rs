//! The embedded SQLite store: one file, WAL journal.
//!
//! Durability: `synchronous=NORMAL` with the WAL journal. A commit is written to the WAL before it
//! is acknowledged, so it survives the process being killed at any moment (the OS holds it); only a
//! power loss or OS crash can lose the last commits, never the database's consistency. This is the
//! one durability setting of the SQLite store (docs/operations.md).
//!
//! Connections: one writer, behind its own lock, makes every change; reads (audit, messages,
//! deliveries, the delivery worker's look-ahead, health) run on a small pool of read-only
//! connections. WAL gives each reader a snapshot of the last commit, so a read never waits for a
//! commit and a long read never holds one back.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use model::{AuditEvent, Change, DeliveryAttempt, GraphId, WebhookDelivery};
use rusqlite::{Connection, OptionalExtension};

use crate::sql::{self, Cell, P};
use crate::{AuditQuery, Result, Store, StoreError};

/// Schema migrations, applied in order; the schema's version is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("001_initial.sql"),
    include_str!("002_whatsapp_assets.sql"),
    include_str!("003_app_subscriptions.sql"),
    include_str!("004_webhook_deliveries.sql"),
    include_str!("005_scrub_messages.sql"),
    include_str!("006_audit_and_delivery_indexes.sql"),
];

/// How many read-only connections serve reads.
const READERS: usize = 4;

pub struct SqliteStore {
    /// The one connection that writes.
    conn: Mutex<Connection>,
    /// Read-only connections, each behind its own lock.
    readers: Vec<Mutex<Connection>>,
    /// Where the next reader is looked for when all are busy.
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date. Refuses a
    /// store whose schema is newer than this binary knows.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        create_private(path, false)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        let readers = (0..READERS).map(|_| open_reader(path).map(Mutex::new)).collect::<Result<_>>()?;
        Ok(SqliteStore { conn: Mutex::new(conn), readers, next_reader: AtomicUsize::new(0) })
    }

    /// Writes a consistent copy of the store at `from` to the new file `to` (`VACUUM INTO`: one
    /// read transaction, so servers keep reading and writing meanwhile), then checks the copy's
    /// integrity. Answers the copy's size in bytes.
    pub fn backup(from: &Path, to: &Path) -> Result<u64> {
        if !from.is_file() {
            return Err(StoreError::new(format!("there is no store at {}", from.display())));
        }
        if to.exists() {
            return Err(StoreError::new(format!("{} exists; a backup writes a new file", to.display())));
        }
        let target = to.to_str().ok_or_else(|| StoreError::new("the backup's path must be UTF-8"))?;
        // VACUUM INTO fills an empty file and keeps its mode: the copy is private from the start.
        create_private(to, true)?;
        let vacuum = || -> Result<()> {
            let conn = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            conn.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        };
        if let Err(e) = vacuum() {
            let _ = std::fs::remove_file(to);
            return Err(e);
        }
        let copy = Connection::open_with_flags(to, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::new(format!("the copy at {} fails its integrity check: {check}", to.display())));
        }
        Ok(std::fs::metadata(to).map_err(|e| StoreError::new(e.to_string()))?.len())
    }

    /// The writer.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied (it rolls back
        // on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read-only connection: a free one if any, else the next in turn once it is free. Never
    /// the writer, so a read does not wait for a commit.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(e)) => return e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A read-only connection to the store at `path` (whose schema is up to date).
fn open_reader(path: &Path) -> Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // Only waits while the WAL is being recovered or reset, never for a commit.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Creates `path` as an empty file only its owner can read and write (0600, whatever the
/// umask), unless it exists and `new` is false. SQLite gives the `-wal` and `-shm` files it
/// creates beside a database the database file's mode.
fn create_private(path: &Path, new: bool) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(0o600);
    if new {
        options.create_new(true)
    } else {
        options.create(true)
    };
    let existed = !new && path.exists();
    let file = options.open(path).map_err(|e| StoreError::new(format!("cannot create {}: {e}", path.display())))?;
    if !existed {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::new(format!("cannot make {} private: {e}", path.display())))?;
    }
    Ok(())
}

fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).optional()?.unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::new(format!(
            "the store's schema is version {current}, newer than this wabagate knows ({known}); upgrade wabagate"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [i as i64 + 1])?;
        tx.commit()?;
    }
    Ok(())
}

impl rusqlite::ToSql for P {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value};
        Ok(ToSqlOutput::Owned(match self {
            P::Int(v) => Value::Integer(*v),
            P::OptInt(Some(v)) => Value::Integer(*v),
            P::OptInt(None) => Value::Null,
            P::Text(v) | P::OptText(Some(v)) => Value::Text(v.clone()),
            P::OptText(None) => Value::Null,
            P::Bytes(v) => Value::Blob(v.clone()),
        }))
    }
}

fn cell(v: rusqlite::types::ValueRef<'_>) -> Cell<'_> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Cell::Int(i),
        // Only wabagate writes the store, and only valid UTF-8; anything else reads as NULL.
        ValueRef::Text(t) => std::str::from_utf8(t).map_or(Cell::Null, Cell::Text),
        ValueRef::Null | ValueRef::Real(_) | ValueRef::Blob(_) => Cell::Null,
    }
}

/// The shared SQL's `$n` placeholders as SQLite's `?n`: SQLite reads `$n` as a *named* parameter
/// numbered by first appearance, not by `n`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The widest row the shared SQL reads.
const MAX_COLUMNS: usize = 16;

/// Runs a query and hands each row's cells to `each`, without copying them out of SQLite.
fn each_row(conn: &Connection, sql: &str, params: &[P], mut each: impl FnMut(&[Cell<'_>]) -> Result<()>) -> Result<()> {
    let mut stmt = conn.prepare_cached(&numbered(sql))?;
    let width = stmt.column_count();
    if width > MAX_COLUMNS {
        return Err(StoreError::new(format!("a query reads {width} columns, more than {MAX_COLUMNS}")));
    }
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    while let Some(row) = rows.next()? {
        let mut cells = [Cell::Null; MAX_COLUMNS];
        for (i, cell_of) in cells.iter_mut().enumerate().take(width) {
            *cell_of = cell(row.get_ref(i)?);
        }
        each(&cells[..width])?;
    }
    Ok(())
}

/// The rows of a query, each decoded.
fn rows<T>(conn: &Connection, sql: &str, params: &[P], decode: fn(&[Cell<'_>]) -> Result<T>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    each_row(conn, sql, params, |cells| {
        out.push(decode(cells)?);
        Ok(())
    })?;
    Ok(out)
}

impl Store for SqliteStore {
    fn load_into(&self, apply: &mut dyn FnMut(Change)) -> Result<()> {
        let conn = self.conn();
        for (sql, decode) in sql::LOADS {
            each_row(&conn, sql, &[], |cells| {
                apply(decode(cells)?);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn commit(&self, _based_on: u64, changes: &[Change], audit: &[AuditEvent]) -> Result<Option<u64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for change in changes {
            for stmt in sql::writes(change)? {
                tx.prepare_cached(&numbered(stmt.sql))?.execute(rusqlite::params_from_iter(stmt.params.iter()))?;
            }
        }
        for event in audit {
            let stmt = sql::audit_insert(event)?;
            tx.prepare_cached(&numbered(stmt.sql))?.execute(rusqlite::params_from_iter(stmt.params.iter()))?;
        }
        tx.commit()?;
        Ok(None)
    }

    fn messages(&self, waba: GraphId, limit: usize) -> Result<Vec<model::Message>> {
        let conn = self.reader();
        rows(&conn, sql::MESSAGES, &[P::Int(sql::id(waba)?), P::Int(limit as i64)], sql::message_row)
    }

    fn prune_messages(&self, before: i64, limit: usize) -> Result<u64> {
        let conn = self.conn();
        Ok(conn.execute(&numbered(sql::PRUNE_MESSAGES), [before, limit as i64])? as u64)
    }

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let (query, params) = sql::audit_query(q)?;
        rows(&self.reader(), &query, &params, sql::audit_row)
    }

    fn ping(&self) -> Result<()> {
        self.reader().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> Result<Vec<WebhookDelivery>> {
        let conn = self.conn();
        let params = [P::Int(now_ms), P::Int(lease_until_ms), P::Int(limit as i64)];
        let mut claimed = rows(&conn, sql::CLAIM_DELIVERIES, &params, sql::delivery_row)?;
        // RETURNING gives no order.
        claimed.sort_by_key(|d| (d.event.due_ms, d.id));
        Ok(claimed)
    }

    fn next_delivery_due(&self) -> Result<Option<i64>> {
        let conn = self.reader();
        Ok(conn.query_row(&numbered(sql::NEXT_DELIVERY_DUE), [], |r| r.get(0))?)
    }

    fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()> {
        let conn = self.conn();
        let params = sql::record_attempt(attempt)?;
        conn.prepare_cached(&numbered(sql::RECORD_ATTEMPT))?.execute(rusqlite::params_from_iter(params.iter()))?;
        Ok(())
    }

    fn deliveries(&self, app: GraphId, before: Option<u64>, limit: usize) -> Result<Vec<WebhookDelivery>> {
        let conn = self.reader();
        let params = [P::Int(sql::id(app)?), P::OptInt(before.map(|b| b as i64)), P::Int(limit as i64)];
        rows(&conn, sql::DELIVERIES, &params, sql::delivery_row)
    }

    fn delivery(&self, id: u64) -> Result<Option<WebhookDelivery>> {
        let conn = self.reader();
        Ok(rows(&conn, sql::DELIVERY, &[P::Int(id as i64)], sql::delivery_row)?.pop())
    }

    fn redeliver(&self, id: u64, now_ms: i64) -> Result<Option<u64>> {
        let conn = self.conn();
        let new: Option<i64> =
            conn.query_row(&numbered(sql::REDELIVER), rusqlite::params![id as i64, now_ms], |r| r.get(0)).optional()?;
        Ok(new.map(|n| n as u64))
    }

    fn release_leases(&self, ids: &[u64]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for id in ids {
            tx.prepare_cached(&numbered(sql::RELEASE_LEASE))?.execute([*id as i64])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn release_all_leases(&self) -> Result<()> {
        self.conn().execute(sql::RELEASE_LEASES, [])?;
        Ok(())
    }

    fn prune_deliveries(&self, before_ms: i64) -> Result<u64> {
        let conn = self.conn();
        Ok(conn.execute(&numbered(sql::PRUNE_DELIVERIES), [before_ms])? as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite chooses for a query, one line per step.
    fn plan(conn: &Connection, query: &str, params: &[P]) -> String {
        let mut stmt = conn.prepare(&numbered(&format!("EXPLAIN QUERY PLAN {query}"))).unwrap();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).unwrap();
        let mut out = String::new();
        while let Some(row) = rows.next().unwrap() {
            out.push_str(&row.get::<_, String>(3).unwrap());
            out.push('\n');
        }
        out
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("wabagate.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn audit_reads_use_the_index_of_the_filter_they_name() {
        let (_dir, store) = store();
        let conn = store.reader();
        let id = Some(GraphId(1_000_000_000_000_001));
        for (q, index) in [
            (AuditQuery { business: id, limit: 25, ..Default::default() }, "audit_by_business"),
            (AuditQuery { business: id, before: Some(9), limit: 25, ..Default::default() }, "audit_by_business"),
            (AuditQuery { actor: id, limit: 25, ..Default::default() }, "audit_by_actor"),
            (AuditQuery { target: id, before: Some(9), limit: 25, ..Default::default() }, "audit_by_target"),
        ] {
            let (query, params) = sql::audit_query(&q).unwrap();
            let plan = plan(&conn, &query, &params);
            eprintln!("{query}\n{plan}");
            assert!(plan.contains(&format!("USING INDEX {index}")), "{query}: {plan}");
            assert!(!plan.contains("SCAN audit_events"), "{query}: {plan}");
        }
        // No filter: the newest events by their key, without a sort.
        let (query, params) = sql::audit_query(&AuditQuery { limit: 25, ..Default::default() }).unwrap();
        let plan = plan(&conn, &query, &params);
        eprintln!("{query}\n{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{query}: {plan}");
    }

    #[test]
    fn claiming_deliveries_walks_the_pending_index_in_order() {
        let (_dir, store) = store();
        let conn = store.conn();
        let params = [P::Int(0), P::Int(1), P::Int(10)];
        let plan = plan(&conn, sql::CLAIM_DELIVERIES, &params);
        eprintln!("{plan}");
        assert!(plan.contains("USING INDEX webhook_deliveries_due"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        assert!(!plan.contains("SCAN webhook_deliveries\n") && !plan.contains("SCAN d\n"), "{plan}");
    }

    fn event(n: i64) -> AuditEvent {
        AuditEvent {
            id: 0,
            time: n,
            business: GraphId(1_000_000_000_000_001),
            actor: model::Actor { user: GraphId(42), name: "x".into(), token: None, via: "api".into() },
            action: "test".into(),
            target: GraphId(1_000_000_000_000_002),
            target_type: "system_user".into(),
            before: None,
            after: None,
        }
    }

    #[test]
    fn a_long_read_does_not_hold_back_a_commit() {
        let (_dir, store) = store();
        store.commit(0, &[], &[event(1)]).unwrap();
        let count =
            |c: &Connection| -> i64 { c.query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0)).unwrap() };
        // A reader in the middle of a long read transaction.
        let reader = store.reader();
        reader.execute_batch("BEGIN").unwrap();
        assert_eq!(count(&reader), 1);
        // Commits go through meanwhile, and other reads see them.
        let started = std::time::Instant::now();
        for n in 2..=5 {
            store.commit(0, &[], &[event(n)]).unwrap();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(4), "the commits waited for the read");
        let q = AuditQuery { limit: 100, ..Default::default() };
        assert_eq!(store.audit(&q).unwrap().len(), 5);
        // The long read kept its snapshot.
        assert_eq!(count(&reader), 1);
        reader.execute_batch("COMMIT").unwrap();
        assert_eq!(count(&reader), 5);
    }

    #[test]
    fn reads_do_not_wait_for_the_writer() {
        let (_dir, store) = store();
        store.commit(0, &[], &[event(1)]).unwrap();
        let store = std::sync::Arc::new(store);
        // The writer is busy (held here as a long commit would hold it).
        let writer = store.conn();
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = store.clone();
        std::thread::spawn(move || {
            let q = AuditQuery { business: Some(GraphId(1_000_000_000_000_001)), limit: 10, ..Default::default() };
            let audit = reading.audit(&q).map(|events| events.len());
            let ping = reading.ping().is_ok();
            let due = reading.next_delivery_due().is_ok();
            let messages = reading.messages(GraphId(1_000_000_000_000_003), 10).is_ok();
            let deliveries = reading.deliveries(GraphId(1_000_000_000_000_004), None, 10).is_ok();
            let _ = tx.send((audit.ok(), ping, due, messages, deliveries));
        });
        let answered = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the reads waited for the writer");
        assert_eq!(answered, (Some(1), true, true, true, true));
        drop(writer);
    }

    #[test]
    fn placeholders_bind_by_number_whatever_their_order() {
        assert_eq!(numbered("SET a = $2 WHERE id = $1 AND b = '$x'"), "SET a = ?2 WHERE id = ?1 AND b = '$x'");
    }
}
