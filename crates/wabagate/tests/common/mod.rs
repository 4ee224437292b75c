//! The real binary, started for a test over a fresh store: SQLite in a temporary directory, or
//! the PostgreSQL database of `WABAGATE_TEST_DATABASE` when it is set.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Binary {
    child: Child,
    database: Option<String>,
    _dir: tempfile::TempDir,
    pub data: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub bootstrap: Value,
}

impl Binary {
    pub fn start(args: &[&str]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let database = testkit::fresh_database();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabagate"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"]).arg(&data).args(args);
        if let Some(url) = &database {
            cmd.args(["--database", url]);
        }
        let child = cmd.env("RUST_LOG", "error").stdout(Stdio::null()).spawn().expect("the server starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !data.join("bootstrap.json").exists() {
            assert!(started.elapsed() < Duration::from_secs(60), "the server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let bootstrap = serde_json::from_str(&std::fs::read_to_string(data.join("bootstrap.json")).unwrap()).unwrap();
        Binary { child, database, _dir: dir, data, url: format!("http://127.0.0.1:{port}"), bootstrap }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A string of bootstrap.json.
    pub fn get(&self, key: &str) -> String {
        self.bootstrap[key].as_str().unwrap_or_else(|| panic!("bootstrap.json has no {key}")).to_string()
    }

    /// Whether the server runs over PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.database.is_some()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(url) = self.database.take() {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(testkit::drop_database(&url));
        }
    }
}

/// A process's resident memory, in bytes (VmRSS of /proc/PID/status).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// A small deterministic pseudo-random sequence (xorshift), seeded per test.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random segment of `len` characters from `alphabet`.
    pub fn word(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len).map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char).collect()
    }
}
