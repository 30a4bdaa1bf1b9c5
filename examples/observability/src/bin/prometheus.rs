//! hyperlight's metrics through `metrics-exporter-prometheus`: some calls, a failure,
//! a restore and a sandbox from a snapshot, then the scrape text on stdout; with
//! `--serve ADDR` (e.g. `--serve 127.0.0.1:9000`) also served at `http://ADDR/metrics`
//! until the process is stopped.
//!
//! ```sh
//! cargo xtask guests
//! cd examples/observability && cargo run --release --bin prometheus
//! ```

use std::io::{Read, Write};

use hyperlight_host::{HostFunctions, Sandbox, SandboxBuilder};
use metrics_exporter_prometheus::PrometheusBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;

    let mut sandbox = SandboxBuilder::new()
        .host_function("HostAdd", |a: i32, b: i32| a + b)
        .build_from_file(hyperlight_example::guest("simpleguest"))?;
    let clean = sandbox.snapshot()?;
    for i in 0..10 {
        sandbox.call::<i32>("EchoI32", i)?;
    }
    sandbox.call::<i32>("CallHostAdd", (1, 2))?;
    let _ = sandbox.call::<i32>("NoSuchFunction", ());
    sandbox.call::<u64>("Counter", ())?;
    sandbox.restore(&clean)?;
    let twin = Sandbox::from_snapshot(&clean, HostFunctions::new())?;
    drop(twin);

    print!("{}", handle.render());
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(addr)) = (args.next(), args.next()) {
        if flag == "--serve" {
            // A minimal HTTP server (std only): every request gets the scrape.
            let listener = std::net::TcpListener::bind(&addr)?;
            eprintln!("serving http://{addr}/metrics");
            for stream in listener.incoming() {
                let mut stream = stream?;
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let body = handle.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
            }
        }
    }
    Ok(())
}
