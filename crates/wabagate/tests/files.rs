//! The data directory of the real binary is its owner's alone, whatever the umask: the
//! directory 0700, the store, its WAL files, bootstrap.json and backups 0600; a directory that
//! others could read is tightened at start with a warning naming each path changed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// `wabagate ARGS` under a shell that set `umask` first, its log in `log`.
fn under_umask(umask: &str, args: &str, log: &Path) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", &format!("umask {umask}; exec \"$0\" {args}"), env!("CARGO_BIN_EXE_wabagate")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c
}

/// Starts `serve` over `data` and waits until it answers and has written bootstrap.json.
fn serve(umask: &str, data: &Path, log: &Path) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let args = format!("serve --listen 127.0.0.1:{port} --data '{}'", data.display());
    let mut child = under_umask(umask, &args, log).spawn().unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !data.join("bootstrap.json").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited ({status}): {}", std::fs::read_to_string(log).unwrap());
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
}

const FILES: [&str; 4] = ["wabagate.db", "wabagate.db-wal", "wabagate.db-shm", "bootstrap.json"];

#[test]
fn a_new_data_directory_and_its_files_are_private_whatever_the_umask() {
    for umask in ["0022", "0000"] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let child = serve(umask, &data, &log);
        assert_eq!(mode(&data), 0o700, "umask {umask}: the data directory");
        for f in FILES {
            assert_eq!(mode(&data.join(f)), 0o600, "umask {umask}: {f}");
        }
        let backup = dir.path().join("backup.db");
        let args = format!("backup --data '{}' --to '{}'", data.display(), backup.display());
        let status = under_umask(umask, &args, &dir.path().join("backup.log")).status().unwrap();
        assert!(status.success());
        assert_eq!(mode(&backup), 0o600, "umask {umask}: a backup");
        stop(child);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains("tightened"), "nothing to tighten in a new directory: {text}");
    }
}

#[test]
fn a_data_directory_others_can_read_is_tightened_at_start_with_a_warning_naming_each_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stop(serve("0022", &data, &dir.path().join("first.log")));
    // As earlier versions left it: 0755 and 0644.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut loosened = Vec::new();
    for f in FILES {
        let path = data.join(f);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            loosened.push(path);
        }
    }
    assert!(loosened.len() >= 2, "{loosened:?}");
    let log = dir.path().join("second.log");
    let child = serve("0022", &data, &log);
    assert_eq!(mode(&data), 0o700);
    for f in FILES {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("tightened")).collect();
    for path in std::iter::once(&data).chain(&loosened) {
        assert!(
            warnings.iter().any(|w| w.contains(&path.display().to_string()) && w.contains("WARN")),
            "no warning names {}:\n{text}",
            path.display()
        );
    }
    assert_eq!(warnings.len(), loosened.len() + 1, "one warning per path changed:\n{text}");
}

#[test]
fn a_data_directory_that_cannot_be_made_private_stops_the_server_with_a_clear_message() {
    // /proc/1 is readable by all, and not even its owner may change its mode.
    let proc = Path::new("/proc/1");
    if !proc.is_dir() || std::fs::set_permissions(proc, std::fs::Permissions::from_mode(0o700)).is_ok() {
        eprintln!("!!! no directory whose mode cannot be changed: the refusal was NOT checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let status = under_umask("0022", "serve --listen 127.0.0.1:0 --data /proc/1", &log).status().unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/proc/1 can be read by other users") && text.contains("cannot be made private"), "{text}");
}

#[test]
fn a_shared_directory_given_as_data_is_refused_and_left_as_it_was() {
    // `--data .` in a project, a home directory, /tmp: readable by others and holding files that
    // are not wabagate's. wabagate does not change the mode of a directory others may rely on.
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("project");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    let readme = shared.join("README.md");
    std::fs::write(&readme, "# a project\n").unwrap();
    std::fs::set_permissions(&readme, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = dir.path().join("server.log");
    let args = format!("serve --listen 127.0.0.1:0 --data {}", shared.display());
    let status = under_umask("0022", &args, &log).status().unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("holds files that are not wabagate's (README.md)"), "{text}");
    assert!(text.contains("give --data a directory of its own"), "{text}");
    assert_eq!((mode(&shared), mode(&readme)), (0o755, 0o644), "nothing was changed");
    assert!(!shared.join("wabagate.db").exists(), "no store was created there");
}
