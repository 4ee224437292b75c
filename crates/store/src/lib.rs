//! wabagate's persistent store. The world lives in memory (`model::World`); the store keeps it
//! durable: it commits each write's [`Change`]s in one transaction, hands the whole world back
//! as changes at start, and keeps the audit log, which is never held in memory.

mod postgres;
mod sql;
mod sqlite;

use std::fmt;

use model::{AuditEvent, Change, DeliveryAttempt, GraphId, WebhookDelivery};

pub use postgres::{LogRetention, PgStore};
pub use sqlite::SqliteStore;

#[derive(Debug)]
pub struct StoreError {
    pub message: String,
    /// The write was checked against a world another server has since changed: catch up and
    /// check it again.
    pub stale: bool,
    /// The change log no longer holds every change after the position asked for (it was
    /// compacted): the caller reloads its whole world.
    pub behind: bool,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError { message: message.into(), stale: false, behind: false }
    }

    pub fn stale() -> StoreError {
        StoreError { message: "the store moved on since the write was checked".into(), stale: true, behind: false }
    }

    pub fn behind() -> StoreError {
        StoreError {
            message: "the change log was compacted past this server's position".into(),
            stale: false,
            behind: true,
        }
    }
}

/// One row of a shared store's change log: its sequence number and the changes of the write.
pub type Logged = (u64, Vec<Change>);

/// A write session begun, and the log rows read under its lock.
pub type Begun = (Box<dyn WriteSession>, Vec<Logged>);

/// A write on a shared store, holding the cluster-wide write lock in a transaction of its own
/// from [`Store::begin_write`] until [`WriteSession::commit`] or [`WriteSession::rollback`].
/// While it is held no other server writes, so a write checked against the world caught up to
/// the log the session began with is checked against the world it lands in. Dropping a session
/// rolls it back.
pub trait WriteSession: Send {
    /// Writes the changes and audit events, appends the changes the other servers need to the
    /// log, notifies them, and commits. Answers the write's log position (`None` when nothing in
    /// it goes to the log).
    fn commit(self: Box<Self>, changes: &[Change], audit: &[AuditEvent]) -> Result<Option<u64>>;

    /// Ends the session without writing.
    fn rollback(self: Box<Self>);
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::new(format!("sqlite: {e}"))
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::new(format!("postgres: {e}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::new(format!("stored JSON: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which audit events to read: one business's, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub business: Option<GraphId>,
    pub actor: Option<GraphId>,
    pub target: Option<GraphId>,
    /// Only events with an id below this one (paging backwards in time).
    pub before: Option<u64>,
    pub limit: usize,
}

/// A durable home for the world. Calls block; async callers run them on a blocking thread.
pub trait Store: Send + Sync + 'static {
    /// The whole world, as the changes that rebuild it, handed to `apply` one by one in an order
    /// `World::apply` accepts. Rows are streamed: the world is never held twice in memory.
    fn load_into(&self, apply: &mut dyn FnMut(Change)) -> Result<()>;

    /// The whole world as a list of changes (for copying and checking stores).
    fn load(&self) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        self.load_into(&mut |change| out.push(change))?;
        Ok(out)
    }

    /// Commits the changes and audit events of one write in one transaction: all or nothing.
    /// A store shared by several servers also appends the changes to its change log and answers
    /// their sequence number: the caller then applies the log in order (see [`Store::changes_since`])
    /// instead of applying the changes itself.
    /// `based_on` is the log position the write was checked against; a shared store refuses the
    /// write as stale if its log has moved on since.
    fn commit(&self, based_on: u64, changes: &[Change], audit: &[AuditEvent]) -> Result<Option<u64>>;

    /// For a store shared by several servers: takes the cluster-wide write lock in a transaction
    /// of its own and answers, read under that lock, the changes logged after `since`. `None`
    /// for a store of one server's own (see [`Store::commit`]).
    fn begin_write(&self, _since: u64) -> Result<Option<Begun>> {
        Ok(None)
    }

    /// The changes logged after `seq`, in order, for a store shared by several servers. An error
    /// with [`StoreError::behind`] set when the log was compacted past `seq`.
    fn changes_since(&self, _seq: u64) -> Result<Vec<Logged>> {
        Ok(Vec::new())
    }

    /// The sequence number of the last logged change (0 for none, or for a store with no log).
    fn log_head(&self) -> Result<u64> {
        Ok(0)
    }

    /// Whether other servers write to this store, so that memory must follow its change log.
    fn is_shared(&self) -> bool {
        false
    }

    /// For a shared store: how many times its notification connection has started listening, or
    /// `None` while it is not listening (changes may be going unnoticed). Always `Some(0)` for a
    /// store no other server writes to.
    fn listening(&self) -> Option<u64> {
        Some(0)
    }

    /// Woken when the change log may have grown (a shared store's notifications).
    fn watch(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// The newest messages sent from a WABA's phone numbers, newest first.
    fn messages(&self, waba: GraphId, limit: usize) -> Result<Vec<model::Message>>;

    /// Forgets up to `limit` of the oldest messages created before `before` (seconds); answers
    /// how many.
    fn prune_messages(&self, before: i64, limit: usize) -> Result<u64>;

    /// Audit events, newest first.
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>>;

    /// Checks the store answers a trivial query (for `/readyz`).
    fn ping(&self) -> Result<()> {
        Ok(())
    }

    /// Leases up to `limit` webhook deliveries that are due at `now_ms` and first in line for
    /// their app and entry, until `lease_until_ms`.
    fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> Result<Vec<WebhookDelivery>>;

    /// When the next delivery first in line falls due, if any is pending.
    fn next_delivery_due(&self) -> Result<Option<i64>>;

    /// Records what a delivery attempt met, ending its lease.
    fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<()>;

    /// An app's deliveries, newest first, with ids below `before`.
    fn deliveries(&self, app: GraphId, before: Option<u64>, limit: usize) -> Result<Vec<WebhookDelivery>>;

    fn delivery(&self, id: u64) -> Result<Option<WebhookDelivery>>;

    /// Queues a delivery's event again as a new delivery due at `now_ms`; answers its id.
    fn redeliver(&self, id: u64, now_ms: i64) -> Result<Option<u64>>;

    /// Frees these deliveries' leases (a server stopping in the middle of sending them).
    fn release_leases(&self, ids: &[u64]) -> Result<()>;

    /// Frees every delivery lease: for a store of one server's own, at its start (no attempt can
    /// be in flight). A no-op for a shared store, whose other servers may be sending.
    fn release_all_leases(&self) -> Result<()>;

    /// Forgets deliveries that finished before `before_ms`; answers how many.
    fn prune_deliveries(&self, before_ms: i64) -> Result<u64>;
}
