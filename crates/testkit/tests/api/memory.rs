//! Authorization is answered from memory: an ordinary authorized (or refused) request makes no
//! call on the store; the only writes it causes are the coalesced token last-use flushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use model::{AuditEvent, Change};
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
    fn messages(&self, waba: model::GraphId, limit: usize) -> store::Result<Vec<model::Message>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.messages(waba, limit)
    }
    fn audit(&self, query: &AuditQuery) -> store::Result<Vec<AuditEvent>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.audit(query)
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
