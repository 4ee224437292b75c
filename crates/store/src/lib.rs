//! wabagate's persistent store. The world lives in memory (`model::World`); the store keeps it
//! durable: it commits each write's [`Change`]s in one transaction, hands the whole world back
//! as changes at start, and keeps the audit log, which is never held in memory.

mod sqlite;

use std::fmt;

use model::{AuditEvent, Change, GraphId};

pub use sqlite::SqliteStore;

#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(format!("sqlite: {e}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(format!("stored JSON: {e}"))
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
    /// The whole world, as the changes that rebuild it, in an order `World::apply` accepts.
    fn load(&self) -> Result<Vec<Change>>;

    /// Commits the changes and audit events of one write in one transaction: all or nothing.
    fn commit(&self, changes: &[Change], audit: &[AuditEvent]) -> Result<()>;

    /// Audit events, newest first.
    fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>>;
}
