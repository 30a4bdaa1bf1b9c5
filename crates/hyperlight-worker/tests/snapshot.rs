//! `hyperlight-worker snapshot`: files named by their digest, which the worker
//! serves from, and refuses when the contents are not the ones named.

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use common::{function, guest, run_worker, temp_dir, Worker, SERVER};
use serde_json::json;

#[tokio::test]
async fn a_snapshot_file_serves_and_a_tampered_one_is_refused() {
    common::require_kvm();
    let dir = temp_dir("snapshot");
    let g = guest("simpleguest");
    let config = [SERVER.to_string(), function("counter", "native", &g, "Counter", "")].concat();
    let config_path = dir.join("build.toml");
    std::fs::write(&config_path, &config).unwrap();
    let out = dir.join("snapshots");
    let (status, stdout, stderr) =
        run_worker(&[OsStr::new("snapshot"), config_path.as_os_str(), OsStr::new("--out"), out.as_os_str()]);
    assert!(status.success(), "{stderr}");
    let file = stdout.strip_prefix("counter ").expect("NAME PATH").trim().to_string();
    let name = std::path::Path::new(&file).file_name().unwrap().to_str().unwrap().to_string();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(name, hyperlight_worker::snapshot_file::file_name(&hyperlight_worker::snapshot_file::digest(&bytes)));

    // Served from the file: the guest's state is the snapshot's for every request.
    let served =
        [SERVER.to_string(), function("counter", "native", &g, "Counter", &format!("snapshot = {file:?}"))].concat();
    let mut w = Worker::start(&dir, &served);
    let c = reqwest::Client::new();
    w.wait_ready(&c).await;
    for _ in 0..2 {
        let r = c.post(w.url("/v1/functions/counter/invoke")).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!({"result": {"u64": 1}}));
    }
    drop(w);

    // The same name over other bytes: the worker refuses to start.
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let forged = dir.join("forged");
    std::fs::create_dir_all(&forged).unwrap();
    let forged_file = forged.join(&name);
    std::fs::write(&forged_file, &tampered).unwrap();
    let bad =
        [SERVER.to_string(), function("counter", "native", &g, "Counter", &format!("snapshot = {forged_file:?}"))]
            .concat();
    let mut w = Worker::start(&dir, &bad);
    let status = w.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let log = w.log();
    assert!(log.contains("its contents have digest sha256:"), "{log}");
}
