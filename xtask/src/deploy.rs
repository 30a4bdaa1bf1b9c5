//! The Kubernetes manifests under deploy/, validated against the Kubernetes API's
//! schemas with `kubernetes-validate` (from PyPI: it ships the schemas, so it works
//! offline), in a virtualenv under target/. The worker's own test
//! (crates/hyperlight-worker/tests/deploy.rs) checks what a schema cannot: that
//! the manifests agree with the worker and with each other.

use std::path::Path;

use crate::cmd::{Cmd, Failed};

/// The validator's version, pinned so that CI and developers agree.
const VALIDATOR: &str = "kubernetes-validate==1.37.0";
/// The oldest Kubernetes the manifests are for (the preStop `sleep` action is 1.30's).
const MIN_KUBERNETES: &str = "1.30.0";
/// The manifests (the hostPath patch is a fragment, not a resource).
const MANIFESTS: [&str; 4] = ["configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml"];

/// Validates the manifests; without python3 this fails under CI and is skipped
/// (with a word) elsewhere.
pub fn validate(root: &Path, ci: bool) -> Result<(), Failed> {
    if Cmd::new("python3", ["--version"]).output().is_none() {
        if ci {
            return Err(Failed {
                step: "validate deploy/".into(),
                detail: "python3 is needed for kubernetes-validate, and CI=true requires it".into(),
            });
        }
        eprintln!("xtask: python3 is not installed; skipping the schema check of deploy/");
        return Ok(());
    }
    let venv = root.join("target").join("deploy-venv");
    let bin = venv.join("bin");
    let validator = bin.join("kubernetes-validate");
    let pip = bin.join("pip").display().to_string();
    let installed = validator.is_file() && Cmd::new(&pip, ["show", "-q", "kubernetes-validate"]).output().is_some();
    if !installed {
        Cmd::new("python3", ["-m".to_string(), "venv".to_string(), venv.display().to_string()]).run()?;
        Cmd::new(&pip, ["install", "--quiet", VALIDATOR]).run()?;
    }
    let deploy = root.join("deploy");
    let mut args: Vec<String> = ["--strict", "--quiet", "-k", MIN_KUBERNETES].map(String::from).to_vec();
    args.extend(MANIFESTS.iter().map(|m| deploy.join(m).display().to_string()));
    Cmd::new(&validator.display().to_string(), args).run()
}
