//! `serve --config FILE`: the file's settings apply, the environment and the command line win
//! over it, and a key it does not know stops the server with exit status 4.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn answers(port: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn settings_come_from_the_file_unless_the_environment_or_the_command_line_say_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_env, from_flag) = (free_port(), free_port(), free_port());
    let file = dir.path().join("wabagate.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{from_file}\"\ndata = \"{}\"\ntemplate_review = \"immediate\"\nshutdown-timeout = \"2s\"\nfault = [\"get /me latency=1ms\"]\n",
            data.display()
        ),
    )
    .unwrap();
    let serve = |extra: &[String], env: Option<(&str, String)>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabagate"));
        cmd.args(["serve", "--config"])
            .arg(&file)
            .args(extra)
            .env_remove("WABAGATE_LISTEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    };
    let flag = ["--listen".to_string(), format!("127.0.0.1:{from_flag}")];
    let env = || Some(("WABAGATE_LISTEN", format!("127.0.0.1:{from_env}")));
    for (port, extra, env) in [(from_file, &[][..], None), (from_env, &[][..], env()), (from_flag, &flag[..], env())] {
        let mut child = serve(extra, env);
        let up = answers(port);
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(child.wait().unwrap().success());
        assert!(up, "nothing listened on {port}");
    }
    assert!(data.join("bootstrap.json").exists(), "the file's data directory was used");

    std::fs::write(&file, "listen = \"127.0.0.1:1\"\nlisten_port = 8787\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wabagate")).args(["serve", "--config"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'listen_port' is not a setting") && stderr.contains("template-review"), "{stderr}");
    std::fs::write(&file, "listen = [1, 2]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wabagate")).args(["serve", "--config"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
}
