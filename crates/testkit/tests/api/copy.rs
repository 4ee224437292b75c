//! `wabagate copy` moves a whole store between backends: SQLite to PostgreSQL when the suite runs
//! on SQLite and PostgreSQL is configured, PostgreSQL to SQLite when it runs on PostgreSQL.

use std::collections::BTreeSet;

use serde_json::json;
use testkit::TestServer;

fn set(changes: Vec<model::Change>) -> BTreeSet<String> {
    changes.iter().map(|c| serde_json::to_string(c).unwrap()).collect()
}

#[tokio::test]
async fn copy_moves_the_world_the_audit_log_and_the_messages_and_both_stores_agree() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let waba_id = model::GraphId(waba.parse().unwrap());
    let (su, _) = ts.employee("Moving Bot", "business_management,whatsapp_business_management").await;
    ts.assign(&waba, &su, "DEVELOP").await.ok();
    let body = json!({"messaging_product": "whatsapp", "to": "15551234567", "text": {"body": "moved"}});
    ts.post_json(&format!("{}/messages", ts.b("phone_number_id")), &ts.admin(), body).await.ok();

    let dir = tempfile::tempdir().unwrap();
    let sqlite_copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    // On PostgreSQL: PostgreSQL to SQLite, then that SQLite into a fresh PostgreSQL schema.
    // On SQLite: SQLite to SQLite.
    let (from, hops) = match ts.database() {
        Some(pg) => {
            let base = pg.split('?').next().unwrap();
            let schema = format!("wabagate_test_copy_{}", std::process::id());
            (pg.to_string(), vec![sqlite_copy.clone(), format!("{base}?schema={schema}")])
        }
        None => {
            eprintln!("!!! {} is not set: copy is checked SQLite to SQLite only", testkit::DATABASE_ENV);
            (format!("sqlite://{}", ts.data_dir().join("wabagate.db").display()), vec![sqlite_copy.clone()])
        }
    };
    let source = wabagate::copy::open(&from).await.unwrap();
    let s = source.clone();
    let want = set(tokio::task::spawn_blocking(move || s.load().unwrap()).await.unwrap());
    let mut previous = from.clone();
    for to in &hops {
        let (s, t) = (wabagate::copy::open(&previous).await.unwrap(), wabagate::copy::open(to).await.unwrap());
        let t2 = t.clone();
        let copied = tokio::task::spawn_blocking(move || wabagate::copy::copy(s.as_ref(), t.as_ref(), false))
            .await
            .unwrap()
            .unwrap();
        assert!(
            copied.changes > 10 && copied.audit_events >= 4 && copied.messages == 1,
            "{previous} to {to}: {copied:?}"
        );
        let (got, moved) =
            tokio::task::spawn_blocking(move || (t2.load().unwrap(), t2.messages(waba_id, 10).unwrap())).await.unwrap();
        assert_eq!(set(got), want, "{to} holds the source's world");
        assert_eq!(moved[0].body["text"]["body"], "moved");
        previous = to.clone();
    }
    let target = wabagate::copy::open(&hops[0]).await.unwrap();

    // Copying into a store that is not empty is refused.
    let (s, t) = (wabagate::copy::open(&from).await.unwrap(), target);
    let again = tokio::task::spawn_blocking(move || wabagate::copy::copy(s.as_ref(), t.as_ref(), false)).await.unwrap();
    assert!(again.unwrap_err().0.contains("not empty"));
    for to in hops.iter().filter(|h| h.starts_with("postgres")) {
        store::PgStore::drop_schema(to).await.unwrap();
    }
}
