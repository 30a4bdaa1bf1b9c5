//! The shipped configurations parse: the example next to the crate and the one in
//! the Kubernetes ConfigMap.

use std::path::Path;

use hyperlight_worker::{Config, Kind};

#[test]
fn the_example_configuration_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("worker.example.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    assert!(config.functions.iter().any(|f| f.kind == Kind::Native));
    assert!(config.functions.iter().any(|f| f.kind == Kind::Wasm));
}
