//! Crash dumps (feature `crashdump`): a faulting guest leaves an ELF core file that
//! gdb opens with the guest binary and shows the backtrace at the fault:
//! `cargo test -p hyperlight-host --features crashdump --test crash_dump`.

mod common;

use std::process::Command;

use hyperlight_host::CallError;

fn dump_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperlight-crash-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_page_fault_leaves_a_core_that_gdb_reads() {
    let dir = dump_dir("null");
    let mut sb = common::builder()
        .crash_dump_dir(&dir)
        .build_from_file(common::guest_path("simpleguest-exec"))
        .expect("sandbox");
    assert!(sb.last_crash_dump().is_none());
    let r = sb.call::<()>("Fault", "null".to_string());
    assert!(matches!(r, Err(CallError::GuestFault(_))), "{r:?}");
    let core = sb.last_crash_dump().expect("a core file was written").to_path_buf();
    assert!(core.starts_with(&dir) && core.is_file(), "{}", core.display());

    let out = Command::new("gdb")
        .args(["-batch", "-nx"])
        .arg(common::guest_path("simpleguest-exec"))
        .arg(&core)
        .args(["-ex", "bt", "-ex", "info registers rip"])
        .output()
        .expect("gdb runs (is gdb installed?)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("SIGSEGV"), "{text}");
    assert!(text.contains("simpleguest::faults::fault"), "the faulting function is in the backtrace:\n{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_dump_without_a_directory_or_a_fault() {
    let dir = dump_dir("none");
    let mut sb =
        common::builder().crash_dump_dir(&dir).build_from_file(common::guest_path("simpleguest")).expect("sandbox");
    assert_eq!(sb.call::<i32>("EchoI32", 1).expect("call"), 1);
    assert!(sb.last_crash_dump().is_none());
    assert!(!dir.exists() || std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0);
}
