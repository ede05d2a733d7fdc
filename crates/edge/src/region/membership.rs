//! Who the members are: a static list, a peers file read again at every refresh, or the
//! addresses a DNS name resolves to (a Kubernetes headless Service), resolved again at every
//! refresh. A source that fails keeps the members it gave last.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use thiserror::Error;
use tinycdn_region::{MemberError, Members};

use super::Region;

/// Where the members come from.
#[derive(Debug, Clone)]
pub enum MemberSource {
    /// `--peer` values: every member, this edge included.
    Static(Members),
    /// `--peers-file`: one member per line, read again at every refresh.
    File(PathBuf),
    /// `--peers-dns NAME:PORT`: every address of the name is a member on the port.
    Dns {
        /// The name (a headless Service's, say).
        name: String,
        /// The members' port.
        port: u16,
        /// The DNS server to ask (default: the system's resolver configuration).
        server: Option<SocketAddr>,
    },
}

/// Why an edge cannot join its region.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RegionError {
    /// `--advertise` is not a member URL.
    #[error("--advertise: {0}")]
    Advertise(MemberError),
    /// The static list leaves this edge out.
    #[error("this edge ({me}) is not among the --peer values: every member lists every member of the region, itself included (hint: pass --peer {me} as well, or fix --advertise)")]
    NotAMember {
        /// The advertised URL.
        me: String,
    },
    /// The peers file cannot be read.
    #[error("cannot read the peers file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the peers file does not parse.
    #[error("the peers file {path}, line {line}: {source}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The line (1-based; 0 for the whole file).
        line: usize,
        /// Why.
        source: MemberError,
    },
    /// The DNS name did not resolve.
    #[error("cannot resolve {name}: {why}")]
    Dns {
        /// The name.
        name: String,
        /// Why.
        why: String,
    },
    /// The system's resolver configuration cannot be used.
    #[error("cannot set up DNS resolution for --peers-dns: {0} (hint: name a server with --peers-dns-server IP:PORT)")]
    Resolver(String),
}

/// A DNS resolver for `--peers-dns`.
pub(super) struct Resolver(TokioResolver);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// A resolver when the source is a DNS name: the server named, or the system's.
    pub(super) fn for_source(
        source: &MemberSource,
        refresh: Duration,
    ) -> Result<Option<Self>, RegionError> {
        let MemberSource::Dns { server, .. } = source else {
            return Ok(None);
        };
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => {
                TokioResolver::builder_tokio().map_err(|e| RegionError::Resolver(e.to_string()))?
            }
        };
        // Answers are used no longer than one refresh: a member that left is forgotten then.
        let opts = builder.options_mut();
        opts.positive_max_ttl = Some(refresh);
        opts.negative_max_ttl = Some(refresh);
        opts.timeout = Duration::from_secs(2);
        let resolver = builder
            .build()
            .map_err(|e| RegionError::Resolver(e.to_string()))?;
        Ok(Some(Self(resolver)))
    }

    /// The addresses of `name` (none when it has no records: no member is ready).
    async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, RegionError> {
        match self.0.lookup_ip(name).await {
            Ok(found) => Ok(found.iter().collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(RegionError::Dns {
                name: name.to_owned(),
                why: e.to_string(),
            }),
        }
    }
}

/// The host part of a member URL (`http://HOST:PORT`), brackets removed.
fn host_port(url: &str) -> Option<(&str, u16)> {
    let rest = url.strip_prefix("http://")?;
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host, port.parse().ok()?))
}

/// The addresses of the members (host names resolved by the system), for the peer route's
/// allowlist.
async fn addresses(members: &Members) -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    for m in members.as_slice() {
        let Some((host, port)) = host_port(&m.url) else {
            continue;
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.insert(ip.to_canonical());
        } else if let Ok(found) = tokio::net::lookup_host((host, port)).await {
            out.extend(found.map(|a| a.ip().to_canonical()));
        }
    }
    out
}

impl Region {
    /// Reads the source and installs what it gives. At start, a list without this edge and a
    /// file that cannot be read are errors; later failures keep the previous members.
    pub(super) async fn refresh(&self, initial: bool) -> Result<(), RegionError> {
        let loaded = match &self.config.source {
            MemberSource::Static(m) => {
                if !m.contains(&self.me) {
                    return Err(RegionError::NotAMember {
                        me: self.me.clone(),
                    });
                }
                Ok(m.clone())
            }
            MemberSource::File(path) => match tokio::fs::read_to_string(path).await {
                Err(source) => Err(RegionError::ReadFile {
                    path: path.clone(),
                    source,
                }),
                Ok(text) => {
                    Members::parse_file(&text).map_err(|(line, source)| RegionError::ParseFile {
                        path: path.clone(),
                        line,
                        source,
                    })
                }
            },
            MemberSource::Dns { name, port, .. } => match &self.resolver {
                Some(r) => match r.lookup(name).await {
                    Ok(ips) => Members::from_addresses(&ips, *port).map_err(|source| {
                        RegionError::ParseFile {
                            path: PathBuf::from(name),
                            line: 0,
                            source,
                        }
                    }),
                    Err(e) => Err(e),
                },
                None => Err(RegionError::Resolver("no resolver".into())),
            },
        };
        match loaded {
            Ok(members) => {
                if initial && !members.contains(&self.me) {
                    eprintln!(
                        "region: this edge ({}) is not listed yet; it asks the owners but owns no chunk until it is",
                        self.me
                    );
                }
                let allowed = addresses(&members).await;
                self.install(members, allowed, initial);
                Ok(())
            }
            Err(e) if initial && !matches!(e, RegionError::Dns { .. }) => Err(e),
            Err(e) => {
                self.counters.refresh_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "region: {e}; keeping the {} members known",
                    self.members().as_slice().len()
                );
                Ok(())
            }
        }
    }
}

/// Refreshes the members every `config.refresh` until the region is dropped.
pub(super) fn spawn_refresh(region: &Arc<Region>) {
    let weak = Arc::downgrade(region);
    let every = region.config.refresh.max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(region) = weak.upgrade() else {
                return;
            };
            let _ = region.refresh(false).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn hosts_of_member_urls() {
        assert_eq!(host_port("http://10.0.0.7:8080"), Some(("10.0.0.7", 8080)));
        assert_eq!(host_port("http://[::1]:80"), Some(("::1", 80)));
        assert_eq!(
            host_port("http://edge-0.edges:80"),
            Some(("edge-0.edges", 80))
        );
        assert_eq!(host_port("https://x:1"), None);
    }
}
