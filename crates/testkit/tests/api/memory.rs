//! Authorization is answered from memory: an ordinary authorized (or refused) request makes no
//! call on the store; the only writes it causes are the coalesced token last-use flushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use model::{AuditEvent, Change, DeliveryAttempt, GraphId, WebhookDelivery};
use store::{AuditQuery, SqliteStore, Store};
use testkit::TestServer;

/// A store that counts every call made on it.
struct Counting {
    inner: SqliteStore,
    calls: Arc<AtomicUsize>,
}

impl Store for Counting {
    fn load_into(&self, apply: &mut dyn FnMut(Change)) -> store::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.load_into(apply)
    }
    fn commit(&self, based_on: u64, changes: &[Change], audit: &[AuditEvent]) -> store::Result<Option<u64>> {
        // The coalesced flush of token last-use times runs on its own clock, not per request.
        if !changes.iter().all(|c| matches!(c, Change::TokensUsed { .. })) || !audit.is_empty() {
            self.calls.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.commit(based_on, changes, audit)
    }
    fn messages(&self, waba: GraphId, limit: usize) -> store::Result<Vec<model::Message>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.messages(waba, limit)
    }
    fn audit(&self, query: &AuditQuery) -> store::Result<Vec<AuditEvent>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.audit(query)
    }
    // The webhook queue is the delivery worker's, not the requests': not counted.
    fn claim_deliveries(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> store::Result<Vec<WebhookDelivery>> {
        self.inner.claim_deliveries(now_ms, lease_until_ms, limit)
    }
    fn next_delivery_due(&self) -> store::Result<Option<i64>> {
        self.inner.next_delivery_due()
    }
    fn record_attempt(&self, attempt: &DeliveryAttempt) -> store::Result<()> {
        self.inner.record_attempt(attempt)
    }
    fn deliveries(&self, app: GraphId, before: Option<u64>, limit: usize) -> store::Result<Vec<WebhookDelivery>> {
        self.inner.deliveries(app, before, limit)
    }
    fn delivery(&self, id: u64) -> store::Result<Option<WebhookDelivery>> {
        self.inner.delivery(id)
    }
    fn redeliver(&self, id: u64, now_ms: i64) -> store::Result<Option<u64>> {
        self.inner.redeliver(id, now_ms)
    }
    fn release_leases(&self, ids: &[u64]) -> store::Result<()> {
        self.inner.release_leases(ids)
    }
    fn release_all_leases(&self) -> store::Result<()> {
        self.inner.release_all_leases()
    }
    fn prune_messages(&self, before: i64, limit: usize) -> store::Result<u64> {
        self.inner.prune_messages(before, limit)
    }
    fn prune_deliveries(&self, before_ms: i64) -> store::Result<u64> {
        self.inner.prune_deliveries(before_ms)
    }
}

#[tokio::test]
async fn authorized_and_refused_requests_never_touch_the_store() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let ts = TestServer::start_with_store(move |path| {
        Arc::new(Counting { inner: SqliteStore::open(path).unwrap(), calls: counter }) as Arc<dyn Store>
    })
    .await;
    let (su, token) = ts.employee("Reader", "business_management,whatsapp_business_management").await;
    ts.assign(&ts.b("waba_id"), &su, "DEVELOP").await.ok();
    let before = calls.load(Ordering::SeqCst);

    let admin = ts.admin();
    let (waba, biz) = (ts.b("waba_id"), ts.b("business_id"));
    let app_token = format!("{}|{}", ts.b("app_id"), ts.b("app_secret"));
    for _ in 0..20 {
        ts.get("me", Some(&token), &[]).await.ok();
        ts.get(&waba, Some(&token), &[]).await.ok();
        ts.get(&format!("{waba}/assigned_users"), Some(&token), &[("business", &biz)]).await.ok();
        ts.get(&format!("{biz}/owned_whatsapp_business_accounts"), Some(&admin), &[]).await.ok();
        ts.get(&format!("{biz}/system_users"), Some(&admin), &[]).await.ok();
        ts.get("debug_token", Some(&app_token), &[("input_token", &token)]).await.ok();
        ts.get(&ts.b("client_waba_id"), Some(&token), &[]).await.assert_error(400, 100, Some(33));
        ts.post(&format!("{waba}/assigned_users"), Some(&token), &[("user", &su), ("tasks", "MANAGE")])
            .await
            .assert_error(403, 200, None);
        ts.get("me", Some("EAAnot-a-token"), &[]).await.assert_error(401, 190, None);
    }
    assert_eq!(calls.load(Ordering::SeqCst), before, "requests reached the store");
}
