//! The embedded SQLite store: one file, WAL journal.
//!
//! Durability: `synchronous=NORMAL` with the WAL journal. A commit is written to the WAL before it
//! is acknowledged, so it survives the process being killed at any moment (the OS holds it); only a
//! power loss or OS crash can lose the last commits, never the database's consistency. This is the
//! one durability setting of the SQLite store (docs/operations.md).

use std::path::Path;
use std::sync::Mutex;

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
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
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
        Ok(SqliteStore { conn: Mutex::new(conn) })
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

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied (it rolls back
        // on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
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
        let conn = self.conn();
        rows(&conn, sql::MESSAGES, &[P::Int(sql::id(waba)?), P::Int(limit as i64)], sql::message_row)
    }

    fn prune_messages(&self, before: i64, limit: usize) -> Result<u64> {
        let conn = self.conn();
        Ok(conn.execute(&numbered(sql::PRUNE_MESSAGES), [before, limit as i64])? as u64)
    }

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let conn = self.conn();
        let opt = |v: Option<GraphId>| -> Result<P> { Ok(P::OptInt(v.map(sql::id).transpose()?)) };
        let params = [
            opt(q.business)?,
            opt(q.actor)?,
            opt(q.target)?,
            P::OptInt(q.before.map(|b| b as i64)),
            P::Int(q.limit as i64),
        ];
        rows(
            &conn,
            "SELECT seq, body FROM audit_events
             WHERE ($1 IS NULL OR business = $1) AND ($2 IS NULL OR actor = $2)
               AND ($3 IS NULL OR target = $3) AND ($4 IS NULL OR seq < $4)
             ORDER BY seq DESC LIMIT $5",
            &params,
            sql::audit_row,
        )
    }

    fn ping(&self) -> Result<()> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
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
        let conn = self.conn();
        Ok(conn.query_row(&numbered(sql::NEXT_DELIVERY_DUE), [], |r| r.get(0))?)
    }

    fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()> {
        let conn = self.conn();
        let params = sql::record_attempt(attempt)?;
        conn.prepare_cached(&numbered(sql::RECORD_ATTEMPT))?.execute(rusqlite::params_from_iter(params.iter()))?;
        Ok(())
    }

    fn deliveries(&self, app: GraphId, before: Option<u64>, limit: usize) -> Result<Vec<WebhookDelivery>> {
        let conn = self.conn();
        let params = [P::Int(sql::id(app)?), P::OptInt(before.map(|b| b as i64)), P::Int(limit as i64)];
        rows(&conn, sql::DELIVERIES, &params, sql::delivery_row)
    }

    fn delivery(&self, id: u64) -> Result<Option<WebhookDelivery>> {
        let conn = self.conn();
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

    #[test]
    fn placeholders_bind_by_number_whatever_their_order() {
        assert_eq!(numbered("SET a = $2 WHERE id = $1 AND b = '$x'"), "SET a = ?2 WHERE id = ?1 AND b = '$x'");
    }
}
