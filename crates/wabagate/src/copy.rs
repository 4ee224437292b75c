//! `wabagate copy`: moves a whole store — the world, the audit log and the sent messages — from
//! one backend to another, then checks that both hold the same.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use model::{AuditEvent, Change, World};
use store::{AuditQuery, PgStore, SqliteStore, Store};

use crate::StartError;

/// How many changes one transaction of the copy carries.
const BATCH: usize = 1000;

/// Opens a store named by a URL: `sqlite://PATH` (a file, created if need be) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StartError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = SqliteStore::open(Path::new(path)).map_err(|e| StartError(format!("{url}: {e}")))?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await.map_err(|e| StartError(format!("{url}: {e}")))?))
    } else {
        Err(StartError(format!("'{url}' is neither sqlite://PATH nor postgres://…")))
    }
}

/// What a copy moved.
#[derive(Debug, PartialEq, Eq)]
pub struct Copied {
    pub changes: usize,
    pub audit_events: usize,
    pub messages: usize,
}

fn bar(len: usize, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} ({eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn as_set(changes: &[Change]) -> BTreeSet<String> {
    changes.iter().map(|c| serde_json::to_string(c).unwrap_or_default()).collect()
}

fn all_audit(store: &dyn Store) -> Result<Vec<AuditEvent>, StartError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit(&AuditQuery { before, limit: BATCH, ..Default::default() })
            .map_err(|e| StartError(format!("reading the audit log: {e}")))?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        out.extend(page);
    }
    out.reverse();
    Ok(out)
}

/// Copies everything from `from` into `to`, which must be empty. Blocking: run it off the async
/// threads. `progress` shows bars on the terminal.
pub fn copy(from: &dyn Store, to: &dyn Store, progress: bool) -> Result<Copied, StartError> {
    fn err(what: &'static str) -> impl Fn(store::StoreError) -> StartError {
        move |e| StartError(format!("{what}: {e}"))
    }
    if !to.load().map_err(err("reading the target"))?.is_empty() {
        return Err(StartError("the target store is not empty; copy only into an empty store".into()));
    }
    let changes = from.load().map_err(err("reading the source"))?;
    let events = all_audit(from)?;
    let mut world = World::default();
    for c in &changes {
        world.apply(c);
    }
    let mut messages = Vec::new();
    for waba in world.wabas() {
        let mut of_waba = from.messages(waba.id, usize::MAX >> 1).map_err(err("reading messages"))?;
        of_waba.reverse();
        messages.extend(of_waba.into_iter().map(|m| Change::Message(Box::new(m))));
    }

    let write = |items: Vec<Change>, events: Vec<AuditEvent>, what: &'static str| -> Result<(), StartError> {
        let head = to.log_head().map_err(err("reading the target's log"))?;
        to.commit(head, &items, &events).map(|_| ()).map_err(err(what))
    };
    let b = bar(changes.len(), "world", progress);
    for chunk in changes.chunks(BATCH) {
        write(chunk.to_vec(), Vec::new(), "writing the world")?;
        b.inc(chunk.len() as u64);
    }
    b.finish();
    let b = bar(events.len(), "audit log", progress);
    for chunk in events.chunks(BATCH) {
        write(Vec::new(), chunk.to_vec(), "writing the audit log")?;
        b.inc(chunk.len() as u64);
    }
    b.finish();
    let b = bar(messages.len(), "messages", progress);
    for chunk in messages.chunks(BATCH) {
        write(chunk.to_vec(), Vec::new(), "writing messages")?;
        b.inc(chunk.len() as u64);
    }
    b.finish();

    // Both stores now hold the same world, the same audit log and the same messages.
    if as_set(&to.load().map_err(err("reading back"))?) != as_set(&changes) {
        return Err(StartError("the copied world differs from the source".into()));
    }
    let copied_events = all_audit(to)?;
    let strip = |e: &[AuditEvent]| e.iter().map(|e| (e.time, e.action.clone(), e.target)).collect::<Vec<_>>();
    if strip(&copied_events) != strip(&events) {
        return Err(StartError("the copied audit log differs from the source".into()));
    }
    Ok(Copied { changes: changes.len(), audit_events: events.len(), messages: messages.len() })
}
