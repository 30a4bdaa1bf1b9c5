//! `hyperlight-worker serve CONFIG`: serve the configured guest functions over HTTP.
//! `hyperlight-worker snapshot CONFIG --out DIR`: write each native function's
//! snapshot file, named by its digest.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hyperlight_worker::{guest, snapshot_file, Config, Kind};
use tracing_subscriber::EnvFilter;

/// Serve guest functions (native ELFs or Wasm modules) over HTTP from warm pools of
/// hyperlight micro-VMs.
#[derive(Debug, Parser)]
#[command(name = "hyperlight-worker", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the functions of CONFIG until SIGTERM, then drain and exit 0.
    ///
    /// Prints `listening on http://ADDR` on stdout once bound.
    Serve {
        /// The TOML configuration.
        config: PathBuf,
        /// Listen here instead of the configuration's `server.listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Build each native function of CONFIG, snapshot it after init, and write the
    /// snapshot into DIR as `sha256-<digest>.hlsnap`; prints one `NAME PATH` line
    /// per function.
    Snapshot {
        /// The TOML configuration.
        config: PathBuf,
        /// Where to write the files.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve { config, listen } => serve(config, listen),
        Command::Snapshot { config, out } => snapshot(config, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut text = format!("hyperlight-worker: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{text}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: PathBuf, listen: Option<std::net::SocketAddr>) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::load(&path)?;
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    let metrics = hyperlight_worker::install_recorder()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(hyperlight_worker::serve(config, metrics, |addr| {
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    }));
    // After a drain every call has answered and only restores may be running; after
    // a drain past its grace a call may still be in a VM, which goes with the
    // process: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(result?)
}

fn snapshot(path: PathBuf, out: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&path)?;
    for f in &config.functions {
        if f.kind == Kind::Wasm {
            eprintln!("{}: skipped: a Wasm function is instantiated from its module at start", f.name);
            continue;
        }
        let mut sandbox = guest::native_builder(f)
            .build_from_file(&f.path)
            .map_err(|e| format!("{}: cannot build {}: {e}", f.name, f.path.display()))?;
        let bytes = sandbox.snapshot()?.to_bytes()?;
        let file = snapshot_file::write(&out, &bytes)?;
        println!("{} {}", f.name, file.display());
    }
    Ok(())
}
