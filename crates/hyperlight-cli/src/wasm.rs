//! `hyperlight wasm call` and `hyperlight wasm run`: a WebAssembly module in a
//! sandbox, through `hyperlight-wasm`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use hyperlight_host::{GuestLogLevel, Value, ValueType};
use hyperlight_wasm::{WasmBuildError, WasmCallError, WasmSandbox, WasmSandboxBuilder};

use crate::output;
use crate::size::parse_size;
use crate::typed_arg;

/// The two ways to run a module.
#[derive(Debug, Subcommand)]
pub enum WasmCommand {
    /// Load a module (.wasm or .wat) and call one of its exports.
    ///
    /// Prints the result on stdout as `hyperlight run` does. String and bytes
    /// arguments go through the module's `hl_alloc` export (see the
    /// hyperlight-wasm docs); say `--result str` or `--result bytes` for an export
    /// that returns a pointer and a length.
    Call(CallOptions),
    /// Run a WASI command module's `_start` with ARGs as its argv.
    ///
    /// `argv[0]` is the module's file name; stdin, stdout and stderr are the host's.
    /// Exits with the module's exit code, or 125 if the module could not be run
    /// (a build error, a trap, a timeout).
    Run(RunOptions),
}

/// Options of both subcommands.
#[derive(Debug, Args)]
pub struct Common {
    /// Fuel for the call (about one unit per Wasm instruction); running out traps.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Stop the call after DURATION (500ms, 2s, 100us; a plain number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = crate::run::parse_duration)]
    timeout: Option<Duration>,
    /// Print to stderr how long creating the sandbox and the call took.
    #[arg(long)]
    time: bool,
    /// The runtime's heap, which holds the engine and the module's memory [default: 128M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    heap: Option<u64>,
    /// The most linear memory the module may grow to [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,
}

/// `hyperlight wasm call`.
#[derive(Debug, Args)]
pub struct CallOptions {
    /// The module: a .wasm binary or .wat text.
    #[arg(value_name = "MODULE")]
    module: PathBuf,
    /// The export to call.
    #[arg(value_name = "EXPORT")]
    export: String,
    /// The arguments, each TYPE:VALUE as for `hyperlight run`.
    #[arg(value_name = "ARG")]
    args: Vec<String>,
    /// Read the result as this type (needed for str and bytes).
    #[arg(long, value_name = "TYPE", value_enum)]
    result: Option<ResultType>,
    #[command(flatten)]
    common: Common,
}

/// `hyperlight wasm run`.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// The WASI command module: a .wasm binary or .wat text.
    #[arg(value_name = "MODULE")]
    module: PathBuf,
    /// The command's arguments (after `--`), `argv[1]` onwards.
    #[arg(value_name = "ARG", last = true)]
    args: Vec<String>,
    #[command(flatten)]
    common: Common,
}

/// A result type for `--result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultType {
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    Bool,
    Str,
    Bytes,
}

impl From<ResultType> for ValueType {
    fn from(t: ResultType) -> ValueType {
        match t {
            ResultType::I32 => ValueType::I32,
            ResultType::U32 => ValueType::U32,
            ResultType::I64 => ValueType::I64,
            ResultType::U64 => ValueType::U64,
            ResultType::F32 => ValueType::F32,
            ResultType::F64 => ValueType::F64,
            ResultType::Bool => ValueType::Bool,
            ResultType::Str => ValueType::String,
            ResultType::Bytes => ValueType::Bytes,
        }
    }
}

/// Why a `hyperlight wasm` command failed.
pub type Failure = crate::run::Failure<WasmBuildError, WasmCallError>;

/// The exit status for `failure` of `command`: 2 for a bad command line; else 1 for
/// `call` and 125 for `run` (whose own statuses are the module's).
pub fn exit_status(failure: &Failure, command: &WasmCommand) -> u8 {
    match (failure, command) {
        (Failure::Argument(_), _) => 2,
        (_, WasmCommand::Call(_)) => 1,
        (_, WasmCommand::Run(_)) => 125,
    }
}

/// Runs the subcommand; `Ok` holds the process's exit status.
pub fn run(command: &WasmCommand, guest_log_level: Option<GuestLogLevel>) -> Result<u8, Failure> {
    match command {
        WasmCommand::Call(o) => call(o, guest_log_level).map(|()| 0),
        WasmCommand::Run(o) => run_command(o, guest_log_level),
    }
}

/// The builder of `common`'s options, with the guest log level `-v` asked for
/// (`None`: the library's default).
fn builder(common: &Common, guest_log_level: Option<GuestLogLevel>) -> WasmSandboxBuilder {
    let mut b = WasmSandbox::builder();
    if let Some(level) = guest_log_level {
        b = b.guest_log_level(level);
    }
    if let Some(fuel) = common.fuel {
        b = b.fuel(fuel);
    }
    if let Some(t) = common.timeout {
        b = b.call_timeout(t);
    }
    if let Some(bytes) = common.heap {
        b = b.heap_size(bytes);
    }
    if let Some(bytes) = common.max_memory {
        b = b.max_memory(bytes);
    }
    b
}

fn build(common: &Common, builder: WasmSandboxBuilder, module: &PathBuf) -> Result<WasmSandbox, Failure> {
    let started = Instant::now();
    let sandbox = builder.build_from_file(module).map_err(Failure::Build)?;
    if common.time {
        eprintln_quietly(&format!("created in {}", output::duration(started.elapsed())));
    }
    Ok(sandbox)
}

fn call(o: &CallOptions, guest_log_level: Option<GuestLogLevel>) -> Result<(), Failure> {
    let args = typed_arg::parse_all(&o.args).map_err(Failure::Argument)?;
    let mut sandbox = build(&o.common, builder(&o.common, guest_log_level), &o.module)?;
    let started = Instant::now();
    let result: Value = sandbox.call_values(&o.export, args, o.result.map(ValueType::from)).map_err(Failure::Call)?;
    if o.common.time {
        eprintln_quietly(&format!("call took {}", output::duration(started.elapsed())));
    }
    let mut stdout = std::io::stdout().lock();
    if let Some(line) = output::result_line(&result) {
        writeln!(stdout, "{line}").map_err(Failure::Output)?;
    }
    stdout.flush().map_err(Failure::Output)
}

fn run_command(o: &RunOptions, guest_log_level: Option<GuestLogLevel>) -> Result<u8, Failure> {
    let builder = builder(&o.common, guest_log_level).stdin(std::io::stdin());
    let mut sandbox = build(&o.common, builder, &o.module)?;
    let name =
        o.module.file_name().map_or_else(|| o.module.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut argv: Vec<&str> = vec![&name];
    argv.extend(o.args.iter().map(String::as_str));
    let started = Instant::now();
    let code = sandbox.run(&argv).map_err(Failure::Call)?;
    if o.common.time {
        eprintln_quietly(&format!("run took {}", output::duration(started.elapsed())));
    }
    // A process exit status is 8 bits, as a POSIX shell sees `exit(code)`.
    Ok(code.to_le_bytes()[0])
}

fn eprintln_quietly(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
