//! A real wabagate server for tests: the same start-up as `wabagate serve`, on a free loopback
//! port, over a store in a temporary directory, with an HTTP client that reads replies the way
//! Graph clients do.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use service::Clock;

/// The environment variable that runs the suite against PostgreSQL: a `postgres://` URL of a
/// database each server gets a fresh schema in (dropped afterwards).
pub const DATABASE_ENV: &str = "WABAGATE_TEST_DATABASE";

pub struct TestServer {
    server: Option<wabagate::Server>,
    /// The PostgreSQL URL (with this server's own schema) when the suite runs against PostgreSQL.
    database: Option<String>,
    dir: tempfile::TempDir,
    fixtures: Option<PathBuf>,
    clock: Arc<Clock>,
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// bootstrap.json, as the server wrote it.
    pub bootstrap: Value,
}

/// One HTTP reply: its status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The body of a 200 reply; panics with the body otherwise.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.body);
        assert!(self.body.get("error").is_none(), "error body on 200: {}", self.body);
        &self.body
    }

    /// Asserts a Graph error: HTTP status, code and subcode, and the envelope's required fields.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64, subcode: Option<u64>) -> &Value {
        let e = &self.body["error"];
        assert_eq!(
            (self.status, e["code"].as_u64(), e["error_subcode"].as_u64()),
            (status, Some(code), subcode),
            "unexpected reply: {} {}",
            self.status,
            self.body
        );
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", self.body);
        assert!(e["type"].as_str().is_some_and(|m| !m.is_empty()), "no type: {}", self.body);
        assert!(e["fbtrace_id"].as_str().is_some_and(|m| !m.is_empty()), "no fbtrace_id: {}", self.body);
        e
    }

    /// The `data` array of a list reply.
    #[track_caller]
    pub fn data(&self) -> &Vec<Value> {
        self.ok()["data"].as_array().expect("a list reply has data")
    }

    /// The ids in the `data` array of a list reply.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        self.data().iter().map(|i| i["id"].as_str().expect("items have ids").to_string()).collect()
    }
}

impl TestServer {
    /// A server over a fresh store with the demo world.
    pub async fn start() -> TestServer {
        Self::boot(tempfile::tempdir().expect("a temp dir"), None, Arc::new(Clock::default()), fresh_database()).await
    }

    /// A server over a fresh store with the demo world and these settings.
    pub async fn start_with_settings(settings: service::Settings) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let clock = Arc::new(Clock::default());
        let database = fresh_database();
        let mut cfg = Self::config(&dir, None, &clock, database.clone());
        cfg.settings = settings;
        let server = wabagate::start(cfg).await.expect("the server starts");
        Self::running(server, dir, None, clock, database)
    }

    /// A server over a fresh store with the demo world, started with a configuration `configure`
    /// changes (`public_url`, say).
    pub async fn start_configured(configure: impl FnOnce(&mut wabagate::ServeConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let clock = Arc::new(Clock::default());
        let database = fresh_database();
        let mut cfg = Self::config(&dir, None, &clock, database.clone());
        configure(&mut cfg);
        let server = wabagate::start(cfg).await.expect("the server starts");
        Self::running(server, dir, None, clock, database)
    }

    /// A server over a fresh store with the world of these fixtures (TOML).
    pub async fn with_fixtures(toml: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("fixtures.toml");
        std::fs::write(&path, toml).expect("fixtures written");
        Self::boot(dir, Some(path), Arc::new(Clock::default()), fresh_database()).await
    }

    /// A server over a fresh store with the world of these fixtures (TOML) and these settings.
    pub async fn with_fixtures_and_settings(toml: &str, settings: service::Settings) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("fixtures.toml");
        std::fs::write(&path, toml).expect("fixtures written");
        let clock = Arc::new(Clock::default());
        let database = fresh_database();
        let mut cfg = Self::config(&dir, Some(path.clone()), &clock, database.clone());
        cfg.settings = settings;
        let server = wabagate::start(cfg).await.expect("the server starts");
        Self::running(server, dir, Some(path), clock, database)
    }

    /// A server with the demo world over a store the test supplies (a wrapper that watches the
    /// calls the server makes, say).
    pub async fn start_with_store(store: impl FnOnce(&std::path::Path) -> Arc<dyn store::Store>) -> TestServer {
        let dir = tempfile::tempdir().expect("a temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("a data dir");
        let store = store(&data.join(wabagate::DATABASE_FILE));
        let clock = Arc::new(Clock::default());
        let cfg = Self::config(&dir, None, &clock, None);
        let server = wabagate::start_with_store(cfg, store).await.expect("the server starts");
        Self::running(server, dir, None, clock, None)
    }

    fn config(
        dir: &tempfile::TempDir,
        fixtures: Option<PathBuf>,
        clock: &Arc<Clock>,
        database: Option<String>,
    ) -> wabagate::ServeConfig {
        wabagate::ServeConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            data: dir.path().join("data"),
            fixtures,
            database,
            clock: clock.clone(),
            // Templates are approved as soon as tests look; tests of the review use the clock.
            settings: service::Settings::default(),
            public_url: None,
            shutdown_deadline: wabagate::http::SHUTDOWN_DEADLINE,
        }
    }

    async fn boot(
        dir: tempfile::TempDir,
        fixtures: Option<PathBuf>,
        clock: Arc<Clock>,
        database: Option<String>,
    ) -> TestServer {
        let cfg = Self::config(&dir, fixtures.clone(), &clock, database.clone());
        let server = wabagate::start(cfg).await.expect("the server starts");
        Self::running(server, dir, fixtures, clock, database)
    }

    /// A second server over the same store (PostgreSQL only: SQLite is one server's), with its
    /// own data directory: a replica. Its connections' application_name ends with `application_name`.
    pub async fn replica(&self, application_name: &str) -> TestServer {
        let first = self.database.clone().expect("replicas need PostgreSQL");
        let schema = first.split("schema=").nth(1).and_then(|s| s.split('&').next()).unwrap_or_default().to_string();
        let database = format!("{first}&application_name={schema}_{application_name}");
        let dir = tempfile::tempdir().expect("a temp dir");
        let cfg = Self::config(&dir, None, &self.clock, Some(database));
        let server = wabagate::start(cfg).await.expect("the replica starts");
        let mut replica = Self::running(server, dir, None, self.clock.clone(), None);
        // Share the bootstrap of the first server, so tests can use its ids and tokens.
        replica.bootstrap = self.bootstrap.clone();
        replica
    }

    /// The PostgreSQL URL of this server's store, when the suite runs against PostgreSQL.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    fn running(
        server: wabagate::Server,
        dir: tempfile::TempDir,
        fixtures: Option<PathBuf>,
        clock: Arc<Clock>,
        database: Option<String>,
    ) -> TestServer {
        TestServer {
            url: server.graph_url.clone(),
            bootstrap: server.bootstrap.clone(),
            server: Some(server),
            database,
            dir,
            fixtures,
            clock,
            client: reqwest::Client::new(),
        }
    }

    /// Stops the server and starts a new one over the same store (on a new port).
    pub async fn restart(mut self) -> TestServer {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a temp dir"));
        // The store outlives the restart: the schema is dropped only with the new server.
        let database = self.database.take();
        Self::boot(dir, self.fixtures.take(), self.clock.clone(), database).await
    }

    /// [`Self::restart`], with these settings.
    pub async fn restart_with_settings(mut self, settings: service::Settings) -> TestServer {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("a temp dir"));
        let (database, fixtures) = (self.database.take(), self.fixtures.take());
        let mut cfg = Self::config(&dir, fixtures.clone(), &self.clock, database.clone());
        cfg.settings = settings;
        let server = wabagate::start(cfg).await.expect("the server starts");
        Self::running(server, dir, fixtures, self.clock.clone(), database)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Moves the server's clock forward.
    pub fn advance_clock(&self, secs: i64) {
        self.clock.advance(secs);
    }

    pub fn service(&self) -> &service::Service {
        &self.server.as_ref().expect("running").service
    }

    /// A string value of bootstrap.json (ids, tokens, secrets).
    #[track_caller]
    pub fn b(&self, key: &str) -> String {
        self.bootstrap[key].as_str().unwrap_or_else(|| panic!("bootstrap has no {key}")).to_string()
    }

    /// The admin token of the demo world.
    pub fn admin(&self) -> String {
        self.b("admin_token")
    }

    /// An absolute URL for a Graph path, versioned.
    pub fn graph(&self, path: &str) -> String {
        format!("{}/v23.0/{}", self.url, path.trim_start_matches('/'))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let text = res.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply { status, body }
    }

    fn with_token(params: &[(&str, &str)], token: Option<&str>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(t) = token {
            out.push(("access_token".into(), t.into()));
        }
        out
    }

    /// GET with query parameters and the token in the query.
    pub async fn get(&self, path: &str, token: Option<&str>, params: &[(&str, &str)]) -> Reply {
        self.send(self.client.get(self.graph(path)).query(&Self::with_token(params, token))).await
    }

    /// GET of an absolute URL, as a client following `paging.next` does.
    pub async fn get_url(&self, url: &str) -> Reply {
        self.send(self.client.get(url)).await
    }

    /// POST with a form body, the token in the query (as the Python SDK does).
    pub async fn post(&self, path: &str, token: Option<&str>, form: &[(&str, &str)]) -> Reply {
        self.send(self.client.post(self.graph(path)).query(&Self::with_token(&[], token)).form(form)).await
    }

    /// POST with a JSON body and a Bearer token (as the Node SDK and pywa do).
    pub async fn post_json(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(self.client.post(self.graph(path)).bearer_auth(token).json(&body)).await
    }

    /// DELETE with query parameters.
    pub async fn delete(&self, path: &str, token: Option<&str>, params: &[(&str, &str)]) -> Reply {
        self.send(self.client.delete(self.graph(path)).query(&Self::with_token(params, token))).await
    }

    /// A raw request, for tests of the wire itself.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn send_raw(&self, req: reqwest::RequestBuilder) -> Reply {
        self.send(req).await
    }

    /// Creates a system user with the admin token; returns its id.
    pub async fn create_system_user(&self, name: &str, role: &str) -> String {
        let r = self
            .post(
                &format!("{}/system_users", self.b("business_id")),
                Some(&self.admin()),
                &[("name", name), ("role", role)],
            )
            .await;
        r.ok()["id"].as_str().expect("an id").to_string()
    }

    /// Installs the demo app on a system user and mints it a token with these scopes.
    pub async fn mint(&self, system_user: &str, scopes: &str) -> String {
        let admin = self.admin();
        self.post(&format!("{system_user}/applications"), Some(&admin), &[("business_app", &self.b("app_id"))])
            .await
            .ok();
        let proof = appsecret_proof(&self.b("app_secret"), &admin);
        let r = self
            .post(
                &format!("{system_user}/access_tokens"),
                Some(&admin),
                &[("business_app", &self.b("app_id")), ("scope", scopes), ("appsecret_proof", &proof)],
            )
            .await;
        r.ok()["access_token"].as_str().expect("a token").to_string()
    }

    /// An employee system user with a token of these scopes: (id, token).
    pub async fn employee(&self, name: &str, scopes: &str) -> (String, String) {
        let id = self.create_system_user(name, "EMPLOYEE").await;
        let token = self.mint(&id, scopes).await;
        (id, token)
    }

    /// Assigns tasks on a WABA with the admin token.
    pub async fn assign(&self, waba: &str, user: &str, tasks: &str) -> Reply {
        self.post(&format!("{waba}/assigned_users"), Some(&self.admin()), &[("user", user), ("tasks", tasks)]).await
    }
}

/// `hex(HMAC-SHA256(app_secret, token))`, computed here independently of the server.
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A fresh schema in the PostgreSQL database named by [`DATABASE_ENV`], if it is set.
pub fn fresh_database() -> Option<String> {
    let base = std::env::var(DATABASE_ENV).ok().filter(|u| !u.is_empty())?;
    let schema = format!("wabagate_test_{:016x}", rand_u64());
    let sep = if base.contains('?') { '&' } else { '?' };
    // The connections carry the schema's name, so the cleanup can end them.
    Some(format!("{base}{sep}schema={schema}&application_name={schema}"))
}

/// Drops the schema [`fresh_database`] made.
pub async fn drop_database(url: &str) {
    if let Err(e) = store::PgStore::drop_schema(url).await {
        eprintln!("could not drop the test schema of {url}: {e}");
    }
}

/// A random number, from the standard library's randomly keyed hasher and the time.
pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            // Tests end without awaiting; stop in the background of the test's runtime.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(s.stop());
            }
        }
        if let Some(url) = self.database.take() {
            // Drop this server's schema on a thread of its own: the test's runtime is ending.
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
