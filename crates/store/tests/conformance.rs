//! One conformance suite for every store: SQLite always, PostgreSQL when
//! `WABAGATE_TEST_DATABASE` names one (each run in a fresh schema, dropped afterwards).

use std::collections::BTreeSet;
use std::sync::Arc;

use model::*;
use wabagate_store::{AuditQuery, LogRetention, PgStore, SqliteStore, Store};

fn sample_world() -> Vec<Change> {
    let b = GraphId(1_000_000_000_000_001);
    let w = GraphId(1_000_000_000_000_002);
    let su = GraphId(1_000_000_000_000_003);
    let app = GraphId(1_000_000_000_000_004);
    let phone = GraphId(1_000_000_000_000_005);
    let partner = GraphId(1_000_000_000_000_006);
    let credit = GraphId(1_000_000_000_000_007);
    let solution = GraphId(1_000_000_000_000_008);
    vec![
        Change::Business(Box::new(Business {
            id: b,
            name: "B".into(),
            timezone_id: 0,
            verification_status: "verified".into(),
            created_time: 1,
            system_user_policy_accepted_at: None,
        })),
        Change::Business(Box::new(Business {
            id: partner,
            name: "P".into(),
            timezone_id: 0,
            verification_status: "verified".into(),
            created_time: 1,
            system_user_policy_accepted_at: Some(2),
        })),
        Change::App(Box::new(App {
            id: app,
            business: b,
            name: "A".into(),
            secret: "s".into(),
            require_appsecret_proof: true,
            created_time: 1,
        })),
        Change::SystemUser(Box::new(SystemUser {
            id: su,
            business: b,
            name: "SU".into(),
            role: Role::Admin,
            finance_permission: None,
            created_by: None,
            created_time: 1,
            apps: [app].into(),
        })),
        Change::Token(Box::new(Token {
            id: GraphId(1_000_000_000_000_009),
            hash: [7; 32],
            system_user: su,
            app,
            scopes: ScopeSet::of(&[Scope::BUSINESS_MANAGEMENT]),
            issued_at: 1,
            expires_at: Some(99),
            revoked_at: None,
            last_used_at: None,
        })),
        Change::Waba(Box::new(Waba {
            id: w,
            owner: b,
            name: "W".into(),
            currency: "USD".into(),
            timezone_id: "1".into(),
            message_template_namespace: "ns".into(),
            account_review_status: "APPROVED".into(),
            created_time: 1,
            primary_funding_id: None,
        })),
        Change::Share(Share { waba: w, partner, level: ShareLevel::Standard, created_time: 1 }),
        Change::Assign(Assignment {
            waba: w,
            user: su,
            tasks: TaskSet::of(&[Task::Develop, Task::ViewCost]),
            assigned_time: 3,
        }),
        Change::PhoneNumber(Box::new(PhoneNumber {
            id: phone,
            waba: w,
            display_phone_number: "+1".into(),
            verified_name: "V".into(),
            status: "CONNECTED".into(),
            code_verification_status: "VERIFIED".into(),
            quality_rating: "GREEN".into(),
            created_time: 1,
            pin_hash: None,
            pending_code: None,
            last_onboarded_time: None,
        })),
        Change::CreditLine(Box::new(CreditLine {
            id: credit,
            business: b,
            legal_entity_name: "L".into(),
            currency: "USD".into(),
            created_time: 1,
        })),
        Change::Solution(Box::new(Solution {
            id: solution,
            name: "S".into(),
            owner_app: app,
            partner_app: app,
            owner_permissions: TaskSet::of(&[Task::Messaging]),
            partner_permissions: TaskSet::of(&[Task::Develop]),
            status: "ACTIVE".into(),
            status_for_pending_request: "NONE".into(),
            deactivation_requested_by: None,
            created_time: 1,
        })),
        Change::OnboardToSolution(SolutionWaba { solution, waba: w, created_time: 1 }),
        Change::Subscribe(Box::new(SubscribedApp {
            waba: w,
            app,
            override_callback_uri: None,
            verify_token: None,
            created_time: 1,
        })),
    ]
}

fn as_set(changes: &[Change]) -> BTreeSet<String> {
    changes.iter().map(|c| serde_json::to_string(c).unwrap()).collect()
}

fn event(business: GraphId, target: GraphId, action: &str) -> AuditEvent {
    AuditEvent {
        id: 0,
        time: 5,
        business,
        actor: Actor { user: GraphId(42), name: "x".into(), token: None, via: "api".into() },
        action: action.into(),
        target,
        target_type: "system_user".into(),
        before: None,
        after: Some(serde_json::json!({"k": 1})),
    }
}

fn conforms(store: &dyn Store) {
    let world = sample_world();
    let head = store.log_head().unwrap();
    store
        .commit(head, &world, &[event(GraphId(1), GraphId(2), "a.one"), event(GraphId(1), GraphId(3), "a.two")])
        .unwrap();
    assert_eq!(as_set(&store.load().unwrap()), as_set(&world), "what is committed loads back");

    // Updates, deletions and last-use times.
    let w = GraphId(1_000_000_000_000_002);
    let su = GraphId(1_000_000_000_000_003);
    let head = store.log_head().unwrap();
    store
        .commit(
            head,
            &[
                Change::Unassign { waba: w, user: su },
                Change::TokensUsed { uses: vec![(GraphId(1_000_000_000_000_009), 77)] },
            ],
            &[],
        )
        .unwrap();
    let loaded = store.load().unwrap();
    assert!(!loaded.iter().any(|c| matches!(c, Change::Assign(_))), "the assignment is gone");
    let token = loaded.iter().find_map(|c| if let Change::Token(t) = c { Some(t.clone()) } else { None }).unwrap();
    assert_eq!(token.last_used_at, Some(77));

    // The audit log: newest first, filtered, paged.
    let all = store.audit(&AuditQuery { business: Some(GraphId(1)), limit: 10, ..Default::default() }).unwrap();
    assert_eq!(all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["a.two", "a.one"]);
    let by_target = store.audit(&AuditQuery { target: Some(GraphId(2)), limit: 10, ..Default::default() }).unwrap();
    assert_eq!(by_target.len(), 1);
    let older = store
        .audit(&AuditQuery { business: Some(GraphId(1)), before: Some(all[0].id), limit: 10, ..Default::default() })
        .unwrap();
    assert_eq!(older.len(), 1);
    let by_actor = store.audit(&AuditQuery { actor: Some(GraphId(42)), limit: 10, ..Default::default() }).unwrap();
    assert_eq!(by_actor.len(), 2);
    assert!(store.audit(&AuditQuery { actor: Some(GraphId(43)), limit: 10, ..Default::default() }).unwrap().is_empty());
    let every = AuditQuery {
        business: Some(GraphId(1)),
        actor: Some(GraphId(42)),
        target: Some(GraphId(2)),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.audit(&every).unwrap().len(), 1);
    let newest = store.audit(&AuditQuery { limit: 1, ..Default::default() }).unwrap();
    assert_eq!(newest.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["a.two"]);

    // Messages, newest first.
    let m = |id: &str| Message {
        id: id.into(),
        phone_number: GraphId(1_000_000_000_000_005),
        waba: w,
        to: "1".into(),
        kind: "text".into(),
        body: serde_json::json!({}),
        sent_by: su,
        created_time: 1,
    };
    let head = store.log_head().unwrap();
    store
        .commit(head, &[Change::Message(Box::new(m("wamid.1"))), Change::Message(Box::new(m("wamid.2")))], &[])
        .unwrap();
    let ids: Vec<String> = store.messages(w, 10).unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["wamid.2", "wamid.1"]);

    // Pruning by age, in batches: the oldest first, the newer kept.
    let newer = Message { created_time: 50, ..m("wamid.3") };
    store.commit(store.log_head().unwrap(), &[Change::Message(Box::new(newer))], &[]).unwrap();
    assert_eq!(store.prune_messages(50, 1).unwrap(), 1);
    assert_eq!(store.prune_messages(50, 10).unwrap(), 1);
    assert_eq!(store.prune_messages(50, 10).unwrap(), 0);
    let ids: Vec<String> = store.messages(w, 10).unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, ["wamid.3"]);
}

/// A message stored as earlier versions stored it: the whole parameter set, credentials included.
fn message_with_credentials() -> Message {
    Message {
        id: "wamid.old".into(),
        phone_number: GraphId(1_000_000_000_000_005),
        waba: GraphId(1_000_000_000_000_002),
        to: "15550001111".into(),
        kind: "text".into(),
        body: serde_json::json!({
            "messaging_product": "whatsapp", "to": "15550001111", "type": "text",
            "text": {"body": "hi", "preview_url": true}, "context": {"message_id": "wamid.x"},
            "access_token": "EAAsecret", "appsecret_proof": "deadbeef", "junk": [1, 2],
        }),
        sent_by: GraphId(1_000_000_000_000_003),
        created_time: 7,
    }
}

/// After the scrubbing migration, the stored message holds only its message fields.
fn scrubbed(store: &dyn Store) {
    let m = store.messages(GraphId(1_000_000_000_000_002), 10).unwrap();
    let old = m.iter().find(|m| m.id == "wamid.old").expect("the message is kept");
    assert_eq!(
        old.body,
        serde_json::json!({
            "messaging_product": "whatsapp", "to": "15550001111", "type": "text",
            "text": {"body": "hi", "preview_url": true}, "context": {"message_id": "wamid.x"},
        })
    );
}

/// The webhook queue: each app's events about one entry leave one at a time, in order of when
/// they happen; a leased delivery is not handed out again until its lease ends or is released.
fn queue_conforms(store: &dyn Store) {
    let (a, b) = (GraphId(1_000_000_000_000_010), GraphId(1_000_000_000_000_011));
    let (e, f) = (GraphId(1_000_000_000_000_020), GraphId(1_000_000_000_000_021));
    let event = |app, entry, name: &str, due_ms| {
        Change::Event(Box::new(WebhookEvent {
            app,
            entry,
            waba: Some(entry),
            field: "messages".into(),
            body: format!("{{\"name\":\"{name}\"}}"),
            due_ms,
        }))
    };
    let head = store.log_head().unwrap();
    let events = [event(a, e, "e1", 1000), event(a, e, "e2", 1000), event(a, e, "e3", 500), event(a, f, "f1", 1000)];
    store.commit(head, &events, &[]).unwrap();
    let head = store.log_head().unwrap();
    store.commit(head, &[event(b, e, "g1", 2000)], &[]).unwrap();
    let names = |ds: &[WebhookDelivery]| ds.iter().map(|d| d.event.body.clone()).collect::<Vec<_>>();
    let name = |n: &str| format!("{{\"name\":\"{n}\"}}");

    let first = store.claim_deliveries(1500, 61_500, 10).unwrap();
    assert_eq!(names(&first), [name("e3"), name("f1")]);
    assert!(store.claim_deliveries(1500, 61_500, 10).unwrap().is_empty(), "leased and held back");
    let attempt = |d: &WebhookDelivery, status, next| DeliveryAttempt {
        id: d.id,
        status,
        next_attempt_ms: next,
        code: Some(500),
        error: Some("answered HTTP 500".into()),
        latency_ms: 3,
        callback_url: Some("http://127.0.0.1/hook".into()),
        at_ms: 1500,
    };
    store.record_attempt(&attempt(&first[0], DeliveryStatus::Delivered, 0)).unwrap();
    let e1 = store.claim_deliveries(1500, 61_500, 10).unwrap();
    assert_eq!(names(&e1), [name("e1")]);
    store.record_attempt(&attempt(&e1[0], DeliveryStatus::Pending, 3000)).unwrap();
    // e1 waits for its retry, and e2 behind it; g1 is not due yet; f1 is leased.
    assert!(store.claim_deliveries(1500, 61_500, 10).unwrap().is_empty());
    assert_eq!(store.next_delivery_due().unwrap(), Some(2000));
    assert_eq!(names(&store.claim_deliveries(3000, 63_000, 10).unwrap()), [name("e1"), name("g1")]);
    store.record_attempt(&attempt(&e1[0], DeliveryStatus::Failed, 0)).unwrap();
    assert_eq!(names(&store.claim_deliveries(3000, 63_000, 10).unwrap()), [name("e2")]);

    let logged = store.deliveries(a, None, 10).unwrap();
    assert_eq!(names(&logged), [name("f1"), name("e3"), name("e2"), name("e1")]);
    let failed = logged.iter().find(|d| d.id == e1[0].id).unwrap();
    assert_eq!((failed.status, failed.attempts, failed.last_code), (DeliveryStatus::Failed, 2, Some(500)));
    assert_eq!(failed.callback_url.as_deref(), Some("http://127.0.0.1/hook"));
    assert_eq!(failed.finished_ms, Some(1500));
    assert_eq!(store.deliveries(a, Some(failed.id), 10).unwrap().len(), 0);
    assert_eq!(store.delivery(e1[0].id).unwrap().unwrap().status, DeliveryStatus::Failed);

    // Redelivery is a new delivery of the same event, due now.
    let again = store.redeliver(e1[0].id, 4000).unwrap().unwrap();
    assert!(again > e1[0].id);
    assert!(store.redeliver(999_999, 4000).unwrap().is_none());
    // Once their leases run out, e2, f1 and g1 are handed out again (their server stopped).
    assert!(store.claim_deliveries(61_000, 121_000, 10).unwrap().is_empty());
    let after = store.claim_deliveries(63_000, 123_000, 10).unwrap();
    assert_eq!(names(&after), [name("e2"), name("f1"), name("g1")]);
    // A server that stops mid-send hands its deliveries back.
    store.release_leases(&[after[1].id]).unwrap();
    assert_eq!(names(&store.claim_deliveries(63_000, 123_000, 10).unwrap()), [name("f1")]);
    // Finished deliveries older than the retention are forgotten; pending ones never.
    assert_eq!(store.prune_deliveries(2000).unwrap(), 2);
    assert_eq!(store.deliveries(a, None, 10).unwrap().len(), 3);
}

#[test]
fn sqlite_conforms_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    conforms(&SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    queue_conforms(&store);
    // A store of one server's own frees every lease when that server starts again.
    store.release_all_leases().unwrap();
    assert_eq!(store.claim_deliveries(63_001, 123_001, 10).unwrap().len(), 3);
    // Messages stored with credentials before version 5 are scrubbed by it.
    store.commit(0, &[Change::Message(Box::new(message_with_credentials()))], &[]).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE schema_version SET version = 4", []).unwrap();
    drop(conn);
    scrubbed(&SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let raw: String = conn.query_row("SELECT group_concat(body) FROM messages", [], |r| r.get(0)).unwrap();
    assert!(!raw.contains("EAAsecret") && !raw.contains("deadbeef"), "{raw}");
    conn.execute("UPDATE schema_version SET version = 99", []).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().expect("a newer schema is refused");
    assert!(err.message.contains("newer than this wabagate knows"), "{err}");
}

fn postgres_url() -> Option<String> {
    let base = std::env::var("WABAGATE_TEST_DATABASE").ok().filter(|u| !u.is_empty());
    if base.is_none() {
        eprintln!("!!! WABAGATE_TEST_DATABASE is not set: the PostgreSQL store was NOT checked");
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    base.map(|b| format!("{b}{}schema=wabagate_test_store_{nanos:x}", if b.contains('?') { '&' } else { '?' }))
}

#[test]
fn postgres_conforms_logs_changes_and_refuses_a_newer_schema() {
    let Some(url) = postgres_url() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store: Arc<PgStore> = Arc::new(rt.block_on(PgStore::open(&url)).unwrap());
    let s = store.clone();
    let _guard = rt.enter();
    // The store blocks on the runtime: call it from a blocking thread, as the service does.
    let checks = tokio::task::spawn_blocking(move || {
        conforms(s.as_ref());
        // Every write is in the change log, in order, but for those that hold only messages (no
        // server keeps them in memory); a write checked against an old position is stale.
        let log = s.changes_since(0).unwrap();
        assert_eq!(log.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [1, 2]);
        assert!(s.commit(1, &[], &[]).unwrap_err().stale);
        // A write session answers, under the lock, what was logged since the position given, and
        // its write is logged next in line.
        let (session, since) = s.begin_write(1).unwrap().expect("a shared store has write sessions");
        assert_eq!(since.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [2]);
        let unassign = Change::Unassign { waba: GraphId(1_000_000_000_000_002), user: GraphId(7) };
        assert_eq!(session.commit(std::slice::from_ref(&unassign), &[]).unwrap(), Some(3));
        // One rolled back, or dropped, leaves no trace and no lock behind.
        let (session, since) = s.begin_write(3).unwrap().unwrap();
        assert!(since.is_empty());
        session.rollback();
        let (session, _) = s.begin_write(3).unwrap().unwrap();
        drop(session);
        let (session, _) = s.begin_write(3).unwrap().unwrap();
        assert_eq!(session.commit(&[unassign], &[]).unwrap(), Some(4));
        assert_eq!(s.log_head().unwrap(), 4);
        queue_conforms(s.as_ref());
    });
    rt.block_on(checks).unwrap();
    let (base, schema) = url.split_once("?schema=").or_else(|| url.split_once("&schema=")).unwrap();
    // A log compacted past a server's position says so: that server reloads its world.
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&format!("DELETE FROM {schema}.changes WHERE seq <= 2")).await.unwrap();
    });
    let s = store.clone();
    rt.block_on(tokio::task::spawn_blocking(move || {
        assert!(s.changes_since(1).unwrap_err().behind);
        assert!(s.begin_write(0).err().expect("behind").behind);
        assert_eq!(s.changes_since(2).unwrap().len(), 2);
        assert!(s.changes_since(4).unwrap().is_empty());
    }))
    .unwrap();
    // The log compacts itself: with a retention of two rows of any age, checked at every write,
    // a write leaves the two newest rows (its own and the one before); older positions reload.
    store.set_log_retention(LogRetention { rows: 2, seconds: -1, every: 1 });
    let s = store.clone();
    rt.block_on(tokio::task::spawn_blocking(move || {
        let unassign = Change::Unassign { waba: GraphId(1_000_000_000_000_002), user: GraphId(7) };
        for expected in 5..=9 {
            let (session, _) = s.begin_write(expected - 1).unwrap().unwrap();
            assert_eq!(session.commit(std::slice::from_ref(&unassign), &[]).unwrap(), Some(expected));
        }
        assert_eq!(s.changes_since(7).unwrap().iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [8, 9]);
        assert!(s.changes_since(6).unwrap_err().behind);
        assert_eq!(s.log_head().unwrap(), 9);
    }))
    .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&format!("UPDATE {schema}.schema_version SET version = 3")).await.unwrap();
    });
    // Messages stored with credentials before version 4 are scrubbed by it.
    let s = store.clone();
    rt.block_on(tokio::task::spawn_blocking(move || {
        let head = s.log_head().unwrap();
        s.commit(head, &[Change::Message(Box::new(message_with_credentials()))], &[]).unwrap();
    }))
    .unwrap();
    let reopened = Arc::new(rt.block_on(PgStore::open(&url)).unwrap());
    rt.block_on(tokio::task::spawn_blocking(move || scrubbed(reopened.as_ref()))).unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let raw: String = client
            .query_one(&format!("SELECT string_agg(body, ',') FROM {schema}.messages"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(!raw.contains("EAAsecret") && !raw.contains("deadbeef"), "{raw}");
        client.batch_execute(&format!("UPDATE {schema}.schema_version SET version = 99")).await.unwrap();
    });
    let err = rt.block_on(PgStore::open(&url)).err().expect("a newer schema is refused");
    assert!(err.message.contains("newer than this wabagate knows"), "{err}");
    rt.block_on(PgStore::drop_schema(&url)).unwrap();
}
