//! `hyperlight-worker`: guest functions served over HTTP, a thin layer over
//! `hyperlight-host` and `hyperlight-wasm`.
//!
//! 1. [`Config`] reads the TOML file: the server's limits and a list of functions,
//!    each a native guest ELF or a Wasm module, with its sizes, deadline, fuel, pool
//!    size and an optional snapshot file.
//! 2. [`serve`] binds, answers `/healthz` at once, and warms every [`pool::Pool`]
//!    on a blocking thread: each guest is built once (or loaded from its snapshot
//!    file, digest checked), snapshotted after init, and the pool is filled with
//!    sandboxes made from the snapshot; `/readyz` turns 200 when all are warm.
//! 3. Each invoke runs on a blocking thread in a sandbox in the snapshot's state,
//!    which is restored after the answer is sent and before the sandbox serves
//!    again ([`pool`]); [`server`] maps every outcome to its status.
//! 4. SIGTERM or SIGINT drains: `/readyz` says 503, no new connection is accepted,
//!    in-flight requests finish within the grace period, and the process exits 0.
//!
//! See `docs/deploy.md` for the API, the configuration and the Kubernetes steps.
#![deny(missing_docs)]

pub mod config;
pub mod guest;
pub mod pool;
pub mod server;
pub mod snapshot_file;
pub mod value_json;

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
pub use config::{Config, ConfigError, FunctionConfig, Kind, ServerConfig};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
pub use server::App;

/// Histogram buckets of every `*_seconds` metric, 20 us to 10 s.
const SECONDS_BUCKETS: [f64; 16] =
    [20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 250e-3, 1.0, 2.5, 10.0];

/// Why the worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    /// A function could not be made ready.
    #[error("function {function:?} cannot be served")]
    Warm {
        /// The function.
        function: String,
        /// Why.
        #[source]
        source: guest::PrepareError,
    },
    /// In-flight requests were still running when the grace period ended.
    #[error("in-flight requests did not finish within the drain grace period of {0:?}")]
    DrainTimeout(Duration),
    /// The Prometheus recorder could not be installed (another is installed).
    #[error("cannot install the Prometheus recorder")]
    Recorder(#[source] metrics_exporter_prometheus::BuildError),
}

/// Installs the Prometheus recorder as the process's `metrics` recorder, so that
/// the library's metrics and the worker's both reach `/metrics`.
pub fn install_recorder() -> Result<PrometheusHandle, ServeError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(|b| b.install_recorder())
        .map_err(ServeError::Recorder)
}

/// Serves `config` until SIGTERM or SIGINT, then drains. `on_listening` is told the
/// bound address (the port, when the configuration says 0).
pub async fn serve(
    config: Config,
    metrics: PrometheusHandle,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let addr = config.server.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
    let app = Arc::new(App::new(&config, metrics.clone()));
    let router = server::router(Arc::clone(&app), config.server.max_body_bytes);
    on_listening(local);

    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            metrics.run_upkeep();
        }
    });
    let warm_app = Arc::clone(&app);
    let mut warming = tokio::task::spawn_blocking(move || {
        for pool in warm_app.pools() {
            let start = std::time::Instant::now();
            pool.warm().map_err(|source| ServeError::Warm { function: pool.config().name.clone(), source })?;
            tracing::info!(function = %pool.config().name, pool = pool.config().pool, took = ?start.elapsed(), "warm");
        }
        Ok::<(), ServeError>(())
    });

    let drain = Arc::new(tokio::sync::Notify::new());
    let drain_app = Arc::clone(&app);
    let drain_started = Arc::clone(&drain);
    // Answers are small: send them at once rather than wait for Nagle's timer.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("draining: no new connections; finishing in-flight requests");
        drain_app.start_draining();
        drain_started.notify_one();
    });
    let grace = Duration::from_secs(config.server.drain_grace_secs);
    let mut server = std::pin::pin!(server.into_future());
    // Made once, outside the loop: the grace period starts at the signal and is not
    // restarted (nor its wake-up lost) when warming ends during a drain.
    let mut grace_over = std::pin::pin!(async {
        drain.notified().await;
        tokio::time::sleep(grace).await;
    });
    let mut warmed = false;
    let result = loop {
        tokio::select! {
            r = &mut server => break r.map_err(ServeError::Serve),
            w = &mut warming, if !warmed => {
                warmed = true;
                match w {
                    Ok(Ok(())) => tracing::info!("ready: every pool is warm"),
                    Ok(Err(e)) => break Err(e),
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                }
            }
            () = &mut grace_over => {
                break Err(ServeError::DrainTimeout(grace));
            }
        }
    };
    upkeep.abort();
    result
}

/// SIGTERM (what Kubernetes sends) or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the worker can only be killed; serve on.
        _ => std::future::pending().await,
    }
}
