//! `agent.toml`: what a node keeps current, parsed and checked without I/O.
//!
//! ```toml
//! store = "/var/lib/tinycdn/store"          # the node's own store (created on first run)
//! from = ["http://edges.media.svc:8080"]    # origins or edges, ranked by health
//! trust = ["/etc/tinycdn/trust.json"]       # a trust root, or publisher .pub files
//! interval = 30                             # seconds between rounds
//! keep = 3                                  # versions kept per volume (gc after a change)
//! listen = "0.0.0.0:9400"                   # /metrics and /healthz
//!
//! [[volume]]
//! ref = "site-media@stable"
//! checkout = "/srv/media/site-media"        # a symlink switched atomically
//!
//! [csi]                                     # with `--csi-endpoint`: volumes for pods
//! dir = "/var/lib/tinycdn/csi"              # checkouts pods mount (same filesystem as the store)
//! kubelet_dir = "/var/lib/kubelet"          # targets must be under its pods/ folder
//! publish_wait = 30                         # seconds a publish waits for a pull
//! refresh = 30                              # seconds between tag checks on republish
//! ```
//!
//! With a `[csi]` table (it may be empty: every key has a default) no `[[volume]]` is needed.
//!
//! Relative paths are taken from the configuration file's folder. Unknown keys are refused, so
//! that a misspelt `intervall` is not silently the default.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use tinycdn_volume::reference::Reference;

/// A configuration that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not TOML, or not the shape of `agent.toml` (unknown keys, wrong types).
    #[error("{0}")]
    Syntax(String),
    /// A value that parses but cannot be used.
    #[error("{field}: {why}")]
    Invalid {
        /// The key.
        field: String,
        /// What is wrong with it.
        why: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    store: String,
    from: Vec<String>,
    trust: Vec<String>,
    #[serde(default)]
    log_key: Option<String>,
    #[serde(default)]
    require_log: bool,
    #[serde(default = "default_interval")]
    interval: u64,
    #[serde(default = "default_keep")]
    keep: usize,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_timeout")]
    timeout: u64,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default)]
    volume: Vec<RawVolume>,
    #[serde(default)]
    csi: Option<RawCsi>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCsi {
    dir: Option<String>,
    kubelet_dir: Option<String>,
    node_id: Option<String>,
    publish_wait: Option<u64>,
    refresh: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolume {
    #[serde(rename = "ref")]
    reference: String,
    checkout: String,
}

fn default_interval() -> u64 {
    30
}
fn default_keep() -> usize {
    3
}
fn default_listen() -> String {
    "127.0.0.1:9400".into()
}
fn default_timeout() -> u64 {
    10
}
fn default_concurrency() -> usize {
    8
}

/// The longest interval between rounds: a day.
pub const MAX_INTERVAL: u64 = 86_400;
/// The most volumes one agent keeps.
pub const MAX_VOLUMES: usize = 256;

/// One volume the node keeps checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// What to follow: a tag (followed as it moves) or a full version id (pinned).
    pub reference: Reference,
    /// The symlink the version is checked out at.
    pub checkout: PathBuf,
}

/// The CSI node plugin's settings (`[csi]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsiConfig {
    /// Where the checkouts pods mount and the plugin's records live. On the store's filesystem,
    /// files are hardlinked from the store rather than copied.
    pub dir: PathBuf,
    /// The kubelet's root: publish targets must be under its `pods/` folder.
    pub kubelet_dir: PathBuf,
    /// The node's id for `NodeGetInfo` (default: the host name).
    pub node_id: Option<String>,
    /// Seconds a publish waits for its pull before answering `Unavailable` (the pull goes on).
    pub publish_wait: u64,
    /// Seconds between checks of a followed tag when pods are republished.
    pub refresh: u64,
}

/// The longest a publish waits for a pull: under the kubelet's own 2-minute deadline.
pub const MAX_PUBLISH_WAIT: u64 = 110;

/// A checked `agent.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The node's store: a directory or an object-storage URL, as `--store` takes.
    pub store: String,
    /// Mirrors (origins or edges).
    pub from: Vec<String>,
    /// Trust files: `.pub` keys or one trust root.
    pub trust: Vec<PathBuf>,
    /// The origin's transparency-log verifier key (`NAME+ID+KEY` or a file holding it).
    pub log_key: Option<String>,
    /// Refuse versions the log does not prove were published.
    pub require_log: bool,
    /// Seconds between rounds.
    pub interval: u64,
    /// Versions kept per volume.
    pub keep: usize,
    /// Where `/metrics` and `/healthz` are served.
    pub listen: String,
    /// Seconds one mirror request may take.
    pub timeout: u64,
    /// Chunk requests in flight per pull.
    pub concurrency: usize,
    /// The volumes.
    pub volumes: Vec<VolumeSpec>,
    /// The CSI node plugin's settings (defaults when the file has no `[csi]`).
    pub csi: CsiConfig,
    /// Whether the file has a `[csi]` table.
    pub csi_configured: bool,
}

impl Config {
    /// Parses `text`, taking relative paths from `base` (the file's folder).
    ///
    /// # Errors
    /// [`ConfigError`] naming the key and what is wrong.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let invalid = |field: &str, why: &str| ConfigError::Invalid {
            field: field.to_owned(),
            why: why.to_owned(),
        };
        let path = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        if raw.store.is_empty() {
            return Err(invalid("store", "empty"));
        }
        let store = if raw.store.contains("://") {
            raw.store.clone()
        } else {
            path(&raw.store).to_string_lossy().into_owned()
        };
        if raw.from.is_empty() {
            return Err(invalid(
                "from",
                "name at least one mirror (http://HOST:PORT)",
            ));
        }
        for m in &raw.from {
            if !(m.starts_with("http://") || m.starts_with("https://")) {
                return Err(invalid(
                    "from",
                    &format!("{m:?} is not an http:// or https:// URL"),
                ));
            }
        }
        if raw.trust.is_empty() {
            return Err(invalid(
                "trust",
                "name the publisher's .pub files or a trust root: the agent installs only signed versions",
            ));
        }
        if raw.interval == 0 || raw.interval > MAX_INTERVAL {
            return Err(invalid("interval", "must be 1 to 86400 seconds"));
        }
        if raw.keep == 0 {
            return Err(invalid(
                "keep",
                "must keep at least the checked-out version (1)",
            ));
        }
        if raw.timeout == 0 {
            return Err(invalid("timeout", "must be at least 1 second"));
        }
        if raw.concurrency == 0 || raw.concurrency > 64 {
            return Err(invalid("concurrency", "must be 1 to 64"));
        }
        if raw.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid("listen", "expected IP:PORT (0.0.0.0:9400)"));
        }
        if raw.volume.is_empty() && raw.csi.is_none() {
            return Err(invalid(
                "volume",
                "add at least one [[volume]] with ref and checkout (or a [csi] table)",
            ));
        }
        if raw.volume.len() > MAX_VOLUMES {
            return Err(invalid("volume", "at most 256 volumes"));
        }
        let mut seen = HashSet::new();
        let mut volumes = Vec::with_capacity(raw.volume.len());
        for v in &raw.volume {
            let reference: Reference = v
                .reference
                .parse()
                .map_err(|e| invalid("volume.ref", &format!("{e}")))?;
            if v.checkout.is_empty() {
                return Err(invalid("volume.checkout", "empty"));
            }
            let checkout = path(&v.checkout);
            if checkout
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(invalid(
                    "volume.checkout",
                    &format!("{} has '..' in it", checkout.display()),
                ));
            }
            if !seen.insert(checkout.clone()) {
                return Err(invalid(
                    "volume.checkout",
                    &format!("{} is given twice", checkout.display()),
                ));
            }
            volumes.push(VolumeSpec {
                reference,
                checkout,
            });
        }
        let csi = csi(raw.csi.as_ref(), &store, raw.interval, &path)?;
        Ok(Self {
            csi_configured: raw.csi.is_some(),
            csi,
            store,
            from: raw.from,
            trust: raw.trust.iter().map(|t| path(t)).collect(),
            log_key: raw.log_key,
            require_log: raw.require_log,
            interval: raw.interval,
            keep: raw.keep,
            listen: raw.listen,
            timeout: raw.timeout,
            concurrency: raw.concurrency,
            volumes,
        })
    }
}

/// The `[csi]` table checked, with defaults for what it leaves out.
fn csi(
    raw: Option<&RawCsi>,
    store: &str,
    interval: u64,
    path: &dyn Fn(&str) -> PathBuf,
) -> Result<CsiConfig, ConfigError> {
    let invalid = |field: &str, why: String| ConfigError::Invalid {
        field: format!("csi.{field}"),
        why,
    };
    let absolute = |field: &str, p: PathBuf| {
        if p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            Err(invalid(field, format!("{} has '..' in it", p.display())))
        } else {
            Ok(p)
        }
    };
    let dir = match raw.and_then(|r| r.dir.as_deref()) {
        Some("") => return Err(invalid("dir", "empty".into())),
        Some(d) => path(d),
        // Beside a local store, so that checkouts hardlink its files.
        None if !store.contains("://") => Path::new(store)
            .parent()
            .map_or_else(|| PathBuf::from("/var/lib/tinycdn/csi"), |p| p.join("csi")),
        None => PathBuf::from("/var/lib/tinycdn/csi"),
    };
    let kubelet_dir = match raw.and_then(|r| r.kubelet_dir.as_deref()) {
        Some("") => return Err(invalid("kubelet_dir", "empty".into())),
        Some(d) => path(d),
        None => PathBuf::from("/var/lib/kubelet"),
    };
    let node_id = raw.and_then(|r| r.node_id.clone());
    if let Some(id) = &node_id {
        if id.is_empty() || id.len() > 128 {
            return Err(invalid("node_id", "must be 1 to 128 bytes".into()));
        }
    }
    let publish_wait = raw.and_then(|r| r.publish_wait).unwrap_or(30);
    if publish_wait == 0 || publish_wait > MAX_PUBLISH_WAIT {
        return Err(invalid(
            "publish_wait",
            format!("must be 1 to {MAX_PUBLISH_WAIT} seconds (the kubelet gives up at 120)"),
        ));
    }
    let refresh = raw.and_then(|r| r.refresh).unwrap_or(interval);
    if refresh == 0 || refresh > MAX_INTERVAL {
        return Err(invalid("refresh", "must be 1 to 86400 seconds".into()));
    }
    Ok(CsiConfig {
        dir: absolute("dir", dir)?,
        kubelet_dir: absolute("kubelet_dir", kubelet_dir)?,
        node_id,
        publish_wait,
        refresh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
store = "store"
from = ["http://127.0.0.1:7070", "https://mirror.example"]
trust = ["pub.key.pub"]
interval = 5
keep = 2

[[volume]]
ref = "site-media@stable"
checkout = "/srv/media"

[[volume]]
ref = "www@stable"
checkout = "www"
"#;

    #[test]
    fn a_good_file_with_relative_paths_from_its_folder() {
        let c = Config::parse(GOOD, Path::new("/etc/tinycdn")).expect("parses");
        assert_eq!(c.store, "/etc/tinycdn/store");
        assert_eq!(c.trust, vec![PathBuf::from("/etc/tinycdn/pub.key.pub")]);
        assert_eq!(c.interval, 5);
        assert_eq!(c.keep, 2);
        assert_eq!(c.listen, "127.0.0.1:9400");
        assert_eq!(c.volumes.len(), 2);
        assert_eq!(c.volumes[0].reference.to_string(), "site-media@stable");
        assert_eq!(c.volumes[0].checkout, PathBuf::from("/srv/media"));
        assert_eq!(c.volumes[1].checkout, PathBuf::from("/etc/tinycdn/www"));
    }

    #[test]
    fn object_storage_stores_are_kept_as_urls() {
        let text = GOOD.replace("store = \"store\"", "store = \"s3://bucket/node\"");
        let c = Config::parse(&text, Path::new("/etc")).expect("parses");
        assert_eq!(c.store, "s3://bucket/node");
    }

    fn error(text: &str) -> String {
        Config::parse(text, Path::new("/etc"))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error(&GOOD.replace("interval = 5", "intervall = 5")).contains("intervall"));
        assert!(error(&GOOD.replace("interval = 5", "interval = 0")).starts_with("interval:"));
        assert!(error(&GOOD.replace("interval = 5", "interval = \"5\"")).contains("interval"));
        assert!(error(&GOOD.replace("keep = 2", "keep = 0")).starts_with("keep:"));
        assert!(
            error(&GOOD.replace("\"http://127.0.0.1:7070\", ", "\"ftp://x\", "))
                .starts_with("from:")
        );
        assert!(
            error(&GOOD.replace("trust = [\"pub.key.pub\"]", "trust = []")).starts_with("trust:")
        );
        assert!(error(&GOOD.replace("site-media@stable", "site-media")).starts_with("volume.ref:"));
        assert!(
            error(&GOOD.replace("checkout = \"www\"", "checkout = \"/srv/media\""))
                .contains("twice")
        );
        assert!(error(&GOOD.replace("checkout = \"www\"", "checkout = \"../x\"")).contains("'..'"));
        assert!(error(&format!("{GOOD}\nlisten = \"nowhere\"")).contains("listen"));
        let no_volumes = GOOD.split("[[volume]]").next().expect("head");
        assert!(error(no_volumes).starts_with("volume:"));
        assert!(error("store = ").contains("line 1"));
    }

    #[test]
    fn a_csi_table_stands_in_for_volumes_and_has_defaults() {
        let no_volumes = GOOD.split("[[volume]]").next().expect("head");
        let c = Config::parse(&format!("{no_volumes}\n[csi]\n"), Path::new("/etc/tinycdn"))
            .expect("parses");
        assert!(c.csi_configured);
        assert!(c.volumes.is_empty());
        assert_eq!(c.csi.dir, PathBuf::from("/etc/tinycdn/csi"));
        assert_eq!(c.csi.kubelet_dir, PathBuf::from("/var/lib/kubelet"));
        assert_eq!(c.csi.refresh, 5, "the interval");
        assert_eq!(c.csi.publish_wait, 30);
        let set = format!(
            "{no_volumes}\n[csi]\ndir = \"/srv/csi\"\nkubelet_dir = \"k\"\nnode_id = \"n1\"\npublish_wait = 2\nrefresh = 9\n"
        );
        let c = Config::parse(&set, Path::new("/etc")).expect("parses");
        assert_eq!(c.csi.dir, PathBuf::from("/srv/csi"));
        assert_eq!(c.csi.kubelet_dir, PathBuf::from("/etc/k"));
        assert_eq!(c.csi.node_id.as_deref(), Some("n1"));
        assert_eq!((c.csi.publish_wait, c.csi.refresh), (2, 9));
        for (bad, field) in [
            ("publish_wait = 0", "csi.publish_wait"),
            ("publish_wait = 200", "csi.publish_wait"),
            ("refresh = 0", "csi.refresh"),
            ("node_id = \"\"", "csi.node_id"),
            ("dir = \"\"", "csi.dir"),
            ("kubelet_dir = \"/a/../b\"", "csi.kubelet_dir"),
        ] {
            let e = error(&format!("{no_volumes}\n[csi]\n{bad}\n"));
            assert!(e.starts_with(field), "{bad}: {e}");
        }
        assert!(error(&format!("{no_volumes}\n[csi]\ndri = \"x\"\n")).contains("dri"));
        let c = Config::parse(GOOD, Path::new("/etc")).expect("parses");
        assert!(!c.csi_configured);
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,400}") {
            let _ = Config::parse(&text, Path::new("/etc"));
        }

        #[test]
        fn any_interval_in_range_is_kept(interval in 1u64..=MAX_INTERVAL) {
            let text = GOOD.replace("interval = 5", &format!("interval = {interval}"));
            let c = Config::parse(&text, Path::new("/etc")).expect("parses");
            proptest::prop_assert_eq!(c.interval, interval);
        }
    }
}
