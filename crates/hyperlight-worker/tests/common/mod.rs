//! The worker's test harness: the built guests, a worker process started on
//! loopback with a configuration of the test's own, and waits on conditions with
//! deadlines (never a sleep that hopes).

// Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The directory of the release guests: `HYPERLIGHT_GUESTS_DIR` (set by `cargo xtask`),
/// else where `cargo xtask guests` puts them.
pub fn guests_dir() -> PathBuf {
    std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    })
}

/// The path of the built guest `name`; panics, saying how to build it, if missing.
pub fn guest(name: &str) -> PathBuf {
    let path = guests_dir().join(name);
    assert!(path.is_file(), "{} not found: run `cargo xtask guests` first (or `cargo xtask test`)", path.display());
    path
}

/// The Wasm module of these tests.
pub fn module() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/worker.wat")
}

/// Panics unless `/dev/kvm` opens read-write: the worker runs real VMs. A test
/// that needs KVM fails without it, in CI and everywhere else.
pub fn require_kvm() {
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        panic!("these tests need KVM, but /dev/kvm cannot be opened ({e})");
    }
}

/// A fresh directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hl-worker-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// `[server]` for tests: any free loopback port, small limits.
pub const SERVER: &str = r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
queue_depth = 1
retry_after_secs = 2
drain_grace_secs = 10
"#;

/// One `[[function]]` table.
pub fn function(name: &str, kind: &str, path: &Path, entry: &str, extra: &str) -> String {
    format!("\n[[function]]\nname = \"{name}\"\nkind = \"{kind}\"\npath = {:?}\nentry = \"{entry}\"\n{extra}\n", path)
}

/// The worker binary, running.
pub struct Worker {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stderr: mpsc::Receiver<String>,
}

/// How long a worker may take to bind, or to warm its pools.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

impl Worker {
    /// Starts `hyperlight-worker serve` on `config` (written into `dir`) and waits
    /// until it says where it listens.
    pub fn start(dir: &Path, config: &str) -> Worker {
        require_kvm();
        let path = dir.join("worker.toml");
        std::fs::write(&path, config).expect("write the configuration");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hyperlight-worker"))
            .arg("serve")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hyperlight-worker");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + START_DEADLINE;
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.to_string();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait();
                    let log: Vec<String> = stderr.try_iter().collect();
                    panic!("the worker did not say where it listens ({status:?}):\n{}", log.join("\n"));
                }
            }
        };
        Worker { child, base, stderr }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Polls `/readyz` until 200; panics with the worker's log at the deadline.
    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(r) = client.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the worker exited with {status} before it was ready:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "the worker was not ready within {START_DEADLINE:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) on our own child's pid with a valid signal number; it
        // touches no memory.
        let r = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(r, 0, "kill(SIGTERM): {}", std::io::Error::last_os_error());
    }

    /// Waits for the process to exit, up to `within`.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the worker") {
                return status;
            }
            assert!(Instant::now() < deadline, "the worker did not exit within {within:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the worker wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(std::mem::take(&mut line));
        }
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    rx
}

/// Runs `hyperlight-worker ARGS` to completion: (status, stdout, stderr).
pub fn run_worker(args: &[&std::ffi::OsStr]) -> (ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hyperlight-worker")).args(args).output().expect("run hyperlight-worker");
    (out.status, String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}
