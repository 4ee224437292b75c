//! The embedded SQLite store: one file, WAL journal, synchronous commits.

use std::path::Path;
use std::sync::Mutex;

use model::{AuditEvent, Change, GraphId, Token};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{AuditQuery, Result, Store, StoreError};

/// Schema migrations, applied in order; the schema's version is the number applied.
const MIGRATIONS: &[&str] = &[include_str!("001_initial.sql"), include_str!("002_whatsapp_assets.sql")];

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn id(v: GraphId) -> Result<i64> {
    i64::try_from(v.0).map_err(|_| StoreError(format!("id {v} is too large to store")))
}

fn gid(v: i64) -> GraphId {
    GraphId(v as u64)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date. Refuses a
    /// store whose schema is newer than this binary knows.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-applied (it rolls back
        // on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).optional()?.unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError(format!(
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

fn load_bodies<T: serde::de::DeserializeOwned>(conn: &Connection, sql: &str) -> Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Vec<Change>> {
        let conn = self.conn();
        let mut out = Vec::new();
        out.extend(load_bodies(&conn, "SELECT body FROM businesses ORDER BY id")?.into_iter().map(Change::Business));
        out.extend(load_bodies(&conn, "SELECT body FROM persons ORDER BY id")?.into_iter().map(Change::Person));
        out.extend(load_bodies(&conn, "SELECT body FROM apps ORDER BY id")?.into_iter().map(Change::App));
        out.extend(
            load_bodies(&conn, "SELECT body FROM system_users ORDER BY id")?.into_iter().map(Change::SystemUser),
        );
        {
            let mut stmt = conn.prepare("SELECT body, last_used_at FROM tokens ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)))?;
            for row in rows {
                let (body, last_used) = row?;
                let mut token: Token = serde_json::from_str(&body)?;
                token.last_used_at = token.last_used_at.max(last_used);
                out.push(Change::Token(token));
            }
        }
        out.extend(load_bodies(&conn, "SELECT body FROM wabas ORDER BY id")?.into_iter().map(Change::Waba));
        {
            let mut stmt = conn.prepare("SELECT waba, partner, level, created_time FROM shares")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
            })?;
            for row in rows {
                let (waba, partner, level, created_time) = row?;
                let level = serde_json::from_value(serde_json::Value::String(level))?;
                out.push(Change::Share(model::Share { waba: gid(waba), partner: gid(partner), level, created_time }));
            }
        }
        {
            let mut stmt = conn.prepare("SELECT waba, user, tasks, assigned_time FROM assignments")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
            })?;
            for row in rows {
                let (waba, user, tasks, assigned_time) = row?;
                out.push(Change::Assign(model::Assignment {
                    waba: gid(waba),
                    user: gid(user),
                    tasks: model::TaskSet::from_bits(tasks as u16),
                    assigned_time,
                }));
            }
        }
        out.extend(
            load_bodies(&conn, "SELECT body FROM phone_numbers ORDER BY id")?.into_iter().map(Change::PhoneNumber),
        );
        out.extend(load_bodies(&conn, "SELECT body FROM templates ORDER BY id")?.into_iter().map(Change::Template));
        out.extend(
            load_bodies(&conn, "SELECT body FROM credit_lines ORDER BY id")?.into_iter().map(Change::CreditLine),
        );
        Ok(out)
    }

    fn commit(&self, changes: &[Change], audit: &[AuditEvent]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for change in changes {
            apply(&tx, change)?;
        }
        for event in audit {
            let mut event = event.clone();
            event.id = 0;
            tx.execute(
                "INSERT INTO audit_events (time, business, actor, target, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    event.time,
                    id(event.business)?,
                    id(event.actor.user)?,
                    id(event.target)?,
                    serde_json::to_string(&event)?
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, body FROM audit_events
             WHERE (?1 IS NULL OR business = ?1) AND (?2 IS NULL OR actor = ?2)
               AND (?3 IS NULL OR target = ?3) AND (?4 IS NULL OR seq < ?4)
             ORDER BY seq DESC LIMIT ?5",
        )?;
        let opt = |v: Option<GraphId>| v.map(id).transpose();
        let rows = stmt.query_map(
            params![opt(q.business)?, opt(q.actor)?, opt(q.target)?, q.before.map(|b| b as i64), q.limit as i64],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row?;
            let mut event: AuditEvent = serde_json::from_str(&body)?;
            event.id = seq as u64;
            out.push(event);
        }
        Ok(out)
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, change: &Change) -> Result<()> {
    match change {
        Change::Business(b) => {
            tx.execute(
                "INSERT INTO businesses (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(b.id)?, json(b)?],
            )?;
        }
        Change::Person(p) => {
            tx.execute(
                "INSERT INTO persons (id, business, email, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET email = excluded.email, body = excluded.body",
                params![id(p.id)?, id(p.business)?, p.email.to_lowercase(), json(p)?],
            )?;
        }
        Change::App(a) => {
            tx.execute(
                "INSERT INTO apps (id, business, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(a.id)?, id(a.business)?, json(a)?],
            )?;
        }
        Change::SystemUser(s) => {
            tx.execute(
                "INSERT INTO system_users (id, business, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(s.id)?, id(s.business)?, json(s)?],
            )?;
        }
        Change::Token(t) => {
            tx.execute(
                "INSERT INTO tokens (id, hash, system_user, app, body, last_used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body,
                   last_used_at = max(coalesce(tokens.last_used_at, 0), coalesce(excluded.last_used_at, 0))",
                params![id(t.id)?, &t.hash[..], id(t.system_user)?, id(t.app)?, json(t)?, t.last_used_at],
            )?;
        }
        Change::Waba(w) => {
            tx.execute(
                "INSERT INTO wabas (id, owner, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(w.id)?, id(w.owner)?, json(w)?],
            )?;
        }
        Change::Share(s) => {
            tx.execute(
                "INSERT INTO shares (waba, partner, level, created_time) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(waba, partner) DO UPDATE SET level = excluded.level",
                params![id(s.waba)?, id(s.partner)?, s.level.as_str(), s.created_time],
            )?;
        }
        Change::Assign(a) => {
            tx.execute(
                "INSERT INTO assignments (waba, user, tasks, assigned_time) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(waba, user) DO UPDATE SET tasks = excluded.tasks, assigned_time = excluded.assigned_time",
                params![id(a.waba)?, id(a.user)?, a.tasks.bits() as i64, a.assigned_time],
            )?;
        }
        Change::Unassign { waba, user } => {
            tx.execute("DELETE FROM assignments WHERE waba = ?1 AND user = ?2", params![id(*waba)?, id(*user)?])?;
        }
        Change::PhoneNumber(p) => {
            tx.execute(
                "INSERT INTO phone_numbers (id, waba, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(p.id)?, id(p.waba)?, json(p)?],
            )?;
        }
        Change::Template(t) => {
            tx.execute(
                "INSERT INTO templates (id, waba, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(t.id)?, id(t.waba)?, json(t)?],
            )?;
        }
        Change::DeleteTemplate { id: template } => {
            tx.execute("DELETE FROM templates WHERE id = ?1", params![id(*template)?])?;
        }
        Change::CreditLine(c) => {
            tx.execute(
                "INSERT INTO credit_lines (id, business, body) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(c.id)?, id(c.business)?, json(c)?],
            )?;
        }
        Change::Solution(x) => {
            tx.execute(
                "INSERT INTO solutions (id, body) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(x.id)?, json(x)?],
            )?;
        }
        Change::OnboardToSolution(x) => {
            tx.execute(
                "INSERT INTO solution_wabas (waba, solution, created_time) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![id(x.waba)?, id(x.solution)?, x.created_time],
            )?;
        }
        Change::Allocation(x) => {
            tx.execute(
                "INSERT INTO allocations (id, credit_line, waba, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                params![id(x.id)?, id(x.credit_line)?, id(x.waba)?, json(x)?],
            )?;
        }
        Change::Subscribe(x) => {
            tx.execute(
                "INSERT INTO subscribed_apps (waba, app, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(waba, app) DO UPDATE SET body = excluded.body",
                params![id(x.waba)?, id(x.app)?, json(x)?],
            )?;
        }
        Change::Unsubscribe { waba, app } => {
            tx.execute("DELETE FROM subscribed_apps WHERE waba = ?1 AND app = ?2", params![id(*waba)?, id(*app)?])?;
        }
        Change::Message(m) => {
            tx.execute(
                "INSERT INTO messages (id, waba, phone_number, created_time, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![m.id, id(m.waba)?, id(m.phone_number)?, m.created_time, json(m)?],
            )?;
        }
        Change::TokensUsed { uses } => {
            let mut stmt =
                tx.prepare_cached("UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1")?;
            for (token, at) in uses {
                stmt.execute(params![id(*token)?, at])?;
            }
        }
    }
    Ok(())
}

/// The JSON body an entity is stored as.
fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}
