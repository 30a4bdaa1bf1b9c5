//! `Config`: the worker's TOML file, parsed and checked before any VM is made.
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:8080"
//!
//! [[function]]
//! name = "echo"                  # the URL name: POST /v1/functions/echo/invoke
//! kind = "native"                # or "wasm"
//! path = "guests/simpleguest"    # relative to this file's directory
//! entry = "EchoString"           # the guest function (or Wasm export) to call
//! pool = 2
//! deadline_ms = 500
//! ```

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyperlight_host::ValueType;
use serde::Deserialize;

use crate::value_json;

/// Why a configuration file is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or not of this shape.
    #[error("invalid configuration")]
    Toml(#[source] toml::de::Error),
    /// Two functions have the same name.
    #[error("two functions are named {0:?}")]
    DuplicateName(String),
    /// A function name cannot be a URL path segment.
    #[error("function name {0:?}: use letters, digits, '-', '_' and '.' only")]
    BadName(String),
    /// An option that only applies to the other kind of guest.
    #[error("function {function:?}: {option} applies only to {applies_to} functions")]
    WrongKind {
        /// The function.
        function: String,
        /// The option.
        option: &'static str,
        /// The kind it is for.
        applies_to: &'static str,
    },
    /// A type name in `params` or `returns` is not one of the CLI's.
    #[error("function {function:?}: unknown type {name:?} (one of {})", value_json::TYPE_NAMES)]
    UnknownType {
        /// The function.
        function: String,
        /// The name given.
        name: String,
    },
    /// A size or count that must be positive is zero.
    #[error("function {function:?}: {option} must be at least 1")]
    Zero {
        /// The function (or `server`).
        function: String,
        /// The option.
        option: &'static str,
    },
}

/// The whole file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The HTTP server's settings.
    pub server: ServerConfig,
    /// The functions served, in file order.
    pub functions: Vec<FunctionConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (port 0: any free port; the worker prints the one it got).
    pub listen: SocketAddr,
    /// Largest request body accepted; larger is answered 413.
    pub max_body_bytes: usize,
    /// Requests that may wait for a sandbox of one function when all of its pool is
    /// busy; beyond, 429 with `Retry-After`.
    pub queue_depth: usize,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
    /// After SIGTERM, how long in-flight requests may take to finish.
    pub drain_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_body_bytes: 1 << 20,
            queue_depth: 16,
            retry_after_secs: 1,
            drain_grace_secs: 25,
        }
    }
}

/// What runs a function: a native guest ELF or a Wasm module in the Wasm runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A static x86_64 ELF built against `hyperlight-guest` (or the C API).
    Native,
    /// A `.wasm` or `.wat` module.
    Wasm,
}

impl Kind {
    /// `native` or `wasm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Wasm => "wasm",
        }
    }
}

/// One `[[function]]`.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// The name in URLs.
    pub name: String,
    /// Native or Wasm.
    pub kind: Kind,
    /// The guest ELF or the module, resolved against the config file's directory.
    pub path: PathBuf,
    /// The guest function (native) or export (Wasm) an invoke calls.
    pub entry: String,
    /// Sandboxes kept warm; also the most requests that run at once.
    pub pool: usize,
    /// A request's guest call is killed past this and answered 504.
    pub deadline: Duration,
    /// Guest heap (native) or the Wasm runtime's heap, in bytes.
    pub heap_size: Option<u64>,
    /// Guest stack, in bytes.
    pub stack_size: Option<u64>,
    /// Input buffer (the largest call message), in bytes.
    pub input_buffer_size: Option<u64>,
    /// Output buffer (the largest result message), in bytes (native only).
    pub output_buffer_size: Option<u64>,
    /// The most linear memory a Wasm module may grow to, in bytes.
    pub max_memory: Option<u64>,
    /// Wasm fuel per call (about one unit per instruction).
    pub fuel: Option<u64>,
    /// A snapshot file to start from instead of booting the ELF (native only), named
    /// by its digest (see `hyperlight-worker snapshot`).
    pub snapshot: Option<PathBuf>,
    /// The parameter types, when the guest cannot say them (a Wasm export's strings
    /// travel as two i32s); for a native guest, checked against its own table.
    pub params: Option<Vec<ValueType>>,
    /// The result type, as for `params`.
    pub returns: Option<ValueType>,
}

/// `[[function]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: String,
    kind: Kind,
    path: PathBuf,
    entry: String,
    #[serde(default = "one")]
    pool: usize,
    #[serde(default = "default_deadline_ms")]
    deadline_ms: u64,
    heap_size: Option<u64>,
    stack_size: Option<u64>,
    input_buffer_size: Option<u64>,
    output_buffer_size: Option<u64>,
    max_memory: Option<u64>,
    fuel: Option<u64>,
    snapshot: Option<PathBuf>,
    params: Option<Vec<String>>,
    returns: Option<String>,
}

fn one() -> usize {
    1
}

fn default_deadline_ms() -> u64 {
    1000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default, rename = "function")]
    functions: Vec<RawFunction>,
}

impl Config {
    /// Reads and checks the file at `path`; relative guest and snapshot paths are
    /// taken from the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base)
    }

    /// Parses and checks `text`, resolving relative paths against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(ConfigError::Toml)?;
        let mut seen = HashSet::new();
        let functions = raw
            .functions
            .into_iter()
            .map(|f| {
                if !seen.insert(f.name.clone()) {
                    return Err(ConfigError::DuplicateName(f.name));
                }
                function(f, base)
            })
            .collect::<Result<_, _>>()?;
        Ok(Config { server: raw.server, functions })
    }
}

fn function(f: RawFunction, base: &Path) -> Result<FunctionConfig, ConfigError> {
    let name = f.name;
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || !name.chars().all(valid) {
        return Err(ConfigError::BadName(name));
    }
    let only = |set: bool, option, kind: Kind| {
        if set && f.kind != kind {
            Err(ConfigError::WrongKind { function: name.clone(), option, applies_to: kind.as_str() })
        } else {
            Ok(())
        }
    };
    only(f.max_memory.is_some(), "max_memory", Kind::Wasm)?;
    only(f.fuel.is_some(), "fuel", Kind::Wasm)?;
    only(f.output_buffer_size.is_some(), "output_buffer_size", Kind::Native)?;
    // A Wasm sandbox's module metadata lives in the host process, not in the VM's
    // snapshot file, so only native functions start from one.
    only(f.snapshot.is_some(), "snapshot", Kind::Native)?;
    if f.pool == 0 {
        return Err(ConfigError::Zero { function: name, option: "pool" });
    }
    if f.deadline_ms == 0 {
        return Err(ConfigError::Zero { function: name, option: "deadline_ms" });
    }
    let ty = |text: &str| {
        value_json::type_by_name(text)
            .ok_or_else(|| ConfigError::UnknownType { function: name.clone(), name: text.into() })
    };
    let params = f.params.as_ref().map(|p| p.iter().map(|t| ty(t)).collect::<Result<Vec<_>, _>>()).transpose()?;
    let returns = f.returns.as_deref().map(ty).transpose()?;
    Ok(FunctionConfig {
        kind: f.kind,
        path: base.join(f.path),
        entry: f.entry,
        pool: f.pool,
        deadline: Duration::from_millis(f.deadline_ms),
        heap_size: f.heap_size,
        stack_size: f.stack_size,
        input_buffer_size: f.input_buffer_size,
        output_buffer_size: f.output_buffer_size,
        max_memory: f.max_memory,
        fuel: f.fuel,
        snapshot: f.snapshot.map(|s| base.join(s)),
        params,
        returns,
        name,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = "/etc/hyperlight";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new(BASE))
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(
            r#"
            [server]
            listen = "127.0.0.1:0"
            max_body_bytes = 4096
            queue_depth = 2
            [[function]]
            name = "echo"
            kind = "native"
            path = "simpleguest"
            entry = "EchoString"
            pool = 2
            deadline_ms = 250
            snapshot = "snap/sha256-00.hlsnap"
            [[function]]
            name = "add"
            kind = "wasm"
            path = "/m/values.wat"
            entry = "add_i64"
            fuel = 1000
            params = ["str", "bytes"]
            returns = "u64"
            "#,
        )
        .unwrap();
        assert_eq!(c.server.max_body_bytes, 4096);
        assert_eq!(c.server.drain_grace_secs, 25);
        let [echo, add] = &c.functions[..] else { panic!("two functions") };
        assert_eq!(echo.path, Path::new(BASE).join("simpleguest"));
        assert_eq!(echo.snapshot.as_deref(), Some(Path::new("/etc/hyperlight/snap/sha256-00.hlsnap")));
        assert_eq!(echo.deadline, Duration::from_millis(250));
        assert_eq!(add.path, Path::new("/m/values.wat"));
        assert_eq!(add.params.as_deref(), Some(&[ValueType::String, ValueType::Bytes][..]));
        assert_eq!(add.returns, Some(ValueType::U64));
        assert_eq!((add.pool, add.fuel), (1, Some(1000)));
    }

    fn one_function(extra: &str, kind: &str) -> Result<Config, ConfigError> {
        parse(&format!("[[function]]\nname = \"f\"\nkind = \"{kind}\"\npath = \"g\"\nentry = \"E\"\n{extra}"))
    }

    #[test]
    fn mistakes_are_refused_by_name() {
        assert!(matches!(one_function("fuel = 5", "native"), Err(ConfigError::WrongKind { option: "fuel", .. })));
        let r = one_function("snapshot = \"s\"", "wasm");
        assert!(matches!(r, Err(ConfigError::WrongKind { option: "snapshot", .. })), "{r:?}");
        assert!(matches!(one_function("pool = 0", "native"), Err(ConfigError::Zero { option: "pool", .. })));
        let r = one_function("params = [\"int\"]", "wasm");
        assert!(matches!(r, Err(ConfigError::UnknownType { name, .. }) if name == "int"));
        assert!(matches!(one_function("colour = 1", "native"), Err(ConfigError::Toml(_))));
        assert!(matches!(one_function("", "elf"), Err(ConfigError::Toml(_))));
        let twice = "[[function]]\nname = \"f\"\nkind = \"native\"\npath = \"g\"\nentry = \"E\"\n";
        assert!(matches!(parse(&format!("{twice}{twice}")), Err(ConfigError::DuplicateName(n)) if n == "f"));
        let slash = "[[function]]\nname = \"a/b\"\nkind = \"native\"\npath = \"g\"\nentry = \"E\"\n";
        assert!(matches!(parse(slash), Err(ConfigError::BadName(_))));
    }
}
