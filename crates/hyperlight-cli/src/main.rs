//! `hyperlight`: run a function of a guest program in a KVM micro-VM from the shell.
//!
//! A thin layer over `hyperlight-host`: it parses the command line, turns typed
//! arguments into `Value`s, and prints what the library returns. See `--help`.

mod output;
mod run;
mod size;
mod typed_arg;
mod verbose;
mod wasm;
mod weekday;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use hyperlight_host::SandboxConfig;

use crate::run::RunOptions;

/// Run a function of a guest program (a static x86_64 ELF, no OS) in a KVM micro-VM.
#[derive(Debug, Parser)]
#[command(name = "hyperlight", version, after_help = TOP_EXAMPLES)]
struct Cli {
    /// Print the library's spans and the guest's log records on stderr: -v info,
    /// -vv debug, -vvv trace (RUST_LOG, if set, chooses instead; see
    /// docs/observability.md).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

const TOP_EXAMPLES: &str = "\
Examples:
  hyperlight run simpleguest Add i32:2 i32:3
  hyperlight run hello SayHello str:World
  hyperlight run --time --repeat 100 simpleguest EchoBytes bytes:@input.bin

Call arguments are typed, as TYPE:VALUE with TYPE one of
i32 u32 i64 u64 f32 f64 bool str bytes; `--time` reports how long the sandbox
took to create and the call to run. See `hyperlight run --help` for everything.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a sandbox from a guest ELF file and call one of its functions.
    ///
    /// Creates a sandbox (one KVM micro-VM) from the static x86_64 ELF file GUEST,
    /// calls its function FUNCTION with the typed ARGs, and prints the result on
    /// stdout.
    #[command(after_help = RUN_DETAILS)]
    Run(RunOptions),
    /// Run a WebAssembly module (.wasm or .wat) in a sandbox: call an export, or run
    /// a WASI command.
    #[command(subcommand, after_help = WASM_EXAMPLES)]
    Wasm(wasm::WasmCommand),
}

const WASM_EXAMPLES: &str = "\
Examples:
  hyperlight wasm call add.wat add i32:2 i32:3                 prints 5
  hyperlight wasm call --result str m.wasm greet str:World      a string result
  hyperlight wasm call --fuel 1000000 --time m.wasm work i64:9
  echo hi | hyperlight wasm run prog.wasm -- --verbose input   a WASI command

Both take --fuel N, --timeout DURATION, --time, --heap SIZE and --max-memory SIZE.
`wasm run` exits with the module's exit code, 125 if it could not be run, 2 for a
bad command line; `wasm call` exits 0, 1 on failure, 2 for a bad command line.";

const RUN_DETAILS: &str = "\
Typed arguments (ARG):
  i32:-5  u32:7  i64:-3  u64:7  integers, in decimal
  f32:1.5  f64:1e-3              floats (also inf, -inf, NaN)
  bool:true  bool:false
  str:TEXT                       everything after the first colon, colons included
                                 (quote spaces for the shell: 'str:a b:c')
  bytes:@PATH                    the contents of the file PATH
  bytes:hex:0a0b                 bytes written in hex
  A malformed argument (unknown type, bad number, unreadable file) is named in
  the error, and the command exits with status 2 before any VM is created.

Sizes (SIZE): bytes, or a number with K, M or G (also KiB, MiB, GiB), powers of
1024: 65536, 64K, 64KiB, 2M, 1GiB.

Output:
  The guest's print! output goes to stdout (or where --guest-print says), as it
  is printed, so before the result.
  The result is one line on stdout: a string as it is, bytes as lowercase hex
  (the form bytes:hex: reads), integers and bools in decimal and true/false,
  floats in the shortest form that reads back (1.5, 1.0, 1e300, NaN). A
  function returning () prints nothing.
  With --time, stderr gets `created in 1.234 ms` (reading the file, building the
  VM and running the guest's initialisation) and `call took 28.1 us` (with
  --repeat N: the median of the N calls, and their min and max).

Host functions the guest may call:
  GetWeekday() -> String  today's weekday in UTC, from the system clock (\"Monday\")
  HostPrint(String)       the guest's print! output

Exit status:
  0  the call returned
  1  the sandbox could not be created, or the call failed: unknown function,
     wrong argument count or type, guest panic or fault, ... The message is on
     stderr as `error: ...`, followed by its causes.
  2  a bad command line, including a malformed typed argument

Examples:
  hyperlight run simpleguest Add i32:2 i32:3           prints 5
  hyperlight run simpleguest EchoString 'str:a b:c'    prints a b:c
  hyperlight run simpleguest EchoBytes bytes:hex:0a0b  prints 0a0b
  hyperlight run hello SayHello str:World              prints Hello, World! Today is ...
  hyperlight run --heap 4M --output-buffer 2M simpleguest BufferOfSize u64:1000000
  hyperlight run --time --repeat 1000 simpleguest EchoI32 i32:1
  hyperlight run --timeout 500ms simpleguest Spin      fails after 500 ms";

fn main() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        // `--help` and `--version` land here too; clap picks stdout and status 0 for
        // them, stderr and status 2 for errors.
        Err(e) => e.exit(),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let guest_log_level = verbose::install(cli.verbose);
    match cli.command {
        Command::Run(options) => match run::run(&options, guest_log_level) {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                report(&failure);
                ExitCode::from(failure.exit_status())
            }
        },
        Command::Wasm(command) => match wasm::run(&command, guest_log_level) {
            Ok(status) => ExitCode::from(status),
            Err(failure) => {
                report(&failure);
                ExitCode::from(wasm::exit_status(&failure, &command))
            }
        },
    }
}

/// The command, with the library's default sizes written into the help of the size
/// options (so they cannot drift from the library).
fn command() -> clap::Command {
    let defaults = SandboxConfig::default();
    let sizes = [
        ("heap", "Guest heap size", defaults.heap_size),
        ("stack", "Guest stack size", defaults.stack_size),
        ("input_buffer", "Input buffer size: the largest encoded argument list", defaults.input_buffer_size),
        ("output_buffer", "Output buffer size: the largest encoded result", defaults.output_buffer_size),
    ];
    Cli::command().mut_subcommand("run", |mut run| {
        for (id, what, default) in sizes {
            run = run.mut_arg(id, |arg| arg.help(format!("{what} [default: {}]", output::size(default))));
        }
        run
    })
}

/// Prints `error: <message>` and then each cause in the error's chain (every
/// error of the library returns its cause from `source()` rather than repeating it).
fn report(failure: &dyn std::error::Error) {
    let mut stderr = std::io::stderr().lock();
    // Nothing useful is left to do if stderr itself cannot be written.
    let _ = writeln!(stderr, "error: {failure}");
    let mut cause = failure.source();
    while let Some(e) = cause {
        let _ = writeln!(stderr, "  caused by: {e}");
        cause = e.source();
    }
}
