//! [`Cmd`]: one external command of a task, echoed before it runs, and [`Failed`],
//! the error that names the step that failed.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A step of a task that did not succeed.
#[derive(Debug)]
pub struct Failed {
    /// The step, as the user would type it.
    pub step: String,
    /// What went wrong.
    pub detail: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}` failed: {}", self.step, self.detail)
    }
}

/// An external command, built up and then run with [`Cmd::run`].
pub struct Cmd {
    command: Command,
    shown: String,
}

impl Cmd {
    /// `program` with `args`.
    pub fn new<I, S>(program: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        let mut shown = String::from(program);
        for a in args {
            shown.push(' ');
            shown.push_str(&a.as_ref().to_string_lossy());
            command.arg(a);
        }
        Cmd { command, shown }
    }

    /// `cargo` (the one that runs this xtask) with `args`.
    pub fn cargo<I, S>(args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Cmd::new(&cargo, args);
        cmd.shown = cmd.shown.replacen(&cargo, "cargo", 1);
        cmd
    }

    /// Runs in `dir`.
    pub fn dir(mut self, dir: &Path) -> Cmd {
        self.command.current_dir(dir);
        self.shown = format!("(cd {} && {})", dir.display(), self.shown);
        self
    }

    /// Sets an environment variable (shown in the echo).
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        // CARGO_ENCODED_RUSTFLAGS separates flags with 0x1f: show it as a space.
        let shown_value = value.as_ref().to_string_lossy().replace('\u{1f}', " ");
        self.shown = format!("{key}={shown_value:?} {}", self.shown);
        self.command.env(key, value);
        self
    }

    /// Removes an environment variable inherited from the caller.
    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.command.env_remove(key);
        self
    }

    /// Runs the command, inheriting stdio; an error unless it exits with 0.
    pub fn run(mut self) -> Result<(), Failed> {
        eprintln!("xtask: $ {}", self.shown);
        let status = self.command.status().map_err(|e| self.failed(format!("cannot start it: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failed(format!("it exited with {status}")))
        }
    }

    /// Like [`run`](Cmd::run), but fails after `limit`: the command and every process
    /// it started are killed. For test runs, so that a test that hangs fails the task
    /// instead of hanging it (Ctrl-C still reaches them all: they stay in our
    /// process group).
    pub fn run_within(mut self, limit: Duration) -> Result<(), Failed> {
        eprintln!("xtask: $ {}  (at most {} min)", self.shown, limit.as_secs() / 60);
        let mut child = self.command.spawn().map_err(|e| self.failed(format!("cannot start it: {e}")))?;
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(self.failed(format!("it exited with {status}"))),
                Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(200)),
                Ok(None) => {
                    kill_tree(child.id());
                    let _ = child.wait();
                    return Err(
                        self.failed(format!("it ran longer than {} minutes and was killed", limit.as_secs() / 60))
                    );
                }
                Err(e) => return Err(self.failed(format!("cannot wait for it: {e}"))),
            }
        }
    }

    /// Runs the command and returns its stdout, or `None` if it cannot run or fails.
    pub fn output(mut self) -> Option<String> {
        let out = self.command.output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn failed(&self, detail: String) -> Failed {
        Failed { step: self.shown.clone(), detail }
    }
}

/// Kills process `root` and all its descendants (found through /proc), children first
/// seen, so that none is left running. Needs nothing but `kill(1)`.
fn kill_tree(root: u32) {
    let mut pids = vec![root];
    let mut i = 0;
    while i < pids.len() {
        pids.extend(children(pids[i]));
        i += 1;
    }
    let args: Vec<String> = pids.iter().map(u32::to_string).collect();
    let _ = Command::new("kill").arg("-KILL").args(&args).status();
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            // /proc/P/stat: "P (comm) S PPID ..."; comm may contain spaces, so read
            // after its closing parenthesis.
            std::fs::read_to_string(format!("/proc/{p}/stat")).ok().is_some_and(|stat| {
                stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}
