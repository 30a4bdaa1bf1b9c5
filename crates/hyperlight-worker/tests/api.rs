//! The worker end to end: started as a process on loopback, driven with real HTTP
//! requests. Every status the API promises, and isolation between requests.

mod common;

use std::time::{Duration, Instant};

use common::{function, guest, module, temp_dir, Worker, SERVER};
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client")
}

async fn invoke(c: &reqwest::Client, w: &Worker, name: &str, body: Value) -> (u16, Value) {
    let r = c.post(w.url(&format!("/v1/functions/{name}/invoke"))).json(&body).send().await.expect("invoke");
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON answer"))
}

/// The value of the Prometheus sample `name{labels}` (the labels as rendered), or 0.
async fn sample(c: &reqwest::Client, w: &Worker, series: &str) -> f64 {
    let text = c.get(w.url("/metrics")).send().await.expect("metrics").text().await.expect("metrics text");
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

/// Waits until `series` reaches `value`, or panics at the deadline.
async fn wait_for_sample(c: &reqwest::Client, w: &Worker, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sample(c, w, series).await != value {
        assert!(Instant::now() < deadline, "{series} never reached {value}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn native_functions_answer_with_types_timing_and_metrics() {
    let g = guest("simpleguest");
    let config = [
        SERVER.to_string(),
        function("echo", "native", &g, "EchoString", "pool = 2"),
        function("add", "native", &g, "Add", ""),
        function("bytes", "native", &g, "EchoBytes", ""),
        function("counter", "native", &g, "Counter", ""),
    ]
    .concat();
    let dir = temp_dir("native");
    let mut w = Worker::start(&dir, &config);
    let c = client();
    assert_eq!(c.get(w.url("/healthz")).send().await.unwrap().status(), 200);
    w.wait_ready(&c).await;

    let list: Value = c.get(w.url("/v1/functions")).send().await.unwrap().json().await.unwrap();
    let echo = &list["functions"][0];
    assert_eq!((echo["name"].as_str(), echo["signature"].as_str()), (Some("echo"), Some("(str) -> str")));
    assert_eq!(list["functions"][2]["bytes_in_bytes_out"], json!(true));
    assert_eq!(list["functions"].as_array().map(Vec::len), Some(4));

    let r = c.post(w.url("/v1/functions/echo/invoke")).json(&json!({"args": [{"str": "hi"}]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let timing = r.headers().get("server-timing").expect("Server-Timing").to_str().unwrap().to_string();
    let ms: f64 = timing.strip_prefix("call;dur=").expect("call;dur=MS").parse().unwrap();
    assert!(ms > 0.0 && ms < 1000.0, "{timing}");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"result": {"str": "hi"}}));
    assert_eq!(
        invoke(&c, &w, "add", json!({"args": [{"i32": 2}, {"i32": 40}]})).await,
        (200, json!({"result": {"i32": 42}}))
    );
    let (s, v) = invoke(&c, &w, "bytes", json!({"args": [{"bytes": "00ff10"}]})).await;
    assert_eq!((s, v), (200, json!({"result": {"bytes": "00ff10"}})));

    // Bytes in, bytes out: the raw body is the argument, the raw answer the result.
    let payload: Vec<u8> = (0..=255u8).collect();
    let r = c
        .post(w.url("/v1/functions/bytes/invoke"))
        .header("content-type", "application/octet-stream")
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &payload[..]);

    // The guest's counter is a static it increments: every request starts from the
    // snapshot, so every request reads 1.
    for _ in 0..3 {
        assert_eq!(invoke(&c, &w, "counter", json!({})).await, (200, json!({"result": {"u64": 1}})));
    }

    let echo_ok = "worker_requests_total{function=\"echo\",status=\"200\"}";
    assert_eq!(sample(&c, &w, echo_ok).await, 1.0);
    let text = c.get(w.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("worker_request_duration_seconds_bucket{function=\"counter\",status=\"200\""), "{text}");
    // The library's own metrics, through the same recorder.
    assert!(text.contains("guest_calls_total"), "{text}");
    assert!(text.contains("restore_duration_seconds"), "{text}");
}

#[tokio::test]
async fn every_failure_has_its_status() {
    let g = guest("simpleguest");
    let config = [
        SERVER.to_string(),
        function("add", "native", &g, "Add", ""),
        function("echo", "native", &g, "EchoString", ""),
        function("fault", "native", &g, "Fault", ""),
        function("spin", "native", &g, "Spin", "deadline_ms = 300"),
        // For the 429: long enough that the second request surely arrives while the
        // first still runs, on a loaded machine too.
        function("slowspin", "native", &g, "Spin", "deadline_ms = 3000"),
    ]
    .concat();
    let dir = temp_dir("errors");
    let mut w = Worker::start(&dir, &config);
    let c = client();
    w.wait_ready(&c).await;

    // 400: malformed JSON, a wrong type (named by position), a wrong count.
    let r = c.post(w.url("/v1/functions/add/invoke")).body("{\"args\": [").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["kind"], "InvalidArguments");
    let (s, v) = invoke(&c, &w, "add", json!({"args": [{"i32": 1}, {"str": "2"}]})).await;
    assert_eq!((s, &v["error"]["argument"]), (400, &json!(1)), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("argument 1 should be {\"i32\""), "{v}");
    let (s, v) = invoke(&c, &w, "add", json!({"args": [{"i32": 1}]})).await;
    assert_eq!(s, 400, "{v}");

    // 404, 413, 415.
    assert_eq!(invoke(&c, &w, "nope", json!({})).await.0, 404);
    let big = json!({"args": [{"str": "x".repeat(70_000)}]});
    let r = c.post(w.url("/v1/functions/echo/invoke")).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(w.url("/v1/functions/echo/invoke"))
        .header("content-type", "application/octet-stream")
        .body("raw")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // 500 with the typed fault; the sandbox is restored, so the next call faults
    // the same way instead of finding it poisoned.
    for _ in 0..2 {
        let (s, v) = invoke(&c, &w, "fault", json!({"args": [{"str": "null"}]})).await;
        assert_eq!((s, v["error"]["kind"].as_str()), (500, Some("GuestFault")), "{v}");
        assert_eq!(v["error"]["exception"], "PageFault", "{v}");
        assert_eq!(v["error"]["cr2"], "0x0", "{v}");
    }

    // 504 past the deadline, killed, restored, and the next one the same.
    for _ in 0..2 {
        let start = Instant::now();
        let (s, v) = invoke(&c, &w, "spin", json!({})).await;
        assert_eq!((s, v["error"]["kind"].as_str()), (504, Some("Timeout")), "{v}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    // 429: one spin runs (pool 1), one waits (queue 1), the third is refused.
    let (a, b) = (c.clone(), c.clone());
    let (ua, ub) = (w.url("/v1/functions/slowspin/invoke"), w.url("/v1/functions/slowspin/invoke"));
    let first = tokio::spawn(async move { a.post(ua).body("{}").send().await.map(|r| r.status().as_u16()) });
    let second = tokio::spawn(async move { b.post(ub).body("{}").send().await.map(|r| r.status().as_u16()) });
    wait_for_sample(&c, &w, "worker_in_flight{function=\"slowspin\"}", 2.0).await;
    let r = c.post(w.url("/v1/functions/slowspin/invoke")).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(first.await.unwrap().unwrap(), 504);
    assert_eq!(second.await.unwrap().unwrap(), 504);
    // The worker still answers.
    assert_eq!(invoke(&c, &w, "echo", json!({"args": [{"str": "after"}]})).await.0, 200);
}

#[tokio::test]
async fn wasm_functions_are_isolated_and_fail_typed() {
    let m = module();
    let config = [
        SERVER.to_string(),
        function("wadd", "wasm", &m, "add", "fuel = 100000"),
        function("wecho", "wasm", &m, "echo", "params = [\"str\"]\nreturns = \"str\""),
        function("wcounter", "wasm", &m, "counter", ""),
        function("wtrap", "wasm", &m, "trap", ""),
        function("wspin", "wasm", &m, "spin", "deadline_ms = 300"),
    ]
    .concat();
    let dir = temp_dir("wasm");
    let mut w = Worker::start(&dir, &config);
    let c = client();
    w.wait_ready(&c).await;

    let (s, v) = invoke(&c, &w, "wadd", json!({"args": [{"i64": 40}, {"i64": 2}]})).await;
    assert_eq!((s, v), (200, json!({"result": {"i64": 42}})));
    let (s, v) = invoke(&c, &w, "wecho", json!({"args": [{"str": "wasm"}]})).await;
    assert_eq!((s, v), (200, json!({"result": {"str": "wasm"}})));
    for _ in 0..3 {
        assert_eq!(invoke(&c, &w, "wcounter", json!({})).await, (200, json!({"result": {"i32": 1}})));
    }
    for _ in 0..2 {
        let (s, v) = invoke(&c, &w, "wtrap", json!({})).await;
        assert_eq!(
            (s, v["error"]["kind"].as_str(), v["error"]["trap"].as_str()),
            (500, Some("Trap"), Some("Unreachable")),
            "{v}"
        );
    }
    let (s, v) = invoke(&c, &w, "wspin", json!({})).await;
    assert_eq!(s, 504, "{v}");
    let list: Value = c.get(w.url("/v1/functions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["functions"][1]["signature"], "(str) -> str");
    assert_eq!(list["functions"][0]["kind"], "wasm");
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits_0() {
    let m = module();
    let config = [SERVER.to_string(), function("burn", "wasm", &m, "burn", "deadline_ms = 20000")].concat();
    let dir = temp_dir("drain");
    let mut w = Worker::start(&dir, &config);
    let c = client();
    w.wait_ready(&c).await;

    let (c2, url) = (c.clone(), w.url("/v1/functions/burn/invoke"));
    let in_flight = tokio::spawn(async move {
        let r = c2.post(url).json(&json!({"args": [{"i64": BURN}]})).send().await.expect("the in-flight request");
        (r.status().as_u16(), r.json::<Value>().await.expect("its answer"))
    });
    wait_for_sample(&c, &w, "worker_in_flight{function=\"burn\"}", 1.0).await;
    w.terminate();
    // Answered in full, not cut off.
    assert_eq!(in_flight.await.unwrap(), (200, json!({"result": {"i64": 0}})));
    let status = w.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status}:\n{}", w.log());
    // And gone: nothing listens any more.
    assert!(c.get(w.url("/healthz")).send().await.is_err());
}

#[tokio::test]
async fn a_drain_past_its_grace_period_exits_1() {
    let g = guest("simpleguest");
    let server = SERVER.replace("drain_grace_secs = 10", "drain_grace_secs = 1");
    let config = [server, function("spin", "native", &g, "Spin", "deadline_ms = 20000")].concat();
    let dir = temp_dir("grace");
    let mut w = Worker::start(&dir, &config);
    let c = client();
    w.wait_ready(&c).await;
    let (c2, url) = (c.clone(), w.url("/v1/functions/spin/invoke"));
    let stuck = tokio::spawn(async move { c2.post(url).body("{}").send().await.map(|r| r.status().as_u16()) });
    wait_for_sample(&c, &w, "worker_in_flight{function=\"spin\"}", 1.0).await;
    let start = Instant::now();
    w.terminate();
    let status = w.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{}", w.log());
    assert!(start.elapsed() < Duration::from_secs(10), "exited after {:?}", start.elapsed());
    assert!(w.log().contains("did not finish within the drain grace period"));
    // The call still running was cut off with the process.
    assert!(stuck.await.unwrap().is_err());
}

/// Iterations of `burn` for a call that is still running when SIGTERM arrives.
const BURN: i64 = 200_000_000;
