//! A snapshot saved by one process is loaded and called in another.
//!
//! The test binary is its own second process: run plainly it builds a sandbox, saves
//! a snapshot and runs itself with `HL_SNAPSHOT_CHILD=<file>`; the child loads the file
//! and calls the guest. (Its own `main`: see `harness = false` in Cargo.toml.)

mod common;

use std::process::Command;

use hyperlight_host::{HostFunctions, Sandbox, Snapshot};

fn child(path: &str) {
    let snap = Snapshot::load(path).expect("the child loads the parent's snapshot");
    let mut sb = Sandbox::from_snapshot(&snap, HostFunctions::new()).expect("sandbox from the loaded snapshot");
    let counter: u64 = sb.call("ReadCounter", ()).expect("call in the child");
    let echoed: String = sb.call("EchoString", "from the child".to_string()).expect("call in the child");
    println!("child: counter={counter} echo={echoed}");
}

fn parent() -> Result<(), String> {
    let mut sb = common::simpleguest();
    for _ in 0..7 {
        sb.call::<u64>("Counter", ()).map_err(|e| e.to_string())?;
    }
    let path = std::env::temp_dir().join(format!("hl-snapshot-process-{}.bin", std::process::id()));
    sb.snapshot().map_err(|e| e.to_string())?.save(&path).map_err(|e| e.to_string())?;
    let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env("HL_SNAPSHOT_CHILD", &path)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("child failed: {}\n{stdout}{}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    if !stdout.contains("child: counter=7 echo=from the child") {
        return Err(format!("unexpected child output: {stdout}"));
    }
    Ok(())
}

fn main() {
    if let Ok(path) = std::env::var("HL_SNAPSHOT_CHILD") {
        child(&path);
        return;
    }
    match parent() {
        Ok(()) => println!("test snapshot_loads_in_another_process ... ok\n1 passed, 0 failed"),
        Err(e) => {
            println!("test snapshot_loads_in_another_process ... FAILED\n{e}\n0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}
