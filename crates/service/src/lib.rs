//! wabagate's operations. The world lives in memory behind a lock and answers every
//! authorization; each write is checked against it, committed to the store in one transaction
//! (with the writes that arrived together), and only then applied to memory. The Graph wire and
//! the console both go through here.

mod access;
pub mod clock;
pub mod credit;
mod deliveries;
pub mod fixtures;
pub mod limits;
mod messages;
mod ops;
pub mod outbound;
pub mod secrets;
mod sharing;
pub mod solutions;
mod usage;
pub mod webhooks;
pub mod whatsapp;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use model::rules::Caller;
use model::{Actor, AuditEvent, Change, GraphError, GraphId, Principal, Timestamp, Token, World};
use store::Store;

pub use access::StoreView;
pub use clock::Clock;
pub use ops::{Authenticated, DebugTokenInput, MintProof, MintRequest, Refreshed};

/// How a change reached wabagate, as the audit log records it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Via {
    Api,
    Console,
    System,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Console => "console",
            Via::System => "system",
        }
    }
}

/// A caller about to act: who, with which token, and through what.
#[derive(Clone, Copy, Debug)]
pub struct Acting {
    pub caller: Caller,
    pub token: Option<GraphId>,
    pub via: Via,
}

impl Acting {
    pub fn principal(&self) -> &Principal {
        &self.caller.principal
    }
}

/// How new and edited message templates are reviewed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TemplateReview {
    /// APPROVED at once.
    Immediate,
    /// PENDING, then APPROVED this many seconds later.
    After(i64),
    /// PENDING until an admin approves or rejects it (`POST /_wabagate/templates/{id}/review`).
    Manual,
}

impl TemplateReview {
    /// `immediate`, `manual`, or a number of seconds (`5` or `5s`).
    pub fn parse(s: &str) -> Result<TemplateReview, String> {
        match s.trim() {
            "immediate" => Ok(TemplateReview::Immediate),
            "manual" => Ok(TemplateReview::Manual),
            other => other
                .trim_end_matches('s')
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| if n == 0 { TemplateReview::Immediate } else { TemplateReview::After(n) })
                .ok_or_else(|| format!("'{other}' is not immediate, manual or a number of seconds")),
        }
    }
}

/// Server settings the operations depend on.
#[derive(Clone, Debug)]
pub struct Settings {
    pub template_review: TemplateReview,
    /// Call budgets (docs/rate-limits.md); none by default.
    pub rate_limits: limits::RateLimits,
    /// Faults injected into matching requests; none by default.
    pub faults: Vec<limits::Fault>,
    /// How webhooks are delivered, and when sent messages are delivered and read.
    pub webhooks: webhooks::WebhookSettings,
    /// How long sent messages are kept (docs/whatsapp.md); older ones are pruned.
    pub message_retention: std::time::Duration,
}

/// How long sent messages are kept unless the server is told otherwise.
pub const DEFAULT_MESSAGE_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            template_review: TemplateReview::After(5),
            rate_limits: Default::default(),
            faults: Vec::new(),
            webhooks: Default::default(),
            message_retention: DEFAULT_MESSAGE_RETENTION,
        }
    }
}

pub struct Service {
    settings: Settings,
    world: Arc<RwLock<World>>,
    store: Arc<dyn Store>,
    writes: Arc<tokio::sync::Mutex<()>>,
    catching_up: tokio::sync::Mutex<()>,
    /// The listening generation the last catch-up ran under (see [`Service::is_ready`]).
    caught_up_generation: AtomicU64,
    usage: usage::Usage,
    clock: Arc<Clock>,
    /// Commits the writes to a store of this server's own, in groups.
    committer: Arc<Committer>,
    /// Woken when a write has queued webhook deliveries.
    deliveries_queued: Arc<tokio::sync::Notify>,
    /// When (server clock, seconds) sent messages were last pruned.
    messages_pruned_at: std::sync::atomic::AtomicI64,
}

/// Group commit on a store of this server's own. Writes are checked one at a time, each against
/// memory with the writes checked before it that are not yet committed applied (and reverted
/// right after its check, see [`model::Undo`]); the writes that arrive while a group is being
/// committed form the next group, committed in one transaction. A group is applied to memory
/// only once it is committed, so readers never see a write that is not durable.
#[derive(Default)]
struct Group {
    /// Checked writes waiting for the next commit.
    queue: Vec<Pending>,
    /// On a shared store, the write session the queued writes were checked under: it holds the
    /// cluster-wide lock, and memory was caught up with the log when it began.
    session: Option<Box<dyn store::WriteSession>>,
    /// The changes of the group being committed, in order.
    in_flight: Vec<Change>,
    /// Whether a task is committing groups (it commits until the queue is empty).
    leader: bool,
}

struct Pending {
    changes: Vec<Change>,
    audit: Vec<AuditEvent>,
    done: tokio::sync::oneshot::Sender<Result<(), GraphError>>,
}

/// The committing side of group commit, shared with the task that commits.
struct Committer {
    store: Arc<dyn Store>,
    world: Arc<RwLock<World>>,
    writes: Arc<tokio::sync::Mutex<()>>,
    group: std::sync::Mutex<Group>,
    /// Whether memory holds what the store holds. False after a commit failed and memory could
    /// not be reloaded: writes are refused and `/readyz` fails until a reload succeeds.
    matches_store: AtomicBool,
    /// The change-log position memory reflects (shared stores only).
    applied: AtomicU64,
}

impl Committer {
    /// Commits the rounds of a shared store, one at a time, until no write is queued. A round is
    /// taken once every write that arrived before it has been checked (the write lock is fair).
    async fn run_rounds(self: Arc<Self>) {
        loop {
            let (session, round) = {
                let _serial = self.writes.lock().await;
                let mut group = self.group();
                if group.queue.is_empty() {
                    group.leader = false;
                    if let Some(session) = group.session.take() {
                        tokio::task::spawn_blocking(move || session.rollback());
                    }
                    return;
                }
                (group.session.take(), std::mem::take(&mut group.queue))
            };
            let (mut changes, mut audit) = (Vec::new(), Vec::new());
            let mut answers = Vec::with_capacity(round.len());
            for pending in round {
                changes.extend(pending.changes);
                audit.extend(pending.audit);
                answers.push(pending.done);
            }
            let Some(session) = session else {
                for done in answers {
                    let _ = done.send(Err(GraphError::transient()));
                }
                continue;
            };
            let committed = tokio::task::spawn_blocking(move || {
                timed("commit", || session.commit(&changes, &audit)).map(|seq| (seq, changes))
            })
            .await;
            let answer = match committed {
                Ok(Ok((seq, changes))) => {
                    self.apply_own(seq, changes);
                    Ok(())
                }
                Ok(Err(e)) => {
                    // Memory is untouched; had the commit landed after all, the log brings it in.
                    tracing::error!(error = %e, "store commit failed");
                    Err(GraphError::transient())
                }
                Err(e) => {
                    tracing::error!(error = %e, "store commit task failed");
                    Err(GraphError::transient())
                }
            };
            for done in answers {
                let _ = done.send(answer.clone());
            }
        }
    }

    /// Applies rows of the change log to memory, in order, skipping those already applied.
    fn apply_log(&self, log: Vec<store::Logged>) {
        if log.is_empty() {
            return;
        }
        let mut world = self.world.write().unwrap_or_else(|e| e.into_inner());
        for (seq, changes) in log {
            if seq <= self.applied.load(Ordering::SeqCst) {
                continue;
            }
            for change in changes {
                world.apply_owned(change);
            }
            self.applied.store(seq, Ordering::SeqCst);
        }
    }

    /// Applies a round this server committed in a write session: `seq` follows what memory
    /// holds (the session caught up under the lock), unless a catch-up got there first.
    fn apply_own(&self, seq: Option<u64>, changes: Vec<Change>) {
        let mut world = self.world.write().unwrap_or_else(|e| e.into_inner());
        match seq {
            None => {
                for change in changes {
                    world.apply_owned(change);
                }
            }
            Some(seq) if seq == self.applied.load(Ordering::SeqCst) + 1 => {
                for change in changes {
                    world.apply_owned(change);
                }
                self.applied.store(seq, Ordering::SeqCst);
            }
            // Already applied from the log by a catch-up, or (never expected) not next in line:
            // the log brings memory up to date.
            Some(_) => {}
        }
    }

    fn group(&self) -> std::sync::MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits the queued writes, a group at a time, until none are left.
    async fn run(self: Arc<Self>) {
        loop {
            let group = {
                let mut group = self.group();
                if group.queue.is_empty() {
                    group.leader = false;
                    return;
                }
                let taken = std::mem::take(&mut group.queue);
                group.in_flight = taken.iter().flat_map(|p| p.changes.iter().cloned()).collect();
                taken
            };
            let (mut changes, mut audit) = (Vec::new(), Vec::new());
            let mut answers = Vec::with_capacity(group.len());
            for pending in group {
                changes.extend(pending.changes);
                audit.extend(pending.audit);
                answers.push(pending.done);
            }
            let store = self.store.clone();
            let committed =
                tokio::task::spawn_blocking(move || timed("commit", || store.commit(0, &changes, &audit))).await;
            match committed {
                Ok(Ok(_)) => {
                    {
                        let mut group = self.group();
                        let mut world = self.world.write().unwrap_or_else(|e| e.into_inner());
                        for change in std::mem::take(&mut group.in_flight) {
                            world.apply_owned(change);
                        }
                    }
                    for done in answers {
                        let _ = done.send(Ok(()));
                    }
                }
                failed => {
                    match failed {
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "store commit failed; reloading memory from the store")
                        }
                        _ => tracing::error!("store commit task failed; reloading memory from the store"),
                    }
                    self.abandon(answers).await;
                }
            }
        }
    }

    /// After a failed commit: fails the group and every write queued behind it (they were checked
    /// against it), and reloads memory from the store, with no write checked meanwhile. Memory
    /// holds none of those writes; the reload makes sure it holds a commit that failed late.
    async fn abandon(self: &Arc<Self>, answers: Vec<tokio::sync::oneshot::Sender<Result<(), GraphError>>>) {
        let serial = self.writes.clone().lock_owned().await;
        let behind = {
            let mut group = self.group();
            group.in_flight.clear();
            std::mem::take(&mut group.queue)
        };
        if !self.reload().await {
            self.matches_store.store(false, Ordering::SeqCst);
            tracing::error!("cannot reload memory from the store; refusing writes until it can");
            tokio::spawn(self.clone().reload_until_it_works(serial));
        }
        for done in answers.into_iter().chain(behind.into_iter().map(|p| p.done)) {
            let _ = done.send(Err(GraphError::transient()));
        }
    }

    /// Reloads memory from the store; answers whether it could.
    async fn reload(&self) -> bool {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || load_world(&*store)).await {
            Ok(Ok(world)) => {
                *self.world.write().unwrap_or_else(|e| e.into_inner()) = world;
                true
            }
            _ => false,
        }
    }

    /// Retries the reload every second, holding off every write, until it works.
    async fn reload_until_it_works(self: Arc<Self>, _serial: tokio::sync::OwnedMutexGuard<()>) {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if self.reload().await {
                self.matches_store.store(true, Ordering::SeqCst);
                tracing::info!("memory reloaded from the store; writes are accepted again");
                return;
            }
        }
    }
}

/// One write under construction: the changes and audit events it will commit, and the ids it
/// has taken so far.
pub(crate) struct Tx<'w> {
    world: &'w World,
    now: Timestamp,
    now_ms: i64,
    changes: Vec<Change>,
    audit: Vec<AuditEvent>,
    taken: HashSet<GraphId>,
}

impl<'w> Tx<'w> {
    pub fn world(&self) -> &'w World {
        self.world
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// A fresh 16-digit id no object has.
    pub fn new_id(&mut self) -> GraphId {
        use rand::Rng;
        loop {
            let id = GraphId(rand::rng().random_range(1_000_000_000_000_000..10_000_000_000_000_000));
            if self.world.kind(id).is_none() && self.taken.insert(id) {
                return id;
            }
        }
    }

    pub(crate) fn change(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// Records an access change in the audit log, in the same transaction as the change.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn audit(
        &mut self,
        acting: &Acting,
        business: GraphId,
        action: &str,
        target: GraphId,
        target_type: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        let actor = Actor {
            user: acting.principal().id,
            name: self.world.user_name(acting.principal().id).unwrap_or_default().to_string(),
            token: acting.token,
            via: acting.via.as_str().to_string(),
        };
        self.audit_by(actor, business, action, target, target_type, before, after);
    }

    /// [`Self::audit`], for an actor that is not a user: an app calling with its app token.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn audit_by(
        &mut self,
        actor: Actor,
        business: GraphId,
        action: &str,
        target: GraphId,
        target_type: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        self.audit.push(AuditEvent {
            id: 0,
            time: self.now,
            business,
            actor,
            action: action.to_string(),
            target,
            target_type: target_type.to_string(),
            before,
            after,
        });
    }
}

impl Service {
    /// Loads the world from the store into memory. Blocking: call it off the async threads.
    pub fn open(store: Arc<dyn Store>, clock: Arc<Clock>, settings: Settings) -> Result<Service, store::StoreError> {
        // The log position first: anything logged while loading is replayed by the first catch-up
        // (every change is idempotent, so replaying one already loaded is harmless).
        let head = store.log_head()?;
        let world = Arc::new(RwLock::new(load_world(&*store)?));
        let writes = Arc::new(tokio::sync::Mutex::new(()));
        let committer = Arc::new(Committer {
            store: store.clone(),
            world: world.clone(),
            writes: writes.clone(),
            group: Default::default(),
            matches_store: AtomicBool::new(true),
            applied: AtomicU64::new(head),
        });
        Ok(Service {
            settings,
            world,
            store,
            writes,
            catching_up: tokio::sync::Mutex::new(()),
            caught_up_generation: AtomicU64::new(u64::MAX),
            usage: usage::Usage::default(),
            clock,
            committer,
            deliveries_queued: Arc::new(tokio::sync::Notify::new()),
            messages_pruned_at: std::sync::atomic::AtomicI64::new(i64::MIN),
        })
    }

    /// The world, for reads. Hold the guard briefly and never across an await.
    pub fn world(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// What may be asked of the store from outside the service: never a write.
    pub fn store(&self) -> access::StoreView {
        access::StoreView(self.store.clone())
    }

    /// Runs one write: `build` checks the request against the current world and describes the
    /// changes; they are committed to the store, then applied to memory. Writes are checked one
    /// at a time (across servers too, on a shared store: under its write lock, after catching up
    /// with its log), each against memory with the uncommitted writes checked before it applied
    /// (see `Group`), so what `build` saw is still true when the changes land.
    ///
    /// The writes checked while a group is being committed form the next group, committed in
    /// one transaction; a group is applied to memory only once committed, so no client ever reads
    /// a write that is not durable. If a group cannot be committed, its writes and those checked
    /// against it answer code 2; on a store of this server's own memory is then reloaded (nothing
    /// that was stored is lost, nothing that was not stays), and if that reload fails too, the
    /// server refuses writes (code 2) and `/readyz` fails until a reload, retried every second,
    /// works.
    pub(crate) async fn write<R>(
        &self,
        build: impl FnOnce(&mut Tx<'_>) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        // Refused at once while memory may not match the store (the reload holds `writes`), and
        // again after waiting, for a write queued behind the commit that failed.
        if !self.memory_matches_store() {
            return Err(GraphError::transient());
        }
        let serial = self.writes.clone().lock_owned().await;
        if !self.memory_matches_store() {
            return Err(GraphError::transient());
        }
        if self.store.is_shared() {
            return self.write_shared(serial, build).await;
        }
        let now_ms = self.clock.now_ms();
        let (done, answer) = tokio::sync::oneshot::channel();
        let (result, tokens, queues_events) = {
            // The group lock from the check to the queueing: the writes this one is checked
            // against are exactly those queued before it.
            let mut group = self.committer.group();
            let built = if group.in_flight.is_empty() && group.queue.is_empty() {
                check(&self.world(), now_ms, build)
            } else {
                // Readers wait for the check alone, never for a commit, and never see the
                // writes applied for it.
                let mut world = self.world.write().unwrap_or_else(|e| e.into_inner());
                let overlay = Overlay::apply(
                    &mut world,
                    group.in_flight.iter().chain(group.queue.iter().flat_map(|p| p.changes.iter())),
                );
                check(overlay.world(), now_ms, build)
            };
            let (result, changes, audit, tokens) = built?;
            if changes.is_empty() && audit.is_empty() {
                return Ok(result);
            }
            let queues_events = changes.iter().any(|c| matches!(c, Change::Event(_)));
            group.queue.push(Pending { changes, audit, done });
            if !std::mem::replace(&mut group.leader, true) {
                // A task of its own: the groups get committed even if this request is abandoned.
                tokio::spawn(self.committer.clone().run());
            }
            (result, tokens, queues_events)
        };
        drop(serial);
        self.acknowledged(answer, result, tokens, queues_events).await
    }

    /// A write on a shared store. Writes are committed in rounds, each in one write session: the
    /// first write of a round begins the session (under the cluster-wide lock, memory catches up
    /// with the log), every write is checked against that world with the round's writes before
    /// it applied (as on SQLite), and the round is committed in one transaction, one log row and
    /// one notification, then applied to memory. No other server can write in between, so no
    /// write is refused because another server moved first: one that the new world makes
    /// invalid gets its real error from `build`.
    async fn write_shared<R>(
        &self,
        serial: tokio::sync::OwnedMutexGuard<()>,
        build: impl FnOnce(&mut Tx<'_>) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        if self.committer.group().session.is_none() {
            let session = self.begin_session().await?;
            self.committer.group().session = Some(session);
        }
        let now_ms = self.clock.now_ms();
        let (done, answer) = tokio::sync::oneshot::channel();
        let (result, tokens, queues_events) = {
            let mut group = self.committer.group();
            let built = if group.queue.is_empty() {
                check(&self.world(), now_ms, build)
            } else {
                let mut world = self.world.write().unwrap_or_else(|e| e.into_inner());
                let overlay = Overlay::apply(&mut world, group.queue.iter().flat_map(|p| p.changes.iter()));
                check(overlay.world(), now_ms, build)
            };
            let written = match built {
                Ok((result, changes, audit, tokens)) if !changes.is_empty() || !audit.is_empty() => {
                    Ok((result, changes, audit, tokens))
                }
                Ok((result, ..)) => Err(Ok(result)),
                Err(e) => Err(Err(e)),
            };
            let (result, changes, audit, tokens) = match written {
                Ok(w) => w,
                Err(answer) => {
                    // Nothing to write. A session that no round has taken yet is left to the
                    // writes waiting behind this one (they would otherwise each take the
                    // cluster-wide lock again, a whole turn of the other replicas each); once
                    // they have had their turn (the lock is handed out in order), a session
                    // still unused lets the lock go.
                    if group.queue.is_empty() && !group.leader && group.session.is_some() {
                        let (writes, committer) = (self.writes.clone(), self.committer.clone());
                        tokio::spawn(async move {
                            let _serial = writes.lock().await;
                            let mut group = committer.group();
                            if group.queue.is_empty()
                                && !group.leader
                                && let Some(session) = group.session.take()
                            {
                                tokio::task::spawn_blocking(move || session.rollback());
                            }
                        });
                    }
                    return answer;
                }
            };
            let queues_events = changes.iter().any(|c| matches!(c, Change::Event(_)));
            group.queue.push(Pending { changes, audit, done });
            if !std::mem::replace(&mut group.leader, true) {
                tokio::spawn(self.committer.clone().run_rounds());
            }
            (result, tokens, queues_events)
        };
        drop(serial);
        self.acknowledged(answer, result, tokens, queues_events).await
    }

    /// Answers a queued write once its group (or round) is committed: wakes the delivery worker
    /// if it queued webhook events, and counts the tokens it minted and revoked.
    async fn acknowledged<R>(
        &self,
        committed: tokio::sync::oneshot::Receiver<Result<(), GraphError>>,
        result: R,
        tokens: TokenChanges,
        queues_events: bool,
    ) -> Result<R, GraphError> {
        committed.await.unwrap_or_else(|_| Err(GraphError::transient()))?;
        if queues_events {
            self.deliveries_queued.notify_one();
        }
        tokens.count();
        Ok(result)
    }

    /// Begins a write session and brings memory up to the log under its lock (reloading the
    /// world if the log was compacted past this server's position).
    async fn begin_session(&self) -> Result<Box<dyn store::WriteSession>, GraphError> {
        let mut reloaded = false;
        loop {
            let from = self.committer.applied.load(Ordering::SeqCst);
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || timed("begin_write", || store.begin_write(from))).await {
                Ok(Ok(Some((session, log)))) => {
                    self.committer.apply_log(log);
                    return Ok(session);
                }
                Ok(Err(e)) if e.behind && !reloaded => {
                    reloaded = true;
                    self.reload().await?;
                }
                Ok(Ok(None)) => {
                    tracing::error!("a shared store without write sessions");
                    return Err(GraphError::transient());
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot begin a write");
                    return Err(GraphError::transient());
                }
                Err(_) => return Err(GraphError::transient()),
            }
        }
    }

    /// Reloads the whole world from a shared store, for a server the compacted log left behind.
    async fn reload(&self) -> Result<(), GraphError> {
        let _one = self.catching_up.lock().await;
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            // The log position first, as at start: what is logged while loading is replayed.
            let head = store.log_head()?;
            load_world(&*store).map(|world| (head, world))
        })
        .await;
        match loaded {
            Ok(Ok((head, world))) => {
                tracing::warn!(head, "this server fell behind the compacted change log; reloaded the world");
                *self.world.write().unwrap_or_else(|e| e.into_inner()) = world;
                self.committer.applied.store(head, Ordering::SeqCst);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot reload the world");
                Err(GraphError::transient())
            }
            Err(_) => Err(GraphError::transient()),
        }
    }

    /// Commits changes and brings memory up to date: applying them directly, or, on a shared
    /// store, applying its change log in order up to and including them.
    async fn commit(&self, based_on: u64, changes: Vec<Change>, audit: Vec<AuditEvent>) -> Result<(), GraphError> {
        let store = self.store.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            timed("commit", || store.commit(based_on, &changes, &audit)).map(|seq| (seq, changes))
        })
        .await;
        match outcome {
            Ok(Ok((None, changes))) => {
                let mut world = self.world.write().unwrap_or_else(|e| e.into_inner());
                for change in &changes {
                    world.apply(change);
                }
                Ok(())
            }
            Ok(Ok((Some(_), _))) => self.catch_up().await,
            Ok(Err(e)) if e.stale => {
                tracing::info!("a write met another server's write; the client may retry");
                Err(GraphError::transient())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "store commit failed; nothing was changed");
                Err(GraphError::transient())
            }
            Err(e) => {
                tracing::error!(error = %e, "store commit task failed; nothing was changed");
                Err(GraphError::transient())
            }
        }
    }

    /// Applies the shared store's change log to memory, in order, from where this server left
    /// off. A no-op for a store no other server writes to.
    pub async fn catch_up(&self) -> Result<(), GraphError> {
        if !self.store.is_shared() {
            return Ok(());
        }
        let _one = self.catching_up.lock().await;
        // Read before the log: a catch-up proves readiness only for the listening it began under.
        let generation = self.store.listening();
        let from = self.committer.applied.load(Ordering::SeqCst);
        let store = self.store.clone();
        let batch = match tokio::task::spawn_blocking(move || store.changes_since(from)).await {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) if e.behind => {
                drop(_one);
                self.reload().await?;
                if let Some(g) = generation {
                    self.caught_up_generation.store(g, Ordering::SeqCst);
                }
                return Ok(());
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the change log");
                return Err(GraphError::transient());
            }
            Err(_) => return Err(GraphError::transient()),
        };
        self.committer.apply_log(batch);
        if let Some(g) = generation {
            self.caught_up_generation.store(g, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Whether memory follows the store: always for a store of this server's own; for a shared
    /// store, while it is listening for other servers' writes and has caught up since it started
    /// listening.
    pub fn is_ready(&self) -> bool {
        if !self.memory_matches_store() {
            return false;
        }
        match self.store.listening() {
            Some(g) => !self.store.is_shared() || self.caught_up_generation.load(Ordering::SeqCst) == g,
            None => false,
        }
    }

    /// Whether memory holds what the store holds: false after a failed commit that memory could
    /// not be reloaded from (writes are refused until it is).
    pub fn memory_matches_store(&self) -> bool {
        self.committer.matches_store.load(Ordering::SeqCst)
    }

    /// The position in the shared store's change log this server's memory reflects.
    pub fn applied_seq(&self) -> u64 {
        self.committer.applied.load(Ordering::SeqCst)
    }

    /// Notes that a token was used; written to the store later, coalesced.
    fn note_use(&self, token: &Token) {
        self.usage.note(token.id, self.now());
    }

    /// Writes the coalesced token last-use times to the store and the world.
    pub async fn flush_usage(&self) -> Result<(), GraphError> {
        let uses = self.usage.take();
        if uses.is_empty() {
            return Ok(());
        }
        let written = self
            .write(|tx| {
                tx.change(Change::TokensUsed { uses: uses.clone() });
                Ok(())
            })
            .await;
        if written.is_err() {
            // Not lost: the next flush writes them.
            self.usage.put_back(&uses);
        }
        written
    }

    /// The newest messages sent from a WABA's phone numbers, newest first.
    pub async fn messages(&self, waba: GraphId, limit: usize) -> Result<Vec<model::Message>, GraphError> {
        self.read("reading messages", move |store| store.messages(waba, limit)).await
    }

    /// Audit events an admin of `business` may read, newest first.
    pub async fn audit_log(&self, query: store::AuditQuery) -> Result<Vec<AuditEvent>, GraphError> {
        self.read("reading the audit log", move |store| store.audit(&query)).await
    }

    /// Runs a read of the store on a blocking thread; a failure answers code 2 (transient).
    async fn read<T: Send + 'static>(
        &self,
        what: &'static str,
        read: impl FnOnce(&dyn Store) -> store::Result<T> + Send + 'static,
    ) -> Result<T, GraphError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || timed("read", || read(store.as_ref()))).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "{what} failed");
                Err(GraphError::transient())
            }
            Err(_) => Err(GraphError::transient()),
        }
    }
}

/// The world with uncommitted writes applied for one check; reverted when dropped (a check that
/// panics included), so that readers never see them.
struct Overlay<'w> {
    world: &'w mut World,
    undo: Option<model::Undo>,
}

impl<'w> Overlay<'w> {
    fn apply<'c>(world: &'w mut World, changes: impl Iterator<Item = &'c Change>) -> Overlay<'w> {
        let mut undo = model::Undo::default();
        for change in changes {
            world.apply_undoable(change, &mut undo);
        }
        Overlay { world, undo: Some(undo) }
    }

    fn world(&self) -> &World {
        self.world
    }
}

impl Drop for Overlay<'_> {
    fn drop(&mut self) {
        if let Some(undo) = self.undo.take() {
            undo.revert(self.world);
        }
    }
}

/// Runs a write's `build` against `world`: its result, changes, audit events, and the tokens it
/// mints and revokes.
#[allow(clippy::type_complexity)]
fn check<R>(
    world: &World,
    now_ms: i64,
    build: impl FnOnce(&mut Tx<'_>) -> Result<R, GraphError>,
) -> Result<(R, Vec<Change>, Vec<AuditEvent>, TokenChanges), GraphError> {
    let mut tx = Tx {
        world,
        now: now_ms.div_euclid(1000),
        now_ms,
        changes: Vec::new(),
        audit: Vec::new(),
        taken: HashSet::new(),
    };
    let result = build(&mut tx)?;
    let tokens = token_changes(world, &tx.changes);
    Ok((result, tx.changes, tx.audit, tokens))
}

/// Runs a store call, recording how long it took (`wabagate_store_seconds`, by `op`).
fn timed<T>(op: &'static str, call: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = call();
    metrics::histogram!("wabagate_store_seconds", "op" => op).record(started.elapsed().as_secs_f64());
    out
}

/// How many tokens a write mints and revokes, counted once it is committed
/// (`wabagate_tokens_minted_total`, `wabagate_tokens_revoked_total`).
struct TokenChanges {
    minted: u64,
    revoked: u64,
}

impl TokenChanges {
    fn count(&self) {
        if self.minted > 0 {
            metrics::counter!("wabagate_tokens_minted_total").increment(self.minted);
        }
        if self.revoked > 0 {
            metrics::counter!("wabagate_tokens_revoked_total").increment(self.revoked);
        }
    }
}

fn token_changes(world: &World, changes: &[Change]) -> TokenChanges {
    let mut counted = TokenChanges { minted: 0, revoked: 0 };
    for change in changes {
        if let Change::Token(t) = change {
            match world.token(t.id) {
                None => counted.minted += 1,
                Some(before) if before.revoked_at.is_none() && t.revoked_at.is_some() => counted.revoked += 1,
                Some(_) => {}
            }
        }
    }
    counted
}

/// Loads the world on two threads: one reads and decodes the store's rows, the other (this one)
/// applies them, in batches, so decoding and indexing overlap. Emptied batches go back to the
/// reader, so the load allocates no more than a few batches however large the store.
fn load_world(store: &dyn Store) -> Result<World, store::StoreError> {
    const BATCH: usize = 2048;
    const IN_FLIGHT: usize = 16;
    let started = std::time::Instant::now();
    let mut world = World::default();
    std::thread::scope(|s| {
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Change>>(IN_FLIGHT);
        let (emptied, recycled) = std::sync::mpsc::sync_channel::<Vec<Change>>(IN_FLIGHT + 2);
        let reader = s.spawn(move || {
            let fresh = || recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH));
            let mut batch = fresh();
            store.load_into(&mut |change| {
                batch.push(change);
                if batch.len() == BATCH {
                    // A closed channel means the applying side is gone; the load ends with it.
                    let _ = batches.send(std::mem::replace(&mut batch, fresh()));
                }
            })?;
            let _ = batches.send(batch);
            Ok::<_, store::StoreError>(())
        });
        for mut batch in received {
            for change in batch.drain(..) {
                world.apply_owned(change);
            }
            let _ = emptied.try_send(batch);
        }
        reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), counts = ?world.counts(), "loaded the world");
    Ok(world)
}
