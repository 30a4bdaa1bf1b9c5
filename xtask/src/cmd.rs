//! [`Cmd`]: one external command of a task, echoed before it runs, and [`Failed`],
//! the error that names the step that failed.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::process::Command;

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

    /// Runs the command and returns its stdout, or `None` if it cannot run or fails.
    pub fn output(mut self) -> Option<String> {
        let out = self.command.output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn failed(&self, detail: String) -> Failed {
        Failed { step: self.shown.clone(), detail }
    }
}
