//! `deploy/kubernetes/`: every overlay renders with `kubectl kustomize`, validates against the
//! Kubernetes API schemas (`kubernetes-validate --strict`, offline), and says what tinycdn
//! understands: each tinycdn container's flags exist, the agent's configuration parses, the
//! edges find each other through their headless Service, the trust key loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// kubectl and kubernetes-validate, installed once by `scripts/fetch-kube-tools.sh`.
fn tools() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts/fetch-kube-tools.sh"))
        .output()
        .expect("runs scripts/fetch-kube-tools.sh");
    assert!(
        out.status.success(),
        "scripts/fetch-kube-tools.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Renders an overlay and validates it; returns the objects.
fn render(tools: &Path, dir: &str) -> Vec<Value> {
    let out = Command::new(tools.join("kubectl"))
        .arg("kustomize")
        .arg(repo().join("deploy/kubernetes").join(dir))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, &out.stdout).expect("write");
    validate(tools, &file).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let json = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml, json; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
        ])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(json.status.success(), "yaml to json");
    serde_json::from_slice(&json.stdout).expect("objects")
}

fn validate(tools: &Path, file: &Path) -> Result<(), String> {
    let out = Command::new(tools.join("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(file)
        .output()
        .expect("kubernetes-validate runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The workload objects' containers.
fn containers(objects: &[Value]) -> Vec<(&str, &Value)> {
    objects
        .iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some("Deployment" | "StatefulSet" | "DaemonSet")
            )
        })
        .flat_map(|o| {
            let name = o["metadata"]["name"].as_str().unwrap_or("?");
            o["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |c| (name, c))
        })
        .collect()
}

fn args(c: &Value) -> Vec<String> {
    c["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[test]
fn the_kubernetes_overlays_render_validate_and_name_what_tinycdn_understands() {
    let tools = tools();
    // The validator can fail: a misspelt field is refused.
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}, ports: [{port: 80}]}\n",
    )
    .expect("write");
    assert!(
        validate(&tools, &bad).is_err(),
        "strict validation refuses unknown fields"
    );

    for dir in ["base", "overlays/small", "overlays/production"] {
        let objects = render(&tools, dir);
        let namespace = "media";
        for (workload, c) in containers(&objects) {
            let what = format!("{dir}: {workload}/{}", c["name"]);
            assert!(
                c["resources"]["limits"]["memory"].is_string(),
                "{what} has a memory limit"
            );
            assert!(
                c["resources"]["requests"].is_object(),
                "{what} has requests"
            );
            // Only the CSI plugin mounts, so only it is privileged (in its own namespace).
            let privileged = workload == "agent" && c["name"] == "agent";
            assert_eq!(
                c["securityContext"]["allowPrivilegeEscalation"], privileged,
                "{what}"
            );
            assert_eq!(
                c["securityContext"]["privileged"]
                    .as_bool()
                    .unwrap_or(false),
                privileged,
                "{what}"
            );
            assert!(
                c["readinessProbe"].is_object(),
                "{what} has a readiness probe"
            );
            assert!(
                c["livenessProbe"].is_object(),
                "{what} has a liveness probe"
            );
            let image = c["image"].as_str().unwrap_or_default();
            if !image.contains("tinycdn") {
                continue;
            }
            // Every flag is one the command has.
            let a = args(c);
            let sub = a.first().expect("a subcommand");
            let help = ok(&[sub.as_str(), "--help"], Path::new("."));
            for f in a.iter().filter(|x| x.starts_with("--")) {
                assert!(
                    help.contains(f.as_str()),
                    "{what}: tinycdn {sub} has no {f}"
                );
            }
            // The probes ask the paths the command serves: readiness turns 503 while the
            // process drains, liveness does not.
            let probe = |kind: &str| {
                c[kind]["httpGet"]["path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            let own = match (sub.as_str(), flag(&a, "--origin")) {
                ("edge", Some(_)) => "/.tinycdn",
                _ => "",
            };
            assert_eq!(probe("readinessProbe"), format!("{own}/readyz"), "{what}");
            if c.get("livenessProbe")
                .is_some_and(|l| l.get("httpGet").is_some())
            {
                assert_eq!(probe("livenessProbe"), format!("{own}/healthz"), "{what}");
            }
        }

        // The edges find each other by their headless Service, on their own port.
        let edges = named(&objects, "StatefulSet", "edges");
        let edge = &edges["spec"]["template"]["spec"]["containers"][0];
        let a = args(edge);
        let dns = flag(&a, "--peers-dns").expect("--peers-dns");
        let headless = named(&objects, "Service", "edges");
        assert_eq!(headless["spec"]["clusterIP"], "None", "a headless Service");
        let port = headless["spec"]["ports"][0]["port"].as_u64().expect("port");
        assert_eq!(dns, format!("edges.{namespace}.svc.cluster.local:{port}"));
        assert_eq!(edges["spec"]["serviceName"], "edges");
        assert_eq!(
            flag(&a, "--advertise"),
            Some(format!("http://$(POD_IP):{port}").as_str())
        );
        // The edges' configuration file parses, listens on the Services' port, and is where
        // the StatefulSet mounts it.
        let edge_cm = objects
            .iter()
            .find(|o| {
                o["kind"] == "ConfigMap"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("tinycdn-edge"))
            })
            .expect("the edges' ConfigMap");
        let text = edge_cm["data"]["edge.toml"].as_str().expect("edge.toml");
        let edge_config =
            tinycdn_edge::config::EdgeConfig::parse(text, Path::new("/etc/tinycdn/edge/edge.toml"))
                .unwrap_or_else(|e| panic!("{dir}: edge.toml: {e}"));
        assert_eq!(edge_config.listen, format!("0.0.0.0:{port}"));
        assert_eq!(flag(&a, "--config"), Some("/etc/tinycdn/edge/edge.toml"));
        let mounted = edges["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["configMap"]["name"] == edge_cm["metadata"]["name"]);
        assert!(
            mounted,
            "{dir}: the StatefulSet mounts the edges' ConfigMap"
        );
        let grace = edges["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("a grace period");
        assert!(
            grace > edge_config.limits.drain_delay + edge_config.limits.drain_timeout,
            "{dir}: the pod's grace period covers the drain"
        );

        // The agent's configuration parses, and its paths are the DaemonSet's mounts.
        let agent_cm = objects
            .iter()
            .find(|o| {
                o["kind"] == "ConfigMap"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("tinycdn-agent"))
            })
            .expect("the agent's ConfigMap");
        let text = agent_cm["data"]["agent.toml"].as_str().expect("agent.toml");
        let config = tinycdn_agent::Config::parse(text, Path::new("/etc/tinycdn/agent"))
            .unwrap_or_else(|e| panic!("{dir}: agent.toml: {e}"));
        assert!(config.store.starts_with("/var/lib/tinycdn/"));
        csi_driver(dir, &objects, &config);
        restricted_apps(dir, &objects);

        // The trust key in the ConfigMap is a key tinycdn loads.
        let trust_cm = objects
            .iter()
            .find(|o| {
                o["kind"] == "ConfigMap"
                    && o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("tinycdn-trust"))
            })
            .expect("the trust ConfigMap");
        let key = tmp.path().join("publisher.pub");
        std::fs::write(
            &key,
            trust_cm["data"]["publisher.pub"].as_str().expect("key"),
        )
        .expect("write");
        tinycdn_volume::trust::Trust::load(&[&key]).expect("the key loads");

        if dir == "overlays/small" {
            assert_eq!(edges["spec"]["replicas"], 1);
            assert_eq!(edge_config.cache.size.to_string(), "2GiB");
            assert_eq!(edge_config.cache.memory.to_string(), "256MiB");
        }
        if dir == "overlays/production" {
            assert_eq!(edges["spec"]["replicas"], 6);
            assert_eq!(edge_config.cache.size.to_string(), "200GiB");
        }
    }
}

/// The CSI driver: its `CSIDriver` object as the issue names it, the DaemonSet's plugin socket
/// shared with the registrar, the kubelet's pods folder mounted Bidirectional where `[csi]`
/// expects it, and the app's inline volume accepted by the plugin's own request checks.
fn csi_driver(dir: &str, objects: &[Value], config: &tinycdn_agent::Config) {
    let driver = named(objects, "CSIDriver", tinycdn_csi::DRIVER);
    let spec = &driver["spec"];
    assert_eq!(spec["attachRequired"], false, "{dir}");
    assert_eq!(spec["podInfoOnMount"], true, "{dir}");
    assert_eq!(
        spec["volumeLifecycleModes"],
        serde_json::json!(["Ephemeral"])
    );
    assert_eq!(spec["requiresRepublish"], true, "{dir}");
    assert_eq!(spec["fsGroupPolicy"], "None", "{dir}");
    assert!(
        driver["metadata"].get("namespace").is_none(),
        "cluster-scoped"
    );

    assert!(config.csi_configured, "{dir}: agent.toml has [csi]");
    assert!(
        config.csi.dir.starts_with("/var/lib/tinycdn/"),
        "beside the store"
    );
    let agent = named(objects, "DaemonSet", "agent");
    assert_eq!(agent["metadata"]["namespace"], "tinycdn-system");
    let pod = &agent["spec"]["template"]["spec"];
    let container = |name: &str| {
        pod["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{dir}: no {name} container"))
    };
    let host_path = |volume: &str| {
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == volume)
            .and_then(|v| v["hostPath"]["path"].as_str())
            .unwrap_or_else(|| panic!("{dir}: no hostPath volume {volume}"))
            .to_owned()
    };
    let mount = |c: &Value, path: &str| {
        c["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["mountPath"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{dir}: nothing mounted at {path}"))
    };
    let plugin = container("agent");
    let endpoint = flag(&args(plugin), "--csi-endpoint")
        .expect("--csi-endpoint")
        .to_owned();
    let socket = tinycdn_csi::endpoint::parse(&endpoint).expect("a unix:// endpoint");
    let socket_dir = socket.parent().expect("folder").to_str().expect("utf-8");
    let plugin_dir = host_path(mount(plugin, socket_dir)["name"].as_str().expect("name"));
    let registrar = container("registrar");
    let r = args(registrar);
    assert!(
        r.contains(&format!("--csi-address={}", socket.display())),
        "{r:?}"
    );
    assert!(
        r.contains(&format!(
            "--kubelet-registration-path={plugin_dir}/{}",
            socket.file_name().expect("name").to_string_lossy()
        )),
        "{dir}: the registrar tells the kubelet the socket's path on the host: {r:?}"
    );
    assert_eq!(
        plugin_dir,
        format!("/var/lib/kubelet/plugins/{}", tinycdn_csi::DRIVER)
    );
    let pods = config.csi.kubelet_dir.join("pods");
    let pods = pods.to_str().expect("utf-8");
    let m = mount(plugin, pods);
    assert_eq!(m["mountPropagation"], "Bidirectional", "{dir}");
    assert_eq!(host_path(m["name"].as_str().expect("name")), pods);
    let liveness_port = &plugin["livenessProbe"]["httpGet"]["port"];
    let probe = container("livenessprobe");
    let health = args(probe)
        .iter()
        .find_map(|a| a.strip_prefix("--health-port=").map(str::to_owned))
        .expect("--health-port");
    let named_port = plugin["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| &p["name"] == liveness_port)
        .map(|p| p["containerPort"].to_string());
    assert_eq!(
        named_port.as_deref(),
        Some(health.as_str()),
        "{dir}: liveness through the sidecar"
    );

    // The app mounts site-media@stable through the driver, read-only.
    let app = named(objects, "Deployment", "app");
    let volume = app["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["csi"].is_object())
        .expect("a csi volume");
    assert_eq!(volume["csi"]["driver"], tinycdn_csi::DRIVER);
    assert_eq!(volume["csi"]["readOnly"], true);
    let attrs = &volume["csi"]["volumeAttributes"];
    let key = format!(
        "{}@{}",
        attrs["volume"].as_str().expect("volume"),
        attrs["ref"].as_str().expect("ref")
    );
    let source =
        tinycdn_csi::request::Source::parse_key(&key).expect("attributes the plugin takes");
    assert_eq!(source.key(), "site-media@stable");
}

/// Every pod in a namespace that enforces Pod Security *restricted* meets its rules: no host
/// paths, not root, the runtime's seccomp profile, every capability dropped, no escalation.
fn restricted_apps(dir: &str, objects: &[Value]) {
    let restricted: Vec<&str> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Namespace"
                && o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        })
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    assert_eq!(restricted, ["media"], "{dir}");
    for o in objects.iter().filter(|o| {
        matches!(
            o["kind"].as_str(),
            Some("Deployment" | "StatefulSet" | "DaemonSet")
        ) && o["metadata"]["namespace"] == "media"
    }) {
        let what = format!("{dir}: {}", o["metadata"]["name"]);
        let pod = &o["spec"]["template"]["spec"];
        for v in pod["volumes"].as_array().into_iter().flatten() {
            assert!(v.get("hostPath").is_none(), "{what}: hostPath {v}");
        }
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{what}"
        );
        for c in pod["containers"].as_array().expect("containers") {
            let non_root = c["securityContext"]["runAsNonRoot"] == true
                || pod["securityContext"]["runAsNonRoot"] == true;
            assert!(non_root, "{what}/{}: runAsNonRoot", c["name"]);
            assert_eq!(
                c["securityContext"]["capabilities"]["drop"],
                serde_json::json!(["ALL"])
            );
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        }
    }
}
