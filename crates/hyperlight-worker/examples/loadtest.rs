//! The worker's load test (`cargo xtask loadtest`): starts the worker binary on
//! loopback with a native and a Wasm function, drives each with a bounded number of
//! requests from a real HTTP client at concurrency 1, 2 and 8, and prints
//! throughput, p50/p90/p99 latency and errors; then the same calls made in-process
//! through the library, and the ratios (the HTTP stack's overhead).
//!
//! ```text
//! loadtest --worker target/release/hyperlight-worker [--requests N]
//! ```
//!
//! The guests come from `HYPERLIGHT_GUESTS_DIR` (the xtask sets it).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hyperlight_host::{SandboxBuilder, Value};
use hyperlight_wasm::WasmSandbox;

/// Requests before the measured ones, per run.
const WARM_UP: usize = 200;

struct Target {
    label: &'static str,
    name: &'static str,
    body: &'static str,
}

const TARGETS: [Target; 2] = [
    Target { label: "native EchoString", name: "echo", body: r#"{"args": [{"str": "hi"}]}"# },
    Target { label: "wasm add", name: "add", body: r#"{"args": [{"i64": 40}, {"i64": 2}]}"# },
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut worker, mut requests) = (None, 2000usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--worker" => worker = args.next().map(PathBuf::from),
            "--requests" => requests = args.next().ok_or("--requests N")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let worker = worker.ok_or("--worker PATH is required")?;
    let guests = PathBuf::from(std::env::var_os("HYPERLIGHT_GUESTS_DIR").ok_or("set HYPERLIGHT_GUESTS_DIR")?);
    let simpleguest = guests.join("simpleguest");
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/worker.wat");

    println!("in-process, through the library ({requests} calls each, after {WARM_UP}):");
    let native = in_process(requests, || {
        let mut s = SandboxBuilder::new().build_from_file(&simpleguest).expect("build simpleguest");
        let clean = s.snapshot().expect("snapshot");
        move |restore: bool| {
            let v = s.call_values("EchoString", vec![Value::String("hi".into())]).expect("EchoString");
            assert_eq!(v, Value::String("hi".into()));
            if restore {
                s.restore(&clean).expect("restore");
            }
        }
    });
    let wasm = in_process(requests, || {
        let mut s = WasmSandbox::builder().build_from_file(&module).expect("build the module");
        let clean = s.snapshot().expect("snapshot");
        move |restore: bool| {
            let v = s.call_values("add", vec![Value::I64(40), Value::I64(2)], None).expect("add");
            assert_eq!(v, Value::I64(42));
            if restore {
                s.restore(&clean).expect("restore");
            }
        }
    });
    for (t, base) in TARGETS.iter().zip([&native, &wasm]) {
        println!(
            "  {:<18} call after a restore p50 {:>6.1} us  p99 {:>6.1} us (without: p50 {:>5.1} us) | call+restore: 1 thread {:>6.0}/s, 2 threads {:>6.0}/s",
            t.label, base.p50_us, base.p99_us, base.hot_p50_us, base.rate_1, base.rate_2
        );
    }

    let dir = std::env::temp_dir().join(format!("hl-loadtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("worker.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nqueue_depth = 64\n\
             [[function]]\nname = \"echo\"\nkind = \"native\"\npath = {simpleguest:?}\nentry = \"EchoString\"\npool = 2\n\
             [[function]]\nname = \"add\"\nkind = \"wasm\"\npath = {module:?}\nentry = \"add\"\npool = 2\n"
        ),
    )?;
    let mut child = Command::new(&worker)
        .arg("serve")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let base = line.trim().strip_prefix("listening on ").ok_or(format!("unexpected first line {line:?}"))?.to_string();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(drive(&base, child.id(), requests, [&native, &wasm]));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// In-process figures of one function.
struct Baseline {
    /// A call into a sandbox that served the last call too (no restore between).
    hot_p50_us: f64,
    /// A call into a sandbox just restored, as every request in the worker.
    p50_us: f64,
    p99_us: f64,
    /// Calls plus restores per second on one thread.
    rate_1: f64,
    /// The same on two threads with a sandbox each (the worker's pool of 2).
    rate_2: f64,
}

fn in_process<F, C>(requests: usize, make: F) -> Baseline
where
    F: Fn() -> C + Sync,
    C: FnMut(bool),
{
    let mut call = make();
    let mut latencies = Vec::with_capacity(requests);
    let mut after_restore = Vec::with_capacity(requests);
    for i in 0..WARM_UP + requests {
        let start = Instant::now();
        call(false);
        if i >= WARM_UP {
            latencies.push(start.elapsed());
        }
    }
    // The worker's case: every call finds the sandbox just restored (the restore
    // itself is off the answer's path there), so it touches its pages anew.
    for i in 0..WARM_UP + requests {
        call(true);
        let start = Instant::now();
        call(false);
        if i >= WARM_UP {
            after_restore.push(start.elapsed());
        }
    }
    after_restore.sort();
    let timed = |call: &mut C| {
        let start = Instant::now();
        for _ in 0..requests {
            call(true);
        }
        start.elapsed()
    };
    let rate_1 = requests as f64 / timed(&mut call).as_secs_f64();
    drop(call);
    let elapsed = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut call = make();
                    for _ in 0..WARM_UP {
                        call(true);
                    }
                    timed(&mut call)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("a baseline thread")).max().unwrap_or_default()
    });
    let rate_2 = 2.0 * requests as f64 / elapsed.as_secs_f64();
    latencies.sort();
    Baseline {
        hot_p50_us: us(percentile(&latencies, 50.0)),
        p50_us: us(percentile(&after_restore, 50.0)),
        p99_us: us(percentile(&after_restore, 99.0)),
        rate_1,
        rate_2,
    }
}

async fn drive(
    base: &str,
    pid: u32,
    requests: usize,
    baselines: [&Baseline; 2],
) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(16).build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        if Instant::now() > deadline {
            return Err("the worker was not ready within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("\nover HTTP on loopback ({requests} requests per run, after {WARM_UP}; worker pool 2 per function):");
    let floor = run_get(&client, &format!("{base}/healthz"), requests).await;
    println!(
        "  {:<18} c=1  {:>7.0} req/s  p50 {:>7.1} us  p99 {:>7.1} us  (the HTTP stack alone: no sandbox)",
        "GET /healthz",
        floor.0,
        us(percentile(&floor.1, 50.0)),
        us(percentile(&floor.1, 99.0)),
    );
    for (t, baseline) in TARGETS.iter().zip(baselines) {
        let url = format!("{base}/v1/functions/{}/invoke", t.name);
        for concurrency in [1usize, 2, 8] {
            let _ = run(&client, &url, t.body, WARM_UP, concurrency).await;
            let cpu_before = cpu_time(pid);
            let r = run(&client, &url, t.body, requests, concurrency).await;
            let cpu = cpu_time(pid).zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
            let cpu_per_request = cpu.map_or(0.0, |c| us(c) / r.latencies.len().max(1) as f64);
            println!(
                "  {:<18} c={concurrency}  {:>6.0} req/s  p50 {:>6.1} us  p90 {:>6.1} us  p99 {:>6.1} us  guest call p50 {:>5.1} us  worker CPU {:>5.1} us/req  errors {}",
                t.label,
                r.throughput,
                us(percentile(&r.latencies, 50.0)),
                us(percentile(&r.latencies, 90.0)),
                us(percentile(&r.latencies, 99.0)),
                us(percentile(&r.call_times, 50.0)),
                cpu_per_request,
                r.errors_text(),
            );
            if concurrency == 1 {
                let (p50, p99) = (us(percentile(&r.latencies, 50.0)), us(percentile(&r.latencies, 99.0)));
                println!(
                    "  {:<18}       p50 {:.2}x in-process (target <= 1.5x + 100 us: {}), p99 {:.2}x",
                    "",
                    p50 / baseline.p50_us,
                    if p50 <= 1.5 * baseline.p50_us + 100.0 { "met" } else { "missed" },
                    p99 / baseline.p99_us,
                );
            }
            if concurrency == 2 {
                println!(
                    "  {:<18}       throughput {:.2}x the in-process call+restore rate on 2 threads ({:.0}/s), {:.2}x on 1",
                    "",
                    r.throughput / baseline.rate_2,
                    baseline.rate_2,
                    r.throughput / baseline.rate_1,
                );
            }
        }
    }
    Ok(())
}

/// `total` GETs one after the other: (throughput, sorted latencies).
async fn run_get(client: &reqwest::Client, url: &str, total: usize) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(total);
    for _ in 0..total {
        let sent = Instant::now();
        if let Ok(r) = client.get(url).send().await {
            if r.bytes().await.is_ok() {
                latencies.push(sent.elapsed());
            }
        }
    }
    let throughput = latencies.len() as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    (throughput, latencies)
}

struct RunResult {
    throughput: f64,
    latencies: Vec<Duration>,
    call_times: Vec<Duration>,
    errors: std::collections::BTreeMap<String, usize>,
}

impl RunResult {
    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".into();
        }
        self.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
    }
}

/// `total` requests from `concurrency` tasks, each sending its next request when
/// its last is answered.
async fn run(client: &reqwest::Client, url: &str, body: &'static str, total: usize, concurrency: usize) -> RunResult {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..concurrency {
        let (client, url) = (client.clone(), url.to_string());
        let n = total / concurrency + usize::from(task < total % concurrency);
        tasks.spawn(async move {
            let mut out = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::new());
            for _ in 0..n {
                let sent = Instant::now();
                let r = client.post(&url).header("content-type", "application/json").body(body).send().await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        let call = r.headers().get("server-timing").and_then(|v| call_time(v.to_str().ok()?));
                        let ok = r.bytes().await.is_ok();
                        out.0.push(sent.elapsed());
                        out.1.extend(call);
                        if !ok {
                            out.2.push("body".to_string());
                        }
                    }
                    Ok(r) => out.2.push(r.status().as_u16().to_string()),
                    Err(e) => out.2.push(if e.is_connect() { "connect" } else { "transport" }.to_string()),
                }
            }
            out
        });
    }
    let mut result = RunResult {
        throughput: 0.0,
        latencies: Vec::with_capacity(total),
        call_times: Vec::with_capacity(total),
        errors: Default::default(),
    };
    while let Some(Ok((latencies, calls, errors))) = tasks.join_next().await {
        result.latencies.extend(latencies);
        result.call_times.extend(calls);
        for e in errors {
            *result.errors.entry(e).or_default() += 1;
        }
    }
    result.throughput = result.latencies.len() as f64 / start.elapsed().as_secs_f64();
    result.latencies.sort();
    result.call_times.sort();
    result
}

/// User plus system CPU time of process `pid` so far (from /proc/PID/stat).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name's closing parenthesis: state is field 3; utime and
    // stime are fields 14 and 15, in clock ticks.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a configuration value; it touches no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

fn call_time(header: &str) -> Option<Duration> {
    let ms: f64 = header.strip_prefix("call;dur=")?.parse().ok()?;
    Some(Duration::from_secs_f64(ms / 1e3))
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // p is 0..=100
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank, in integers: p is a whole or half percent here.
    let per_mille = (p * 10.0) as usize;
    let rank = ((sorted.len() - 1) * per_mille + 500) / 1000;
    sorted[rank.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
