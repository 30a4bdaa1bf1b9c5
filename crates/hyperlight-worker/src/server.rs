//! The HTTP API: routes, the mapping of every outcome to a status, and the
//! request metrics.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/functions/{name}/invoke` | the result (JSON, or raw bytes), `Server-Timing: call;dur=MS` |
//! | `GET /v1/functions` | each function's name, kind, entry, signature, pool, readiness |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 when every pool is warm and the worker is not draining, else 503 |
//! | `GET /metrics` | Prometheus text: the worker's and the library's metrics |

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyperlight_host::{CallError, Value};
use hyperlight_wasm::WasmCallError;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::config::Config;
use crate::guest::{describe, GuestError};
use crate::pool::{Pool, Refusal};
use crate::value_json::{self, type_name};

/// Metric names of the worker (the library's are in `hyperlight_host::metric_names`).
pub mod metric_names {
    /// Counter: requests answered, by `function` and `status`.
    pub const REQUESTS_TOTAL: &str = "worker_requests_total";
    /// Histogram: request time from routing to the answer, by `function` and `status`.
    pub const REQUEST_DURATION_SECONDS: &str = "worker_request_duration_seconds";
    /// Gauge: requests admitted and not yet back in the pool, by `function`.
    pub const IN_FLIGHT: &str = "worker_in_flight";
}

/// The state every handler shares.
#[derive(Debug)]
pub struct App {
    pools: HashMap<String, Arc<Pool>>,
    order: Vec<String>,
    draining: AtomicBool,
    metrics: PrometheusHandle,
    retry_after: HeaderValue,
}

impl App {
    /// The pools of `config` (empty until warmed) and the exporter's handle.
    pub fn new(config: &Config, metrics: PrometheusHandle) -> App {
        let pools = config
            .functions
            .iter()
            .map(|f| (f.name.clone(), Arc::new(Pool::new(f.clone(), config.server.queue_depth))))
            .collect();
        App {
            pools,
            order: config.functions.iter().map(|f| f.name.clone()).collect(),
            draining: AtomicBool::new(false),
            metrics,
            retry_after: HeaderValue::from(config.server.retry_after_secs),
        }
    }

    /// The pools, in configuration order.
    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.order.iter().filter_map(|n| self.pools.get(n))
    }

    /// From now on `/readyz` says 503, so load balancers stop sending.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn ready(&self) -> bool {
        !self.draining.load(Ordering::SeqCst) && self.pools().all(|p| p.is_warm())
    }
}

/// The routes, with the body limit of `max_body_bytes`.
pub fn router(app: Arc<App>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/functions", get(list))
        .route("/v1/functions/{name}/invoke", post(invoke))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else if app.draining.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "warming\n").into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    for pool in app.pools() {
        metrics::gauge!(metric_names::IN_FLIGHT, "function" => pool.config().name.clone()).set(pool.in_flight() as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

async fn list(State(app): State<Arc<App>>) -> Response {
    let functions: Vec<_> = app
        .pools()
        .map(|p| {
            let c = p.config();
            let signature = p.signature();
            json!({
                "name": c.name,
                "kind": c.kind.as_str(),
                "entry": c.entry,
                "params": signature.map(|s| s.params.iter().map(|&t| type_name(t)).collect::<Vec<_>>()),
                "returns": signature.map(|s| type_name(s.returns)),
                "signature": signature.map(describe),
                "bytes_in_bytes_out": signature.is_some_and(|s| s.bytes_in_bytes_out()),
                "pool": c.pool,
                "deadline_ms": c.deadline.as_millis(),
                "ready": p.is_warm(),
            })
        })
        .collect();
    axum::Json(json!({ "functions": functions })).into_response()
}

async fn invoke(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let (function, response) = match app.pools.get(&name) {
        Some(pool) => (name, run(&app, pool, &headers, body).await),
        // One label for every unknown name: a caller cannot grow the metrics.
        None => {
            ("(unknown)".to_string(), error(StatusCode::NOT_FOUND, "NoSuchFunction", format!("no function {name:?}")))
        }
    };
    let status = response.status().as_u16().to_string();
    let labels = [("function", function), ("status", status)];
    metrics::counter!(metric_names::REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(metric_names::REQUEST_DURATION_SECONDS, &labels).record(start.elapsed().as_secs_f64());
    response
}

async fn run(app: &App, pool: &Arc<Pool>, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return error(rejection.status(), "Body", rejection.body_text()),
    };
    let Some(signature) = pool.signature() else {
        return refused(app, Refusal::NotReady);
    };
    let raw = headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let args = if raw {
        if !signature.bytes_in_bytes_out() {
            let message =
                format!("{} takes JSON arguments: its signature is {}", pool.config().name, describe(signature));
            return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "RawBodyNotAccepted", message);
        }
        vec![Value::Bytes(body.to_vec())]
    } else {
        match value_json::parse_args(&body, &signature.params) {
            Ok(args) => args,
            Err(e) => {
                let body =
                    json!({"error": {"kind": "InvalidArguments", "message": e.to_string(), "argument": e.argument()}});
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
        }
    };
    match pool.invoke(args).await {
        Ok(outcome) => {
            let timing = HeaderValue::from_str(&format!("call;dur={:.3}", outcome.call_time.as_secs_f64() * 1e3));
            let mut response = match outcome.result {
                Ok(Value::Bytes(bytes)) if raw => {
                    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
                }
                Ok(value) => axum::Json(json!({ "result": value_json::result_json(&value) })).into_response(),
                Err(e) => guest_error(&e),
            };
            if let Ok(timing) = timing {
                response.headers_mut().insert("server-timing", timing);
            }
            response
        }
        Err(refusal) => refused(app, refusal),
    }
}

fn refused(app: &App, refusal: Refusal) -> Response {
    let (status, kind, message) = match refusal {
        Refusal::Busy => (StatusCode::TOO_MANY_REQUESTS, "Busy", "every sandbox and queue slot is taken".to_string()),
        Refusal::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "NotReady", "the pool is not warm yet".to_string()),
        Refusal::NoSandbox(e) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "NoSandbox", format!("{e}: {}", sources(&e)))
        }
    };
    let mut response = error(status, kind, message);
    response.headers_mut().insert(header::RETRY_AFTER, app.retry_after.clone());
    response
}

/// A guest's failure: 504 past the deadline, else 500, with the typed error.
fn guest_error(e: &GuestError) -> Response {
    let status = if e.is_timeout() { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::INTERNAL_SERVER_ERROR };
    let mut detail = serde_json::Map::new();
    let (kind, message) = match e {
        GuestError::Native(c) => {
            call_error_detail(c, &mut detail);
            (variant(c), c.to_string())
        }
        GuestError::Wasm(WasmCallError::Sandbox(c)) => {
            call_error_detail(c, &mut detail);
            (variant(c), c.to_string())
        }
        GuestError::Wasm(w) => {
            if let Some(trap) = w.trap() {
                detail.insert("trap".into(), json!(variant(trap)));
            }
            (variant(w), w.to_string())
        }
    };
    detail.insert("kind".into(), json!(kind));
    detail.insert("message".into(), json!(message));
    (status, axum::Json(json!({ "error": detail }))).into_response()
}

fn call_error_detail(e: &CallError, detail: &mut serde_json::Map<String, serde_json::Value>) {
    match e {
        CallError::GuestFault(f) => {
            detail.insert("exception".into(), json!(format!("{:?}", f.exception)));
            detail.insert("rip".into(), json!(format!("{:#x}", f.rip)));
            detail.insert("error_code".into(), json!(f.error_code));
            if let Some(cr2) = f.cr2 {
                detail.insert("cr2".into(), json!(format!("{cr2:#x}")));
            }
        }
        CallError::Timeout { after } => {
            detail.insert("deadline_ms".into(), json!(after.as_millis()));
        }
        CallError::GuestPanic { message } | CallError::GuestFailed { message, .. } => {
            detail.insert("guest_message".into(), json!(message));
        }
        _ => {}
    }
}

/// An enum value's variant name, from its `Debug` form.
fn variant(e: &dyn std::fmt::Debug) -> String {
    let text = format!("{e:?}");
    text.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or_default().to_string()
}

fn sources(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s.to_string());
        next = s.source();
    }
    out.join(": ")
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    (status, axum::Json(json!({"error": {"kind": kind, "message": message}}))).into_response()
}
