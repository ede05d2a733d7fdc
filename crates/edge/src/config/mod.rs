//! `edge.toml`: a whole edge in one file, parsed and checked without I/O.
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! [cache]
//! dir = "/var/cache/tinycdn"
//! size = "20GiB"
//! [[site]]
//! hosts = ["shop.example", "*.shop.example"]
//! origin = "http://shop:8080"
//! [[site]]
//! hosts = ["*"]                 # the default site
//! origin = "http://app:3000"
//! ```
//!
//! Every flag of `tinycdn edge` has its key here (docs/operations/configuration.md lists them);
//! flags given on the command line override the file. Unknown keys are refused, so that a
//! misspelt `sise` is not silently the default; an error names the key and its line. Files
//! named in the configuration (certificates, trust, tokens, keys) are read when the edge starts
//! or reloads ([`crate::Edge::start`]), not here.
//!
//! - `hosts`: which site a host belongs to;
//! - `site`: one `[[site]]`;
//! - `size`: `20GiB`.

pub mod hosts;
mod site;
pub mod size;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use hosts::{HostPattern, HostTable};
pub use site::{ImagePolicyConfig, SiteConfigFile};
pub use size::Size;

/// A configuration that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not TOML, or not the shape of `edge.toml` (unknown keys, wrong types); the message
    /// names the line.
    #[error("{0}")]
    Syntax(String),
    /// A value that parses but cannot be used.
    #[error("{}{key}: {why}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Invalid {
        /// The line of the key (or of its `[[site]]`), when known.
        line: Option<usize>,
        /// The key (`cache.size`, `site[2].hosts`).
        key: String,
        /// What is wrong with it.
        why: String,
    },
}

/// A whole edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// Address of the public listener (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Bind the listeners with `SO_REUSEPORT`, so that a replacement can listen beside this
    /// process while it drains.
    pub reuse_port: bool,
    /// A Unix socket where a new process takes the listening sockets over (`tinycdn edge
    /// --take-over`): an upgrade without a refused connection.
    pub upgrade_socket: Option<PathBuf>,
    /// The point of presence (the `pop` label of metrics and access log lines).
    pub pop: String,
    /// Previous hops (load balancers, TLS terminators) by address or CIDR whose forwarding
    /// fields are extended rather than replaced.
    pub trusted_proxies: Vec<String>,
    /// HTTPS on the public listener.
    pub tls: Option<TlsConfig>,
    /// The operators' routes.
    pub admin: AdminConfig,
    /// Limits against slow and greedy clients, and the drain.
    pub limits: LimitsConfig,
    /// The chunk cache and the stored responses.
    pub cache: CacheConfig,
    /// tinycdn mirrors the volumes come from, and whose signatures are trusted.
    pub upstream: UpstreamConfig,
    /// The image engine (each site has its own policy).
    pub images: ImagesConfig,
    /// The regional cluster this edge is a member of.
    pub region: Option<RegionConfigFile>,
    /// Access log and traces.
    pub log: LogConfig,
    /// The sites, matched by host.
    #[serde(rename = "site")]
    pub sites: Vec<SiteConfigFile>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            reuse_port: false,
            upgrade_socket: None,
            pop: "default".into(),
            trusted_proxies: Vec::new(),
            tls: None,
            admin: AdminConfig::default(),
            limits: LimitsConfig::default(),
            cache: CacheConfig::default(),
            upstream: UpstreamConfig::default(),
            images: ImagesConfig::default(),
            region: None,
            log: LogConfig::default(),
            sites: Vec::new(),
        }
    }
}

/// `[tls]`: certificate chain and key files (PEM), read again on reload and when they change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// `[admin]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the operators' routes on this address instead of the public listener.
    pub listen: Option<String>,
    /// Without `listen`: who may read metrics and status on the public listener (default:
    /// loopback and private ranges).
    pub allow: Vec<String>,
}

/// `[limits]`: seconds and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client address may hold (0: no cap).
    pub max_connections_per_ip: usize,
    /// Seconds a client has to send a request head.
    pub header_timeout: u64,
    /// Seconds a connection may stay open with nothing in progress.
    pub idle_timeout: u64,
    /// Seconds a response may wait on a client that takes none of it.
    pub send_timeout: u64,
    /// On SIGTERM: seconds `/readyz` answers 503 while listeners still accept.
    pub drain_delay: u64,
    /// Then: seconds requests in flight have to finish.
    pub drain_timeout: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            header_timeout: 10,
            idle_timeout: 60,
            send_timeout: 60,
            drain_delay: 5,
            drain_timeout: 30,
        }
    }
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The disk cache directory (none: memory only).
    pub dir: Option<PathBuf>,
    /// Bound of the disk cache.
    pub size: Size,
    /// Memory for content: half the chunk memory tier, half fills in flight.
    pub memory: Size,
    /// `s3-fifo`, `sieve` or `fifo`.
    pub policy: String,
    /// Bytes per second the scrub re-reads (`0`: off).
    pub scrub_rate: Size,
    /// Largest application response stored.
    pub max_object_size: Size,
    /// Most application responses stored at once.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            dir: None,
            size: Size(10 << 30),
            memory: Size(512 << 20),
            policy: "s3-fifo".into(),
            scrub_rate: Size(8 << 20),
            max_object_size: Size(256 << 20),
            max_entries: 200_000,
        }
    }
}

/// `[upstream]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// tinycdn mirrors (origins or parent edges), best first.
    pub mirrors: Vec<String>,
    /// Public key files or a trust root: required with mirrors.
    pub trust: Vec<PathBuf>,
    /// Certificate authorities `https://` mirrors may chain to, besides the system's.
    pub ca: Option<PathBuf>,
    /// Seconds one mirror request may take.
    pub timeout: u64,
    /// The origin's transparency log key (`NAME+ID+KEY` or a file).
    pub log_key: Option<String>,
    /// Seconds a verified tag is used before the mirrors are asked again.
    pub tag_max_age: u32,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            mirrors: Vec::new(),
            trust: Vec::new(),
            ca: None,
            timeout: 10,
            log_key: None,
            tag_max_age: 60,
        }
    }
}

/// `[images]`: the engine shared by every site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// Make variants at all (`false`: image keys in queries are left to the application).
    pub enabled: bool,
    /// Transforms at once (default: the number of cores).
    pub workers: Option<usize>,
    /// Transforms waiting for a worker at most.
    pub queue: usize,
    /// Seconds one transform may take, waiting included.
    pub timeout: u64,
    /// Largest source in pixels.
    pub max_pixels: u64,
    /// Pixel memory one transform may hold.
    pub memory: Size,
    /// Keep no variant (for measuring transforms).
    pub no_store: bool,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: None,
            queue: 64,
            timeout: 10,
            max_pixels: 40_000_000,
            memory: Size(256 << 20),
            no_store: false,
        }
    }
}

/// `[region]`: members from a list, a file or DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfigFile {
    /// This edge's URL as the other members know it.
    pub advertise: String,
    /// The members, this edge included (`http://HOST:PORT[,weight=N]`).
    #[serde(default)]
    pub peers: Vec<String>,
    /// A file listing the members.
    #[serde(default)]
    pub peers_file: Option<PathBuf>,
    /// A DNS name whose addresses are the members (`NAME:PORT`).
    #[serde(default)]
    pub peers_dns: Option<String>,
    /// The DNS server `peers_dns` asks.
    #[serde(default)]
    pub peers_dns_server: Option<String>,
    /// Seconds between reads of the file or DNS.
    #[serde(default = "five")]
    pub refresh: u64,
    /// Seconds a peer may take to send a chunk.
    #[serde(default = "five")]
    pub peer_timeout: u64,
}

fn five() -> u64 {
    5
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// The access log (`-`: stdout).
    pub access: Option<PathBuf>,
    /// `json` or `combined`.
    pub format: String,
    /// Lines that may wait for the writer.
    pub buffer: usize,
    /// OTLP/HTTP collector for traces.
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces exported.
    pub trace_sample: f64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            access: None,
            format: "json".into(),
            buffer: 65_536,
            otlp_endpoint: None,
            trace_sample: 0.01,
        }
    }
}

impl EdgeConfig {
    /// Parses and checks `text` (the file at `file`, whose folder relative paths are taken
    /// from).
    ///
    /// # Errors
    /// [`ConfigError`] naming the key and its line.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let mut c: Self = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let lines = site_lines(text);
        for (i, s) in c.sites.iter_mut().enumerate() {
            s.line = lines.get(i).copied();
        }
        c.resolve_paths(file.parent().unwrap_or(Path::new(".")));
        c.check(text)?;
        Ok(c)
    }

    /// Relative paths taken from `base`.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = base.join(&*p);
            }
        };
        let fix_opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                fix(p);
            }
        };
        fix_opt(&mut self.upgrade_socket);
        if let Some(t) = &mut self.tls {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        fix_opt(&mut self.cache.dir);
        self.upstream.trust.iter_mut().for_each(fix);
        fix_opt(&mut self.upstream.ca);
        if let Some(r) = &mut self.region {
            fix_opt(&mut r.peers_file);
        }
        fix_opt(&mut self.log.access);
        for s in &mut self.sites {
            s.resolve_paths(base);
        }
    }

    /// Every rule that needs no I/O. `text` is the file, for line numbers (empty when the
    /// configuration came from flags).
    ///
    /// # Errors
    /// The first problem, with its key and line.
    pub fn check(&self, text: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| ConfigError::Invalid {
            line: line_of(text, key),
            key: key.to_owned(),
            why,
        };
        for (key, addr) in [
            ("listen", Some(&self.listen)),
            ("admin.listen", self.admin.listen.as_ref()),
        ] {
            if let Some(a) = addr {
                if a.parse::<std::net::SocketAddr>().is_err() {
                    return Err(bad(key, format!("{a:?} is not IP:PORT (0.0.0.0:8080)")));
                }
            }
        }
        cidrs(&self.trusted_proxies).map_err(|w| bad("trusted_proxies", w))?;
        cidrs(&self.admin.allow).map_err(|w| bad("admin.allow", w))?;
        let l = &self.limits;
        for (key, v) in [
            ("limits.max_connections", l.max_connections as u64),
            ("limits.header_timeout", l.header_timeout),
            ("limits.idle_timeout", l.idle_timeout),
            ("limits.send_timeout", l.send_timeout),
            ("upstream.timeout", self.upstream.timeout),
            ("images.queue", self.images.queue as u64),
            ("images.timeout", self.images.timeout),
            ("cache.max_entries", self.cache.max_entries as u64),
        ] {
            if v == 0 {
                return Err(bad(key, "must be at least 1".into()));
            }
        }
        if self.cache.policy.parse::<crate::cache::DiskKind>().is_err() {
            return Err(bad(
                "cache.policy",
                format!("{:?}: use s3-fifo, sieve or fifo", self.cache.policy),
            ));
        }
        if self.cache.memory.0 < 2 << 20 {
            return Err(bad("cache.memory", "must be at least 2MiB".into()));
        }
        if !matches!(self.log.format.as_str(), "json" | "combined") {
            return Err(bad("log.format", "use json or combined".into()));
        }
        if !(0.0..=1.0).contains(&self.log.trace_sample) {
            return Err(bad("log.trace_sample", "a fraction from 0 to 1".into()));
        }
        for m in &self.upstream.mirrors {
            if !(m.starts_with("http://") || m.starts_with("https://")) {
                return Err(bad(
                    "upstream.mirrors",
                    format!("{m:?} is not an http:// or https:// URL"),
                ));
            }
        }
        let fabric = !self.upstream.mirrors.is_empty();
        if fabric && self.upstream.trust.is_empty() {
            return Err(bad(
                "upstream.trust",
                "name the publishers' .pub files or a trust root: an edge serves nothing unsigned"
                    .into(),
            ));
        }
        if !fabric && !self.upstream.trust.is_empty() {
            return Err(bad(
                "upstream.trust",
                "trust without upstream.mirrors has nothing to verify".into(),
            ));
        }
        if let Some(r) = &self.region {
            if !fabric {
                return Err(bad(
                    "region",
                    "a region shares chunks from upstream.mirrors: name them".into(),
                ));
            }
            let sources = usize::from(!r.peers.is_empty())
                + usize::from(r.peers_file.is_some())
                + usize::from(r.peers_dns.is_some());
            if sources != 1 {
                return Err(bad(
                    "region",
                    "give the members one way: peers, peers_file or peers_dns".into(),
                ));
            }
        }
        if self.sites.is_empty() && !fabric {
            return Err(bad(
                "site",
                "the edge fronts nothing: add a [[site]] with an origin, or upstream.mirrors"
                    .into(),
            ));
        }
        let mut table = HostTable::default();
        let mut names = HashSet::new();
        for (i, s) in self.sites.iter().enumerate() {
            s.check(i, fabric)?;
            for h in &s.hosts {
                if let Err(p) = table.insert(h, i) {
                    return Err(s.invalid(
                        i,
                        "hosts",
                        format!("{p} is already a host of another site"),
                    ));
                }
            }
            if !names.insert(s.name()) {
                return Err(s.invalid(i, "name", format!("another site is named {:?}", s.name())));
            }
        }
        Ok(())
    }

    /// This configuration as TOML, with secrets (passwords in URLs, credential-like header
    /// values) replaced by `<redacted>`: what `tinycdn edge --check` prints.
    #[must_use]
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        for s in &mut c.sites {
            s.redact();
        }
        c.upstream.mirrors = c.upstream.mirrors.iter().map(|u| redact_url(u)).collect();
        c.log.otlp_endpoint = c.log.otlp_endpoint.as_deref().map(redact_url);
        toml::to_string(&c).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Whether serving `other` needs a new process (listeners, cache, engine, upstreams,
    /// region, logs): the keys that differ. Sites and certificates are reloaded in place.
    #[must_use]
    pub fn restart_keys(&self, other: &Self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut differs = |k: &'static str, d: bool| {
            if d {
                keys.push(k);
            }
        };
        differs("listen", self.listen != other.listen);
        differs("reuse_port", self.reuse_port != other.reuse_port);
        differs(
            "upgrade_socket",
            self.upgrade_socket != other.upgrade_socket,
        );
        differs("pop", self.pop != other.pop);
        differs("tls", self.tls != other.tls);
        differs("admin", self.admin != other.admin);
        differs("limits", self.limits != other.limits);
        differs("cache", self.cache != other.cache);
        differs("upstream", self.upstream != other.upstream);
        differs("images", self.images != other.images);
        differs("region", self.region != other.region);
        differs("log", self.log != other.log);
        keys
    }
}

/// Parses addresses and networks (`10.0.0.0/8`, `192.0.2.7`, `::1`).
///
/// # Errors
/// The entry that is neither.
pub fn cidrs(items: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    items
        .iter()
        .map(|v| {
            let v = v.trim();
            v.parse::<ipnet::IpNet>()
                .or_else(|_| v.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{v}` is not an address or a network (`10.0.0.0/8`)"))
        })
        .collect()
}

/// `http://user:secret@host/` → `http://user:<redacted>@host/`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{scheme}://{user}:<redacted>@{host}{}",
                &rest[authority_end..]
            )
        }
        None => url.to_owned(),
    }
}

/// The line (1-based) of each `[[site]]` header, in order.
fn site_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.starts_with("[[site]]") || t.starts_with("[[ site ]]")
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The line of `key` (`cache.size`: `size = …` after `[cache]`; `listen`: before any table).
fn line_of(text: &str, key: &str) -> Option<usize> {
    let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(h) = t.strip_prefix('[') {
            current = h.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            if current == key {
                return Some(i + 1);
            }
            continue;
        }
        let k = t.split('=').next().unwrap_or("").trim();
        if current == section && k == name {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests;
