//! The mutations a write can make. Each takes the proof that `model::rules` returned when it
//! authorized the caller ([`BusinessAccess`], [`WabaAccess`], [`AppAccess`]), so a mutation whose
//! check was forgotten does not compile:
//!
//! ```text
//! self.write(|tx| {
//!     let access = rules::authorize_waba(tx.world(), &acting.caller, Verb::Post, Operation::ManageAssignedUsers, waba)?;
//!     tx.assign(&access, user, tasks)
//! })
//! ```
//!
//! A proof is checked against the world of the write that uses it: its lifetime is that world's
//! borrow and it is invariant, so a proof taken in one write (or before it, from another read
//! of the world) cannot be used in another. It names the object it was checked on and the
//! operation: a mutation takes the object from the proof where it can (an assignment's WABA), and
//! otherwise refuses a proof for another object or another operation, answering a permissions
//! error rather than writing.
//!
//! Outside this crate there is no way to write but the operations of [`crate::Service`]: the
//! write itself ([`crate::Service::write`]) and the transaction ([`crate::Tx`]) are private to
//! it, and a proof cannot be made outside `model::rules`:
//!
//! ```compile_fail,E0624
//! async fn unchecked(service: &wabagate_service::Service) {
//!     let _ = service.write(|_tx| Ok(())).await;
//! }
//! ```
//!
//! ```compile_fail,E0603
//! fn unchecked(tx: &mut wabagate_service::Tx<'_>) {}
//! ```
//!
//! Nor can the store be reached to write behind the operations' back: the service shows it only
//! as a [`StoreView`], which reads.
//!
//! ```compile_fail,E0599
//! fn unchecked(service: &wabagate_service::Service) {
//!     use store::Store as _;
//!     let _ = service.store().commit(0, &[], &[]);
//! }
//! ```

use model::rules::{AppAccess, BusinessAccess, Operation, WabaAccess};
use model::{
    AllocationConfig, AppSubscription, Assignment, Business, Change, GraphError, GraphId, Message, MessageTemplate,
    PhoneNumber, Share, Solution, SubscribedApp, SystemUser, TaskSet, Token, Waba,
};

use crate::Tx;

/// The store as seen from outside the service (health checks, metrics): whether it is shared
/// and listening, whether it answers, and its change log's head. It writes nothing: every write
/// goes through an operation of [`crate::Service`].
#[derive(Clone)]
pub struct StoreView(pub(crate) std::sync::Arc<dyn store::Store>);

impl StoreView {
    /// Whether other servers write to this store.
    pub fn is_shared(&self) -> bool {
        self.0.is_shared()
    }

    /// For a shared store, how many times it has started listening for other servers' writes;
    /// `None` while it is not listening.
    pub fn listening(&self) -> Option<u64> {
        self.0.listening()
    }

    /// Checks the store answers a trivial query. Blocking: call it off the async threads.
    pub fn ping(&self) -> store::Result<()> {
        self.0.ping()
    }

    /// The sequence number of the last logged change. Blocking: call it off the async threads.
    pub fn log_head(&self) -> store::Result<u64> {
        self.0.log_head()
    }
}

/// Refuses a mutation whose proof was made for another operation or another object. Only a
/// defect in an operation can get here; it is refused, never written.
fn fits(fits: bool, op: Operation, mutation: &str) -> Result<(), GraphError> {
    if fits {
        return Ok(());
    }
    tracing::error!(?op, mutation, "a mutation was given the proof of another operation or object; refused");
    Err(GraphError::permission(Some("this operation was not authorized for this object")))
}

impl<'w> Tx<'w> {
    /// Creates, renames or installs an app on a system user of the proof's business.
    pub(crate) fn put_system_user(&mut self, access: &BusinessAccess<'w>, su: SystemUser) -> Result<(), GraphError> {
        let op = access.op();
        let ok = matches!(op, Operation::ManageSystemUsers | Operation::InstallApp)
            && su.business == access.business()
            && self.world().system_user(su.id).is_none_or(|s| s.business == access.business());
        fits(ok, op, "put_system_user")?;
        self.change(Change::SystemUser(Box::new(su)));
        Ok(())
    }

    /// Changes the proof's business itself (the system-user policy).
    pub(crate) fn put_business(&mut self, access: &BusinessAccess<'w>, b: Business) -> Result<(), GraphError> {
        fits(access.op() == Operation::ManageSystemUsers && b.id == access.business(), access.op(), "put_business")?;
        self.change(Change::Business(Box::new(b)));
        Ok(())
    }

    /// Mints or revokes a token of a system user of the proof's business.
    pub(crate) fn put_token(&mut self, access: &BusinessAccess<'w>, token: Token) -> Result<(), GraphError> {
        let owner = self.world().system_user(token.system_user).map(|su| su.business);
        fits(access.op() == Operation::ManageTokens && owner == Some(access.business()), access.op(), "put_token")?;
        self.change(Change::Token(Box::new(token)));
        Ok(())
    }

    /// Mints (refresh) or revokes a token of the proof's app, on its client credentials.
    pub(crate) fn exchange_token(&mut self, access: &AppAccess<'w>, token: Token) -> Result<(), GraphError> {
        fits(access.op() == Operation::ExchangeTokens && token.app == access.app(), access.op(), "exchange_token")?;
        self.change(Change::Token(Box::new(token)));
        Ok(())
    }

    /// Gives `user` exactly `tasks` on the proof's WABA.
    pub(crate) fn assign(&mut self, access: &WabaAccess<'w>, user: GraphId, tasks: TaskSet) -> Result<(), GraphError> {
        fits(access.op() == Operation::ManageAssignedUsers, access.op(), "assign")?;
        let assigned_time = self.now();
        self.change(Change::Assign(Assignment { waba: access.waba(), user, tasks, assigned_time }));
        Ok(())
    }

    /// Removes `user`'s tasks on the proof's WABA.
    pub(crate) fn unassign(&mut self, access: &WabaAccess<'w>, user: GraphId) -> Result<(), GraphError> {
        fits(access.op() == Operation::ManageAssignedUsers, access.op(), "unassign")?;
        self.change(Change::Unassign { waba: access.waba(), user });
        Ok(())
    }

    /// Subscribes an app to the proof's WABA's webhooks.
    pub(crate) fn subscribe_app(&mut self, access: &WabaAccess<'w>, s: SubscribedApp) -> Result<(), GraphError> {
        let ok = access.op() == Operation::ManageSubscribedApps && s.waba == access.waba();
        fits(ok, access.op(), "subscribe_app")?;
        self.change(Change::Subscribe(Box::new(s)));
        Ok(())
    }

    /// Unsubscribes an app from the proof's WABA: the caller's own app with ManageSubscribedApps,
    /// another app with RemoveAppSubscriptions.
    pub(crate) fn unsubscribe_app(&mut self, access: &WabaAccess<'w>, app: GraphId) -> Result<(), GraphError> {
        let ok = matches!(access.op(), Operation::ManageSubscribedApps | Operation::RemoveAppSubscriptions);
        fits(ok, access.op(), "unsubscribe_app")?;
        self.change(Change::Unsubscribe { waba: access.waba(), app });
        Ok(())
    }

    /// Changes a phone number of the proof's WABA.
    pub(crate) fn put_phone_number(&mut self, access: &WabaAccess<'w>, p: PhoneNumber) -> Result<(), GraphError> {
        let ok = access.op() == Operation::ManagePhone
            && p.waba == access.waba()
            && self.world().phone_number(p.id).is_some_and(|x| x.waba == access.waba());
        fits(ok, access.op(), "put_phone_number")?;
        self.change(Change::PhoneNumber(Box::new(p)));
        Ok(())
    }

    /// Creates, edits or reviews a message template of the proof's WABA.
    pub(crate) fn put_template(&mut self, access: &WabaAccess<'w>, t: MessageTemplate) -> Result<(), GraphError> {
        let ok = matches!(access.op(), Operation::ManageTemplates | Operation::ReviewTemplates)
            && t.waba == access.waba()
            && self.world().template(t.id).is_none_or(|x| x.waba == access.waba());
        fits(ok, access.op(), "put_template")?;
        self.change(Change::Template(Box::new(t)));
        Ok(())
    }

    /// Deletes a message template of the proof's WABA.
    pub(crate) fn delete_template(&mut self, access: &WabaAccess<'w>, id: GraphId) -> Result<(), GraphError> {
        let ok = access.op() == Operation::ManageTemplates
            && self.world().template(id).is_some_and(|t| t.waba == access.waba());
        fits(ok, access.op(), "delete_template")?;
        self.change(Change::DeleteTemplate { id });
        Ok(())
    }

    /// Approves a template whose automatic review is due. The server's own act, on no caller's
    /// behalf: what vouches for it is the due time the template itself carries. Answers the
    /// approved template, or `None` if it is not due.
    pub(crate) fn approve_due_template(&mut self, id: GraphId) -> Option<MessageTemplate> {
        let now = self.now();
        let mut t = self
            .world()
            .template(id)
            .filter(|t| t.status == "PENDING" && t.review_at.is_some_and(|at| at <= now))?
            .clone();
        t.status = "APPROVED".into();
        t.review_at = None;
        self.change(Change::Template(Box::new(t.clone())));
        Some(t)
    }

    /// Records a message sent from a phone number of the proof's WABA.
    pub(crate) fn record_message(&mut self, access: &WabaAccess<'w>, m: Message) -> Result<(), GraphError> {
        let ok = access.op() == Operation::SendMessages
            && m.waba == access.waba()
            && self.world().phone_number(m.phone_number).is_some_and(|p| p.waba == access.waba());
        fits(ok, access.op(), "record_message")?;
        self.change(Change::Message(Box::new(m)));
        Ok(())
    }

    /// Changes the proof's WABA (its name).
    pub(crate) fn put_waba(&mut self, access: &WabaAccess<'w>, w: Waba) -> Result<(), GraphError> {
        fits(access.op() == Operation::UpdateWaba && w.id == access.waba(), access.op(), "put_waba")?;
        self.change(Change::Waba(Box::new(w)));
        Ok(())
    }

    /// Shares a credit line of `line`'s business with the proof's WABA and attaches it.
    pub(crate) fn attach_credit(
        &mut self,
        line: &BusinessAccess<'w>,
        waba: &WabaAccess<'w>,
        funded: Waba,
        allocation: AllocationConfig,
    ) -> Result<(), GraphError> {
        let line_business = self.world().credit_line(allocation.credit_line).map(|c| c.business);
        let ok = line.op() == Operation::ManageCreditLines
            && waba.op() == Operation::ShareCredit
            && line_business == Some(line.business())
            && funded.id == waba.waba()
            && allocation.waba == waba.waba();
        fits(ok, waba.op(), "attach_credit")?;
        self.change(Change::Waba(Box::new(funded)));
        self.change(Change::Allocation(Box::new(allocation)));
        Ok(())
    }

    /// Revokes a credit line's allocation, and unfunds its WABA if the line still funds it.
    pub(crate) fn revoke_credit(
        &mut self,
        line: &BusinessAccess<'w>,
        revoked: AllocationConfig,
        unfunded: Option<Waba>,
    ) -> Result<(), GraphError> {
        let line_business = self.world().credit_line(revoked.credit_line).map(|c| c.business);
        let ok = line.op() == Operation::ManageCreditLines
            && line_business == Some(line.business())
            && unfunded.as_ref().is_none_or(|w| w.id == revoked.waba);
        fits(ok, line.op(), "revoke_credit")?;
        if let Some(w) = unfunded {
            self.change(Change::Waba(Box::new(w)));
        }
        self.change(Change::Allocation(Box::new(revoked)));
        Ok(())
    }

    /// Creates a solution owned by an app of the proof's business, or changes the state of a
    /// solution whose either side is the proof's business.
    pub(crate) fn put_solution(&mut self, access: &BusinessAccess<'w>, s: Solution) -> Result<(), GraphError> {
        let world = self.world();
        let business_of = |app: GraphId| world.app(app).map(|a| a.business);
        let side = |s: &Solution| {
            business_of(s.owner_app) == Some(access.business()) || business_of(s.partner_app) == Some(access.business())
        };
        let ok = access.op() == Operation::ManageSolutions
            && match world.solution(s.id) {
                Some(existing) => {
                    side(existing) && existing.owner_app == s.owner_app && existing.partner_app == s.partner_app
                }
                None => business_of(s.owner_app) == Some(access.business()),
            };
        fits(ok, access.op(), "put_solution")?;
        self.change(Change::Solution(Box::new(s)));
        Ok(())
    }

    /// Shares a WABA the proof's business owns with a partner (or changes the share's level).
    pub(crate) fn share_waba(&mut self, access: &BusinessAccess<'w>, share: Share) -> Result<(), GraphError> {
        let owner = self.world().waba(share.waba).map(|w| w.owner);
        fits(access.op() == Operation::ShareWabas && owner == Some(access.business()), access.op(), "share_waba")?;
        self.change(Change::Share(share));
        Ok(())
    }

    /// Ends the share of a WABA the proof's business owns with a partner.
    pub(crate) fn unshare_waba(
        &mut self,
        access: &BusinessAccess<'w>,
        waba: GraphId,
        partner: GraphId,
    ) -> Result<(), GraphError> {
        let owner = self.world().waba(waba).map(|w| w.owner);
        fits(access.op() == Operation::ShareWabas && owner == Some(access.business()), access.op(), "unshare_waba")?;
        self.change(Change::Unshare { waba, partner });
        Ok(())
    }

    /// Sets the proof's app's webhook subscription to one object.
    pub(crate) fn put_app_subscription(
        &mut self,
        access: &AppAccess<'w>,
        s: AppSubscription,
    ) -> Result<(), GraphError> {
        let ok = access.op() == Operation::ManageWebhookSubscriptions && s.app == access.app();
        fits(ok, access.op(), "put_app_subscription")?;
        self.change(Change::AppSubscribe(Box::new(s)));
        Ok(())
    }

    /// Ends the proof's app's webhook subscription to one object.
    pub(crate) fn remove_app_subscription(&mut self, access: &AppAccess<'w>, object: String) -> Result<(), GraphError> {
        fits(access.op() == Operation::ManageWebhookSubscriptions, access.op(), "remove_app_subscription")?;
        self.change(Change::AppUnsubscribe { app: access.app(), object });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Inside the crate the compiler cannot hide `Tx::change` from the operations, so this holds
    /// them to the mutations above: no source of the crate but the transaction's own (`lib.rs`)
    /// and this file pushes a raw change. `webhooks.rs` queues events and ends the subscriptions a
    /// change of reach ends, in `impl Tx` (`self.change`): consequences of a mutation that took
    /// its proof.
    #[test]
    fn operations_change_the_world_only_through_mutations_that_take_a_proof() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut scanned = 0;
        for entry in std::fs::read_dir(dir).expect("the crate's sources") {
            let path = entry.expect("a source").path();
            let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
            if !file.ends_with(".rs") || file == "lib.rs" || file == "access.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a readable source");
            for (n, line) in text.lines().enumerate() {
                let raw = line.contains("tx.change(") || (file != "webhooks.rs" && line.contains(".change(Change::"));
                assert!(
                    !raw,
                    "{file}:{}: a raw change; use a mutation of access.rs that takes the access proof",
                    n + 1
                );
            }
            scanned += 1;
        }
        assert!(scanned >= 10, "found only {scanned} sources in {dir}");
    }

    use std::sync::Arc;

    use model::rules::{self, AppCaller, Caller, Operation};
    use model::{GraphId, Task, TaskSet, Verb};

    use crate::fixtures::{Seeded, demo};
    use crate::{Acting, Authenticated, Clock, Service, Settings, Via};

    /// The store the tests run on: SQLite in a temporary directory, or, with
    /// `WABAGATE_TEST_DATABASE` set to a PostgreSQL URL, a fresh schema there (dropped with it).
    struct TestStore {
        _dir: tempfile::TempDir,
        schema: Option<String>,
    }

    impl Drop for TestStore {
        fn drop(&mut self) {
            if let Some(url) = self.schema.take() {
                // On a thread of its own: the test's runtime is ending.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                    if let Err(e) = rt.block_on(store::PgStore::drop_schema(&url)) {
                        eprintln!("could not drop the test schema of {url}: {e}");
                    }
                })
                .join();
            }
        }
    }

    async fn demo_service() -> (TestStore, Service, Seeded) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let base = std::env::var("WABAGATE_TEST_DATABASE").ok().filter(|u| !u.is_empty());
        let (store, schema): (Arc<dyn store::Store>, _) = match base {
            Some(base) => {
                let name = format!("wabagate_test_{:016x}", rand::random::<u64>());
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}schema={name}&application_name={name}");
                (Arc::new(store::PgStore::open(&url).await.expect("a PostgreSQL store")), Some(url))
            }
            None => (Arc::new(store::SqliteStore::open(&dir.path().join("wabagate.db")).expect("a store")), None),
        };
        let guard = TestStore { _dir: dir, schema };
        // Opening blocks (the store is read on this thread): off the runtime.
        let open = move || Service::open(store, Arc::new(Clock::default()), Settings::default());
        let service = tokio::task::spawn_blocking(open).await.expect("opened").expect("a service");
        let seeded = service.seed_if_empty(None).await.expect("the demo world").expect("an empty store");
        (guard, service, seeded)
    }

    /// The demo's ADMIN system user, as the rules see it, and its token.
    fn admin(service: &Service, seeded: &Seeded) -> (Caller, model::Token) {
        let world = service.world();
        let principal = world.principal(seeded.ids[demo::ADMIN]).expect("the admin system user");
        let token = world.tokens_of(principal.id).next().cloned().expect("the admin token");
        (Caller { principal, scopes: Some(token.scopes) }, token)
    }

    #[tokio::test]
    async fn a_proof_for_one_waba_does_not_change_another() {
        let (_dir, service, seeded) = demo_service().await;
        let (caller, _) = admin(&service, &seeded);
        let (waba, client_waba) = (seeded.ids[demo::WABA], seeded.ids[demo::CLIENT_WABA]);
        let service = &service;
        let rename = |proof_for: GraphId, name: &'static str| async move {
            service
                .write(|tx| {
                    let access =
                        rules::authorize_waba(tx.world(), &caller, Verb::Post, Operation::ManageTemplates, proof_for)?;
                    let mut t = tx.world().templates_of(waba).next().expect("the demo template").clone();
                    t.name = name.into();
                    tx.put_template(&access, t)
                })
                .await
        };
        let refused = rename(client_waba, "for_the_client_waba").await.expect_err("a proof for another WABA");
        assert_eq!((refused.status, refused.code), (403, 200), "{}", refused.message);
        rename(waba, "for_its_own_waba").await.expect("the proof for the template's WABA");
        let names: Vec<String> = service.world().templates_of(waba).map(|t| t.name.clone()).collect();
        assert!(names.contains(&"for_its_own_waba".to_string()), "{names:?}");
        assert!(!names.contains(&"for_the_client_waba".to_string()), "{names:?}");
    }

    #[tokio::test]
    async fn a_proof_for_one_operation_does_not_serve_another() {
        let (_dir, service, seeded) = demo_service().await;
        let (caller, _) = admin(&service, &seeded);
        let (waba, user) = (seeded.ids[demo::WABA], caller.principal.id);
        let service = &service;
        let assign = |op: Operation| async move {
            service
                .write(|tx| {
                    let access = rules::authorize_waba(tx.world(), &caller, Verb::Post, op, waba)?;
                    tx.assign(&access, user, TaskSet::of(&[Task::ViewTemplates]))
                })
                .await
        };
        let refused = assign(Operation::ReadWaba).await.expect_err("a proof to read the WABA");
        assert_eq!((refused.status, refused.code), (403, 200), "{}", refused.message);
        assert!(service.world().assignment(waba, user).is_none());
        assign(Operation::ManageAssignedUsers).await.expect("the proof to manage assigned users");
        assert!(service.world().assignment(waba, user).is_some());
    }

    #[tokio::test]
    async fn only_the_app_itself_changes_its_webhook_subscriptions() {
        let (_dir, service, seeded) = demo_service().await;
        let (caller, token) = admin(&service, &seeded);
        let app = seeded.ids[demo::APP];
        let user = Authenticated::User { acting: Acting { caller, token: Some(token.id), via: Via::Api }, token };
        let another_app = Authenticated::App { app: GraphId(1) };
        // Refused before the handshake: the callback (nothing listens there) is never asked.
        for who in [&user, &another_app] {
            let fields = vec!["messages".to_string()];
            let refused = service
                .subscribe_webhooks(who, app, crate::webhooks::WABA_OBJECT, "http://127.0.0.1:9/hook", "v", fields)
                .await
                .expect_err("not the app itself");
            assert_eq!(refused.code, 15, "{}", refused.message);
            let refused = service.unsubscribe_webhooks(who, app, None, None).await.expect_err("not the app itself");
            assert_eq!(refused.code, 15, "{}", refused.message);
        }
        assert_eq!(service.world().app_subscriptions_of(app).count(), 0);
        // Redelivery: the app itself, or an admin of its business in the console, never a user token.
        let refused = service.redeliver(user.app_caller(), app, 1).await.expect_err("a user token");
        assert_eq!(refused.code, 15, "{}", refused.message);
        let console = Caller { principal: caller.principal, scopes: None };
        assert_eq!(service.redeliver(AppCaller::User(&console), app, 1).await.expect("an admin in the console"), None);
        assert_eq!(service.redeliver(AppCaller::App(app), app, 1).await.expect("the app itself"), None);
    }
}
