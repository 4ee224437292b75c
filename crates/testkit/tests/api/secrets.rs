//! What the store keeps: no bearer token or appsecret_proof sent with a message, in any table,
//! file of the data directory, backup or copy; only the fields of a message or a template,
//! within Meta's limits; messages no longer than the retention; PINs under a salted slow hash.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};
use testkit::TestServer;

/// Every row of every table of a SQLite file, as text (blobs as lossy UTF-8).
fn sqlite_rows(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut tables = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
    let names: Vec<String> = tables.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(names.iter().any(|n| n == "messages"), "{names:?}");
    let mut out = Vec::new();
    for name in names {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
        let width = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let cells: Vec<String> = (0..width)
                .map(|i| match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => "NULL".into(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                })
                .collect();
            out.push((name.clone(), cells.join("|")));
        }
    }
    out
}

/// Every row of every table of the server's PostgreSQL schema, as text.
async fn postgres_rows(url: &str) -> Vec<(String, String)> {
    let (base, query) = url.split_once('?').unwrap();
    let schema = query.split('&').find_map(|kv| kv.strip_prefix("schema=")).unwrap().to_string();
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let tables = client
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1", &[&schema])
        .await
        .unwrap();
    let names: Vec<String> = tables.iter().map(|r| r.get(0)).collect();
    assert!(names.iter().any(|n| n == "messages"), "{names:?}");
    let mut out = Vec::new();
    for name in names {
        for row in client.query(&format!("SELECT t::text FROM {schema}.\"{name}\" t"), &[]).await.unwrap() {
            out.push((name.clone(), row.get::<_, String>(0)));
        }
    }
    out
}

/// The rows of every table of the server's store.
async fn store_rows(ts: &TestServer) -> Vec<(String, String)> {
    match ts.database() {
        Some(url) => postgres_rows(url).await,
        None => sqlite_rows(&ts.data_dir().join("wabagate.db")),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn no_token_or_proof_sent_with_a_message_is_kept_in_the_store_its_files_a_backup_or_a_copy() {
    let ts = TestServer::start().await;
    let (token, secret, phone) = (ts.admin(), ts.b("app_secret"), ts.b("phone_number_id"));
    let proof = testkit::appsecret_proof(&secret, &token);
    let url = ts.graph(&format!("{phone}/messages"));
    let text = r#"{"body": "hello", "preview_url": false}"#;
    let form = |extra: &[(&'static str, String)]| {
        let mut f: Vec<(&str, String)> = vec![
            ("messaging_product", "whatsapp".into()),
            ("to", "15551234567".into()),
            ("type", "text".into()),
            ("text", text.into()),
            ("junk_marker_key", "junk-marker-value".into()),
        ];
        f.extend_from_slice(extra);
        f
    };
    let c = ts.client();
    let sends = [
        // The token and the proof in the query (as the README's curl examples do).
        c.post(&url).query(&[("access_token", &token), ("appsecret_proof", &proof)]).form(&form(&[])),
        // In the form body.
        c.post(&url).form(&form(&[("access_token", token.clone()), ("appsecret_proof", proof.clone())])),
        // In a JSON body.
        c.post(&url).json(&json!({
            "messaging_product": "whatsapp", "to": "15551234567", "type": "text",
            "text": {"body": "hello", "junk_marker_key": "junk-marker-value"},
            "access_token": token, "appsecret_proof": proof, "junk_marker_key": "junk-marker-value",
        })),
        // In the Authorization header, the proof in the query.
        c.post(&url).bearer_auth(&token).query(&[("appsecret_proof", &proof)]).form(&form(&[])),
    ];
    for send in sends {
        let r = ts.send_raw(send).await;
        assert!(r.ok()["messages"][0]["id"].as_str().unwrap().starts_with("wamid."));
    }

    // Every table: the token and the proof nowhere, the app secret only where documented, and
    // each message only its message fields.
    let rows = store_rows(&ts).await;
    let messages: Vec<&String> = rows.iter().filter(|(t, _)| t == "messages").map(|(_, r)| r).collect();
    assert_eq!(messages.len(), 4, "{messages:?}");
    for (table, row) in &rows {
        assert!(!row.contains(&token), "the token is in {table}: {row}");
        assert!(!row.contains(&proof), "the proof is in {table}: {row}");
        assert!(!row.contains("junk-marker"), "an unknown key is in {table}: {row}");
        // The app secret is in the apps table, and on PostgreSQL in the change log that replays
        // every write (docs/security.md, "What the store holds").
        let documented = table == "apps" || (table == "changes" && ts.database().is_some());
        assert!(documented || !row.contains(&secret), "the app secret is in {table}: {row}");
    }
    for m in messages {
        assert!(m.contains("hello") && m.contains("15551234567"), "{m}");
    }

    // Every file of the data directory: the token and the secret only in bootstrap.json (and the
    // secret in the SQLite files, whose apps table holds it); every file private.
    let data = ts.data_dir();
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(mode(&path), 0o600, "{name}");
        let bytes = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        if name != "bootstrap.json" {
            assert!(!bytes.contains(&token) && !bytes.contains(&proof), "{name} holds the token or the proof");
            assert!(name.starts_with("wabagate.db") || !bytes.contains(&secret), "{name} holds the app secret");
        }
    }

    // A backup (SQLite) and a copy (either store) hold no token or proof either.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    if ts.database().is_none() {
        let backup = dir.path().join("backup.db");
        store::SqliteStore::backup(&data.join("wabagate.db"), &backup).unwrap();
        assert_eq!(mode(&backup), 0o600, "a backup is private");
        files.push(backup);
    }
    let from = match ts.database() {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}", data.join("wabagate.db").display()),
    };
    let copy = dir.path().join("copy.db");
    let (s, t) = (
        wabagate::copy::open(&from).await.unwrap(),
        wabagate::copy::open(&format!("sqlite://{}", copy.display())).await.unwrap(),
    );
    let copied = tokio::task::spawn_blocking(move || wabagate::copy::copy(s.as_ref(), t.as_ref(), false));
    assert_eq!(copied.await.unwrap().unwrap().messages, 4);
    assert_eq!(mode(&copy), 0o600, "a copy into a new SQLite file is private");
    files.push(copy);
    for file in files {
        let bytes = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!bytes.contains(&token) && !bytes.contains(&proof) && !bytes.contains("junk-marker"), "{file:?}");
        for (table, row) in sqlite_rows(&file) {
            assert!(table == "apps" || !row.contains(&secret), "the app secret is in {table} of {file:?}");
        }
    }
}

#[tokio::test]
async fn a_template_keeps_only_meta_s_fields_and_over_limit_texts_are_refused() {
    let ts = TestServer::start().await;
    let (waba, admin) = (ts.b("waba_id"), ts.admin());
    let big = "x".repeat(10 * 1024);
    let path = format!("{waba}/message_templates");
    let create = |components: Value| {
        ts.post_json(
            &path,
            &admin,
            json!({"name": "order_ready", "language": "en_US", "category": "UTILITY", "components": components}),
        )
    };
    let body = |text: &str| json!({"type": "BODY", "text": text, "unknown_key": big});
    let buttons =
        |text: &str| json!({"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": text, "color": big}]});

    let e = create(json!([{"type": "BODY", "text": "y".repeat(1025)}])).await.assert_error(400, 100, None).clone();
    assert!(e["error_user_msg"].as_str().unwrap().contains("1024"), "{e}");
    let e = create(json!([body("Ready"), buttons(&"b".repeat(26))])).await.assert_error(400, 100, None).clone();
    assert!(e["error_user_msg"].as_str().unwrap().contains("at most 25 characters"), "{e}");

    let id =
        create(json!([body("Your order is ready"), buttons("Thanks")])).await.ok()["id"].as_str().unwrap().to_string();
    let t = ts.get(&id, Some(&admin), &[("fields", "components")]).await;
    assert_eq!(
        t.ok()["components"],
        json!([{"type": "BODY", "text": "Your order is ready"},
               {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]}])
    );
    let rows = store_rows(&ts).await;
    assert!(rows.iter().all(|(_, r)| !r.contains(&big)), "an unknown key's value is stored");
}

#[tokio::test]
async fn a_message_over_meta_s_limits_is_refused_with_131009() {
    let ts = TestServer::start().await;
    let url = format!("{}/messages", ts.b("phone_number_id"));
    let image = |caption: String| {
        json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "image",
               "image": {"link": "https://example.com/a.png", "caption": caption}})
    };
    let e = ts.post_json(&url, &ts.admin(), image("c".repeat(1025))).await.assert_error(400, 131009, None).clone();
    assert!(e["error_data"]["details"].as_str().unwrap().contains("image.caption"), "{e}");
    ts.post_json(&url, &ts.admin(), image("c".repeat(1024))).await.ok();
    let mut long = image("ok".into());
    long["biz_opaque_callback_data"] = json!("d".repeat(513));
    ts.post_json(&url, &ts.admin(), long).await.assert_error(400, 131009, None);
}

#[tokio::test]
async fn messages_older_than_the_retention_are_pruned() {
    let ts = TestServer::start().await;
    let (url, waba) = (format!("{}/messages", ts.b("phone_number_id")), ts.b("waba_id"));
    let waba = model::GraphId(waba.parse().unwrap());
    let text = |body: &str| json!({"messaging_product": "whatsapp", "to": "15551234567", "text": {"body": body}});
    ts.post_json(&url, &ts.admin(), text("old")).await.ok();
    ts.advance_clock(29 * 86_400);
    ts.post_json(&url, &ts.admin(), text("recent")).await.ok();
    let kept = || async {
        let m = ts.service().messages(waba, 10).await.unwrap();
        m.iter().map(|m| m.body["text"]["body"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(kept().await, ["recent", "old"]);
    // 31 days after the first message, 2 after the second: only the first is past 30 days.
    ts.advance_clock(2 * 86_400);
    let started = std::time::Instant::now();
    while kept().await.len() > 1 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the old message was not pruned");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(kept().await, ["recent"]);
}

/// The phone number's stored PIN hash, read from the store.
async fn stored_pin_hash(ts: &TestServer, phone: &str) -> Option<String> {
    let rows = store_rows(ts).await;
    let (_, row) = rows.iter().find(|(t, r)| t == "phone_numbers" && r.contains(phone)).expect("the number is stored");
    // PostgreSQL's row text doubles the quotes inside the body.
    let row = row.replace("\"\"", "\"").replace("\": ", "\":");
    let at = row.find("\"pin_hash\":")? + "\"pin_hash\":".len();
    let rest = row[at..].strip_prefix('"')?;
    Some(rest[..rest.find('"').unwrap()].to_string())
}

#[tokio::test]
async fn a_pin_is_stored_under_a_salted_slow_hash_and_registration_answers_as_before() {
    let ts = TestServer::start().await;
    let (phone, admin) = (ts.b("phone_number_id"), ts.admin());
    let register = format!("{phone}/register");
    let reg = |pin: &'static str| ts.post_json(&register, &admin, json!({"messaging_product": "whatsapp", "pin": pin}));
    assert_eq!(reg("123456").await.ok(), &json!({"success": true}));
    let first = stored_pin_hash(&ts, &phone).await.unwrap();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"123456"));
    assert!(first.starts_with("$argon2id$") && !first.contains(&sha256), "{first}");
    assert_eq!(reg("123456").await.ok(), &json!({"success": true}));
    let e = reg("654321").await.assert_error(400, 133005, None).clone();
    assert_eq!(e["message"], "(#133005) Two step verification PIN Mismatch");
    assert_eq!(stored_pin_hash(&ts, &phone).await.unwrap(), first, "a failed registration changes nothing");
}

#[tokio::test]
async fn a_legacy_sha256_pin_hash_still_verifies_and_is_replaced_at_the_next_registration() {
    let ts = TestServer::start().await;
    let (phone, admin) = (ts.b("phone_number_id"), ts.admin());
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"123456"));
    // As earlier versions stored it: the PIN's bare SHA-256.
    match ts.database() {
        Some(url) => {
            let (base, query) = url.split_once('?').unwrap();
            let schema = query.split('&').find_map(|kv| kv.strip_prefix("schema=")).unwrap().to_string();
            let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            let sql = format!(
                "UPDATE {schema}.phone_numbers SET body = jsonb_set(body::jsonb, '{{pin_hash}}', to_jsonb($1::text))::text"
            );
            client.execute(&sql, &[&sha256]).await.unwrap();
        }
        None => {
            let conn = rusqlite::Connection::open(ts.data_dir().join("wabagate.db")).unwrap();
            conn.execute("UPDATE phone_numbers SET body = json_set(body, '$.pin_hash', ?1)", [&sha256]).unwrap();
        }
    }
    let ts = ts.restart().await;
    let register = format!("{phone}/register");
    let reg = |pin: &'static str| ts.post_json(&register, &admin, json!({"messaging_product": "whatsapp", "pin": pin}));
    reg("654321").await.assert_error(400, 133005, None);
    assert_eq!(stored_pin_hash(&ts, &phone).await.unwrap(), sha256, "a wrong PIN upgrades nothing");
    assert_eq!(reg("123456").await.ok(), &json!({"success": true}));
    let upgraded = stored_pin_hash(&ts, &phone).await.unwrap();
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    assert_eq!(reg("123456").await.ok(), &json!({"success": true}));
    reg("654321").await.assert_error(400, 133005, None);
}
