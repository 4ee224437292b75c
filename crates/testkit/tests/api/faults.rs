//! Writes when the store fails, and writes that arrive together: group commit answers each write
//! only once it is stored, and a write the store refused leaves no trace, in memory or on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use model::{AuditEvent, Change, DeliveryAttempt, GraphId, WebhookDelivery};
use store::{AuditQuery, SqliteStore, Store};
use testkit::TestServer;

/// A store whose commits fail while `failing` is set, as a full disk would make them (after
/// `slow`, when set), and whose loads fail while `unreadable` is set.
struct Flaky {
    inner: SqliteStore,
    failing: Arc<AtomicBool>,
    slow: Option<std::time::Duration>,
    unreadable: Arc<AtomicBool>,
}

impl Flaky {
    fn new(path: &std::path::Path, failing: Arc<AtomicBool>) -> Flaky {
        Flaky { inner: SqliteStore::open(path).unwrap(), failing, slow: None, unreadable: Default::default() }
    }
}

impl Store for Flaky {
    fn load_into(&self, apply: &mut dyn FnMut(Change)) -> store::Result<()> {
        if self.unreadable.load(Ordering::SeqCst) {
            return Err(store::StoreError::new("I/O error"));
        }
        self.inner.load_into(apply)
    }
    fn commit(&self, based_on: u64, changes: &[Change], audit: &[AuditEvent]) -> store::Result<Option<u64>> {
        if self.failing.load(Ordering::SeqCst) {
            if let Some(slow) = self.slow {
                std::thread::sleep(slow);
            }
            return Err(store::StoreError::new("disk full"));
        }
        self.inner.commit(based_on, changes, audit)
    }
    fn messages(&self, waba: GraphId, limit: usize) -> store::Result<Vec<model::Message>> {
        self.inner.messages(waba, limit)
    }
    fn audit(&self, query: &AuditQuery) -> store::Result<Vec<AuditEvent>> {
        self.inner.audit(query)
    }
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

fn listed(reply: &testkit::Reply, user: &str) -> bool {
    reply.data().iter().any(|u| u["id"] == user)
}

#[tokio::test]
async fn a_write_the_store_refuses_answers_code_2_and_leaves_nothing_behind() {
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
    let ts = TestServer::start_with_store(move |path| Arc::new(Flaky::new(path, flag)) as Arc<dyn Store>).await;
    let (waba, biz, admin) = (ts.b("waba_id"), ts.b("business_id"), ts.admin());
    let (su, _) = ts.employee("Kept", "whatsapp_business_management").await;
    let users = format!("{waba}/assigned_users");

    failing.store(true, Ordering::SeqCst);
    let refused = ts.assign(&waba, &su, "MANAGE").await;
    let error = refused.assert_error(503, 2, None);
    assert_eq!(error["is_transient"], true);
    // Memory was reloaded from the store: the refused assignment is nowhere.
    assert!(!listed(&ts.get(&users, Some(&admin), &[("business", &biz)]).await, &su));
    let audit = ts.get("_wabagate/audit", Some(&admin), &[("target", &su)]).await;
    assert!(audit.ok()["data"].as_array().unwrap().iter().all(|e| e["action"] != "assignment.add"), "{:?}", audit.ok());

    failing.store(false, Ordering::SeqCst);
    ts.assign(&waba, &su, "DEVELOP").await.ok();
    let after = ts.get(&users, Some(&admin), &[("business", &biz)]).await;
    assert!(listed(&after, &su));
    let ts = ts.restart().await;
    let reloaded = ts.get(&users, Some(&admin), &[("business", &biz)]).await;
    let row = reloaded.data().iter().find(|u| u["id"] == su.as_str()).expect("stored before the restart").clone();
    assert_eq!(row["tasks"], serde_json::json!(["DEVELOP"]));
}

#[tokio::test]
async fn writes_arriving_together_are_all_answered_and_all_stored() {
    let ts = TestServer::start().await;
    let (waba, biz, admin) = (ts.b("waba_id"), ts.b("business_id"), ts.admin());
    let mut users = Vec::new();
    for i in 0..40 {
        users.push(ts.create_system_user(&format!("Together {i}"), "EMPLOYEE").await);
    }
    let ts = Arc::new(ts);
    let writes = users.iter().map(|su| {
        let (ts, waba, su) = (ts.clone(), waba.clone(), su.clone());
        tokio::spawn(async move { ts.assign(&waba, &su, "VIEW_TEMPLATES").await.ok().clone() })
    });
    for write in writes {
        assert_eq!(write.await.unwrap()["success"], true);
    }
    let ts = Arc::into_inner(ts).expect("every write is done").restart().await;
    let stored = ts.get(&format!("{waba}/assigned_users"), Some(&admin), &[("business", &biz), ("limit", "100")]).await;
    for su in &users {
        assert!(listed(&stored, su), "{su} was answered but not stored");
    }
}

#[tokio::test]
async fn a_write_being_committed_is_seen_by_no_one_until_it_is_stored() {
    let failing = Arc::new(AtomicBool::new(false));
    let flag = failing.clone();
    let ts = TestServer::start_with_store(move |path| {
        let slow = Some(std::time::Duration::from_millis(500));
        Arc::new(Flaky { slow, ..Flaky::new(path, flag) }) as Arc<dyn Store>
    })
    .await;
    let (waba, biz, admin) = (ts.b("waba_id"), ts.b("business_id"), ts.admin());
    let (su, _) = ts.employee("Unseen", "whatsapp_business_management").await;
    let users = format!("{waba}/assigned_users");

    failing.store(true, Ordering::SeqCst);
    let write = ts.assign(&waba, &su, "MANAGE");
    let watch = async {
        // Read all the while the write is in the store's hands (it answers after half a second).
        let mut reads = 0;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(400) {
            let seen = ts.get(&users, Some(&admin), &[("business", &biz)]).await;
            assert!(!listed(&seen, &su), "a write not yet stored was visible: {:?}", seen.body);
            reads += 1;
        }
        reads
    };
    let (refused, reads) = tokio::join!(write, watch);
    refused.assert_error(503, 2, None);
    assert!(reads > 0);
    assert!(!listed(&ts.get(&users, Some(&admin), &[("business", &biz)]).await, &su));
}

#[tokio::test]
async fn a_server_that_cannot_reload_after_a_failed_commit_refuses_writes_until_it_can() {
    let (failing, unreadable) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (flag, unread) = (failing.clone(), unreadable.clone());
    let ts = TestServer::start_with_store(move |path| {
        Arc::new(Flaky { unreadable: unread, ..Flaky::new(path, flag) }) as Arc<dyn Store>
    })
    .await;
    let waba = ts.b("waba_id");
    let (su, _) = ts.employee("Waiting", "whatsapp_business_management").await;
    let readyz = || async {
        let r = ts.client().get(format!("{}/readyz", ts.url)).bearer_auth(ts.admin()).send().await.unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(readyz().await.0, 200);

    failing.store(true, Ordering::SeqCst);
    unreadable.store(true, Ordering::SeqCst);
    ts.assign(&waba, &su, "MANAGE").await.assert_error(503, 2, None);
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["index"]["ok"], false, "{body}");
    // The store would take writes again, but memory may not match it: writes wait for a reload.
    failing.store(false, Ordering::SeqCst);
    ts.assign(&waba, &su, "DEVELOP").await.assert_error(503, 2, None);

    unreadable.store(false, Ordering::SeqCst);
    let started = std::time::Instant::now();
    while readyz().await.0 != 200 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "never ready again");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    ts.assign(&waba, &su, "DEVELOP").await.ok();
}
