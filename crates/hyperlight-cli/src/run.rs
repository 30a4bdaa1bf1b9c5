//! `hyperlight run`: build a sandbox, call one function, print the result.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hyperlight_host::{BuildError, CallError, GuestLogLevel, SandboxBuilder, Value};

use crate::output;
use crate::size::parse_size;
use crate::typed_arg::{self, ArgError};

/// The options and operands of `hyperlight run`.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// The guest program: a static x86_64 ELF executable.
    #[arg(value_name = "GUEST")]
    guest: PathBuf,
    /// The guest function to call.
    #[arg(value_name = "FUNCTION")]
    function: String,
    /// The call's arguments, in order, each as TYPE:VALUE (see below).
    #[arg(value_name = "ARG")]
    args: Vec<String>,

    // The help of the four sizes is set in `main::command`, with their defaults.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    heap: Option<u64>,
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    stack: Option<u64>,
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    input_buffer: Option<u64>,
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    output_buffer: Option<u64>,

    /// Stop each call that runs longer than DURATION (e.g. 500ms, 2s, 1.5s, 100us;
    /// a plain number is seconds) and fail with a timeout error.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Print to stderr how long creating the sandbox and the call took.
    #[arg(long)]
    time: bool,
    /// Call the function N times in the same sandbox (the result of the last call is
    /// printed; with --time, the median call time).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Where the guest's print! output goes.
    #[arg(long, value_name = "WHERE", value_enum, default_value_t = GuestPrint::Stdout)]
    guest_print: GuestPrint,
    /// Serve gdb on 127.0.0.1:PORT: wait for `target remote :PORT`, stopped before
    /// the guest's first instruction (build with `--features gdb`).
    #[cfg(feature = "gdb")]
    #[arg(long, value_name = "PORT")]
    gdb: Option<u16>,
    /// Write an ELF core file into DIR if the guest faults (build with
    /// `--features crashdump`).
    #[cfg(feature = "crashdump")]
    #[arg(long, value_name = "DIR")]
    core_dir: Option<std::path::PathBuf>,
}

/// Where the guest's `print!` output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuestPrint {
    /// The host's stdout, interleaved with the result in order.
    Stdout,
    /// The host's stderr, so that stdout holds only the result.
    Stderr,
    /// Nowhere.
    Discard,
}

/// Why `hyperlight run` (or, with the Wasm errors, `hyperlight wasm`) failed.
#[derive(Debug)]
pub enum Failure<B = BuildError, C = CallError> {
    /// A typed argument is malformed (no VM was created).
    Argument(ArgError),
    /// The sandbox could not be created.
    Build(B),
    /// The call failed.
    Call(C),
    /// The result could not be written to stdout.
    Output(std::io::Error),
}

impl<B: std::error::Error, C: std::error::Error> std::fmt::Display for Failure<B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Argument(e) => e.fmt(f),
            Failure::Build(e) => std::fmt::Display::fmt(e, f),
            Failure::Call(e) => std::fmt::Display::fmt(e, f),
            Failure::Output(_) => f.write_str("cannot write the result to stdout"),
        }
    }
}

impl<B: std::error::Error, C: std::error::Error> std::error::Error for Failure<B, C> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The chain continues from the wrapped error's own source: its message is the
        // one already shown.
        match self {
            Failure::Argument(e) => e.source(),
            Failure::Build(e) => e.source(),
            Failure::Call(e) => e.source(),
            Failure::Output(e) => Some(e),
        }
    }
}

impl Failure {
    /// The process's exit status: 2 for a bad command line, 1 for everything else.
    pub fn exit_status(&self) -> u8 {
        match self {
            Failure::Argument(_) => 2,
            Failure::Build(_) | Failure::Call(_) | Failure::Output(_) => 1,
        }
    }
}

/// Runs `hyperlight run` as `options` say, with the guest log level `-v` asked for
/// (`None`: the library's default).
pub fn run(options: &RunOptions, guest_log_level: Option<GuestLogLevel>) -> Result<(), Failure> {
    let args = typed_arg::parse_all(&options.args).map_err(Failure::Argument)?;

    let started = Instant::now();
    let mut builder = builder(options);
    if let Some(level) = guest_log_level {
        builder = builder.guest_log_level(level);
    }
    let mut sandbox = builder.build_from_file(&options.guest).map_err(Failure::Build)?;
    if options.time {
        eprintln_quietly(&format!("created in {}", output::duration(started.elapsed())));
    }

    let mut times = Vec::new();
    let mut result = Value::Unit;
    for _ in 0..options.repeat {
        // The library takes the arguments by value; cloning them before the clock
        // starts keeps the copy out of the call time.
        let args = args.clone();
        let started = Instant::now();
        result = sandbox.call_values(&options.function, args).map_err(Failure::Call)?;
        times.push(started.elapsed());
    }
    if options.time {
        eprintln_quietly(&call_time(&mut times));
    }

    let mut stdout = std::io::stdout().lock();
    if let Some(line) = output::result_line(&result) {
        writeln!(stdout, "{line}").map_err(Failure::Output)?;
    }
    stdout.flush().map_err(Failure::Output)
}

fn builder(options: &RunOptions) -> SandboxBuilder {
    let mut builder = SandboxBuilder::new().host_function("GetWeekday", crate::weekday::today);
    if let Some(bytes) = options.heap {
        builder = builder.heap_size(bytes);
    }
    if let Some(timeout) = options.timeout {
        builder = builder.call_timeout(timeout);
    }
    if let Some(bytes) = options.stack {
        builder = builder.stack_size(bytes);
    }
    if let Some(bytes) = options.input_buffer {
        builder = builder.input_buffer_size(bytes);
    }
    if let Some(bytes) = options.output_buffer {
        builder = builder.output_buffer_size(bytes);
    }
    #[cfg(feature = "gdb")]
    if let Some(port) = options.gdb {
        eprintln!("hyperlight: waiting for gdb: gdb {} -ex 'target remote :{port}'", options.guest.display());
        builder = builder.debug_port(port);
    }
    #[cfg(feature = "crashdump")]
    if let Some(dir) = &options.core_dir {
        builder = builder.crash_dump_dir(dir);
    }
    match options.guest_print {
        // The library's default print already writes to stdout.
        GuestPrint::Stdout => builder,
        GuestPrint::Stderr => builder.host_print(|s| {
            // The guest cannot act on a failed write to our stderr.
            let _ = std::io::stderr().write_all(s.as_bytes());
        }),
        GuestPrint::Discard => builder.host_print(|_| {}),
    }
}

/// A duration: a number with the unit `us`, `ms` or `s`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("not a duration: {text:?} (try 500ms or 2s)"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("the duration must be positive: {text:?}"));
    }
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{text:?}: {e}"))
}

fn call_time(times: &mut [Duration]) -> String {
    let n = times.len();
    let median = output::median(times);
    // `median` sorted the samples.
    match (times.first(), times.last()) {
        (Some(min), Some(max)) if n > 1 => format!(
            "call took {} (median of {n} calls; min {}, max {})",
            output::duration(median),
            output::duration(*min),
            output::duration(*max)
        ),
        _ => format!("call took {}", output::duration(median)),
    }
}

/// Writes a line to stderr; a failure to do so is not worth failing the run for.
fn eprintln_quietly(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
