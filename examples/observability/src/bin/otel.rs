//! hyperlight's spans and guest log records exported through OpenTelemetry:
//! `tracing-opentelemetry` over the SDK's stdout exporter, or OTLP over HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (build with `--features otlp`).
//!
//! ```sh
//! cargo xtask guests
//! cd examples/observability && cargo run --release --bin otel
//! ```
//!
//! Each `call` span carries `func_name` and `sandbox_id`; the guest's records are
//! events on it (OpenTelemetry span events), with `guest_module`, `guest_file` and
//! `guest_line`; `host_call` spans are its children; a failed call's span has the
//! status ERROR and the error's message.

use hyperlight_host::{LogLevel, SandboxBuilder};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

fn provider() -> SdkTracerProvider {
    #[cfg(feature = "otlp")]
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build().expect("an OTLP exporter");
        return SdkTracerProvider::builder().with_batch_exporter(exporter).build();
    }
    SdkTracerProvider::builder().with_simple_exporter(opentelemetry_stdout::SpanExporter::default()).build()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = provider();
    // A span's status is its operation's outcome (hyperlight records otel.status_code
    // on failure), not whether the guest logged an error inside it.
    let telemetry = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hyperlight-example"))
        .with_error_events_to_status(false);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("hyperlight_host=debug,hyperlight_guest=trace"));
    let subscriber = tracing_subscriber::registry().with(filter).with(telemetry);
    tracing::subscriber::set_global_default(subscriber)?;

    let mut sandbox = SandboxBuilder::new()
        .guest_log_level(Some(LogLevel::Debug))
        .host_function("HostAdd", |a: i32, b: i32| a + b)
        .build_from_file(hyperlight_example::guest("simpleguest"))?;
    let clean = sandbox.snapshot()?;
    sandbox.call::<()>("LogEveryLevel", "from the example".to_string())?;
    let sum: i32 = sandbox.call("CallHostAdd", (2, 3))?;
    println!("CallHostAdd(2, 3) = {sum}");
    let _ = sandbox.call::<i32>("NoSuchFunction", ());
    sandbox.restore(&clean)?;
    drop(sandbox);
    provider.shutdown()?;
    Ok(())
}
