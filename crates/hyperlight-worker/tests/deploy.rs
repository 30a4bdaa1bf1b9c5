//! The Kubernetes manifests and the Dockerfile under deploy/, checked for structure
//! and for agreement with the worker: probe paths, ports, the ConfigMap's TOML (it
//! must parse, and equal deploy/worker.toml), the drain timing, the KVM device. No
//! schema validator installs from our registries, so this parses them instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hyperlight_worker::Config;
use serde_yaml::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(name: &str) -> String {
    let path = deploy_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every manifest, by kind.
fn manifests() -> BTreeMap<String, Value> {
    let mut by_kind = BTreeMap::new();
    for name in ["configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml"] {
        let doc: Value = serde_yaml::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for field in ["apiVersion", "kind"] {
            assert!(doc[field].is_string(), "{name}: no {field}");
        }
        assert_eq!(doc["metadata"]["name"], "hyperlight-worker", "{name}");
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        assert!(by_kind.insert(kind, doc).is_none(), "{name}: a second manifest of its kind");
    }
    by_kind
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

#[test]
fn the_manifests_agree_with_the_worker_and_each_other() {
    let m = manifests();
    let (deployment, service, hpa, configmap) =
        (&m["Deployment"], &m["Service"], &m["HorizontalPodAutoscaler"], &m["ConfigMap"]);
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");

    // The ConfigMap's TOML is the image's, and the worker accepts it.
    let toml = str_of(&configmap["data"]["worker.toml"], "the ConfigMap's worker.toml");
    assert_eq!(toml, read("worker.toml"), "deploy/configmap.yaml and deploy/worker.toml differ");
    let config = Config::parse(toml, Path::new("/etc/hyperlight")).expect("the ConfigMap's configuration parses");

    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);

    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let port = &c["ports"][0];
    assert_eq!(port["name"], "http");
    assert_eq!(port["containerPort"].as_u64(), Some(u64::from(config.server.listen.port())));
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");

    // Probes on the worker's endpoints.
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["startupProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{probe}");
    }

    // Requests, the KVM device, non-root.
    let requests = &c["resources"]["requests"];
    assert!(requests["cpu"].is_string() && requests["memory"].is_string(), "cpu and memory requests");
    assert_eq!(requests["devices.kubevirt.io/kvm"], "1");
    assert_eq!(c["resources"]["limits"]["devices.kubevirt.io/kvm"], "1");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);

    // The configuration is mounted where the container's argument says.
    let arg = str_of(&c["args"][0], "the container's argument");
    let mount = &c["volumeMounts"][0];
    let mount_path = str_of(&mount["mountPath"], "the config mount");
    assert_eq!(Path::new(arg), Path::new(mount_path).join("worker.toml"));
    let volume = pod["volumes"].as_sequence().unwrap().iter().find(|v| v["name"] == mount["name"]).expect("the volume");
    assert_eq!(volume["configMap"]["name"], "hyperlight-worker");

    // Kubernetes waits for the preStop pause and the whole drain before it kills.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    let pause = c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().expect("a preStop sleep");
    assert!(grace > config.server.drain_grace_secs + pause, "{grace} <= {} + {pause}", config.server.drain_grace_secs);

    // The autoscaler scales this Deployment on CPU.
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"]);
    assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
    let (min, max) = (hpa["spec"]["minReplicas"].as_u64(), hpa["spec"]["maxReplicas"].as_u64());
    assert!(min.is_some() && min <= max);

    // kustomize applies every manifest.
    let k: Value = serde_yaml::from_str(&read("kustomization.yaml")).unwrap();
    let resources: Vec<&str> = k["resources"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(resources, ["configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml"]);
    let patch: Value = serde_yaml::from_str(&read("hostpath-kvm.patch.yaml")).unwrap();
    assert_eq!(patch["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"], "/dev/kvm");
}

#[test]
fn the_image_is_multi_stage_and_runs_as_non_root() {
    let dockerfile = read("Dockerfile");
    let stages = dockerfile.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "a build stage and a runtime stage");
    let user = dockerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("a USER line");
    assert!(!user.starts_with('0') && !user.starts_with("root"), "USER {user}");
    assert!(dockerfile.contains("COPY deploy/worker.toml /etc/hyperlight/worker.toml"));
}
