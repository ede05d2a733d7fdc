//! An edge started from its configuration ([`Edge::start`]), and its sites reloaded in place
//! ([`Edge::reload`]). Here the files a configuration names are read (trust, tokens, keys): a
//! reload reads and builds everything first and puts it in place at once, or changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use thiserror::Error;
use tinycdn_cache_policy::credentials::CredentialRules;
use tinycdn_image::policy::{Allowlist, Policy};
use tinycdn_volume::trust::Trust;

use crate::admin::AdminPolicy;
use crate::cache::{split_memory, ChunkCache, DiskKind};
use crate::config::{
    cidrs, ConfigError, EdgeConfig, HostPattern, ImagePolicyConfig, ImagesConfig, RegionConfigFile,
    SiteConfigFile,
};
use crate::images::{ImageConfig, Images, SitePolicies};
use crate::proxy::{Proxy, ProxyConfig, ProxyShared};
use crate::site::{ApiRoute, SiteConfig, Sites};
use crate::vhost::{VirtualHost, VirtualHosts};
use crate::{Edge, Fabric, Upstreams};

/// Why an edge could not start, or a reload was refused (the running configuration stays).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration breaks a rule.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file it names cannot be read or used.
    #[error("{what} {}: {why}", path.display())]
    File {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The trust files.
    #[error(transparent)]
    Trust(#[from] tinycdn_volume::VolumeError),
    /// The trust root held is older than one seen before, or a stored rotation is bad.
    #[error(transparent)]
    Root(#[from] tinycdn_core::root::RootError),
    /// A site cannot be built.
    #[error("site {site}: {why}")]
    Site {
        /// Its name.
        site: String,
        /// Why.
        why: String,
    },
    /// The cache, the upstreams or the region cannot be set up.
    #[error("{0}")]
    Setup(String),
}

/// Reads a file that holds a secret (a token, signing keys), refusing one other users can read.
///
/// # Errors
/// [`StartError::File`]: unreadable, or readable by others.
pub fn read_private(path: &Path, what: &'static str) -> Result<String, StartError> {
    let fail = |why: String| StartError::File {
        what,
        path: path.to_owned(),
        why,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| fail(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "readable by other users (mode {:o}); run `chmod 600 {}` (and consider it exposed)",
                mode & 0o777,
                path.display()
            )));
        }
    }
    std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))
}

/// A purge token file: one token of at least 128 bits of entropy.
fn purge_token(path: &Path) -> Result<String, StartError> {
    let text = read_private(path, "purge token")?;
    let token = text.trim();
    let fail = |why: String| StartError::File {
        what: "purge token",
        path: path.to_owned(),
        why,
    };
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            "must hold one token: no spaces or control characters".into(),
        ));
    }
    crate::proxy::purge::check_token(token).map_err(fail)?;
    Ok(token.to_owned())
}

/// A site's image policy.
fn image_policy(c: &ImagePolicyConfig) -> Result<Policy, StartError> {
    if c.allow_any {
        return Ok(Policy::default());
    }
    let named = c.widths.is_some() || c.qualities.is_some();
    let mut allow = Allowlist::default();
    if let Some(w) = &c.widths {
        allow.sides.clone_from(w);
    }
    if let Some(q) = &c.qualities {
        allow.qualities.clone_from(q);
    }
    let mut p = Policy {
        keys: Vec::new(),
        allow: Some(allow),
        legacy_signatures: c.legacy_signatures,
    };
    if let Some(path) = &c.sign_keys {
        let keys = tinycdn_image::policy::parse_keys(&read_private(path, "image key file")?);
        if keys.is_empty() {
            return Err(StartError::File {
                what: "image key file",
                path: path.clone(),
                why: "holds no key (one per line)".into(),
            });
        }
        p.keys = keys;
        if !named {
            p.allow = None;
        }
    }
    Ok(p)
}

/// The image engine.
fn image_engine(c: &ImagesConfig) -> ImageConfig {
    let mut e = ImageConfig::default();
    if let Some(n) = c.workers {
        e.workers = n.max(1);
    }
    e.queue = c.queue;
    e.no_store = c.no_store;
    e.timeout = Duration::from_secs(c.timeout.max(1));
    e.limits.max_source_pixels = c.max_pixels;
    e.limits.max_memory = c.memory.0;
    e
}

/// The region, from `[region]`.
fn region(r: &RegionConfigFile, listen: &str) -> Result<crate::RegionConfig, StartError> {
    use crate::region::{bind_address, MemberSource};
    use tinycdn_region::{parse_dns_target, Member, Members};
    let setup = |e: &dyn std::fmt::Display| StartError::Setup(format!("region: {e}"));
    let source = if !r.peers.is_empty() {
        let members = r
            .peers
            .iter()
            .map(|p| Member::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| setup(&e))?;
        MemberSource::Static(Members::new(members).map_err(|e| setup(&e))?)
    } else if let Some(path) = &r.peers_file {
        MemberSource::File(path.clone())
    } else if let Some(spec) = &r.peers_dns {
        let (name, port) = parse_dns_target(spec).map_err(|e| setup(&e))?;
        let server = r
            .peers_dns_server
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| setup(&e))?;
        MemberSource::Dns { name, port, server }
    } else {
        return Err(setup(&"name the members: peers, peers_file or peers_dns"));
    };
    let bind = listen
        .parse()
        .ok()
        .and_then(|l| bind_address(&Member::normalise(&r.advertise).ok()?, l));
    Ok(crate::RegionConfig {
        advertise: r.advertise.clone(),
        source,
        refresh: Duration::from_secs(r.refresh.max(1)),
        timeout: Duration::from_secs(r.peer_timeout.max(1)),
        bind,
    })
}

/// Reads every file `config` names (trust, tokens, image keys, the log key) as
/// [`Edge::start`] would, without starting anything: what `tinycdn edge --check` adds to
/// [`EdgeConfig::check`].
///
/// # Errors
/// The first file that cannot be used.
pub fn check_files(config: &EdgeConfig) -> Result<(), StartError> {
    let u = &config.upstream;
    if !u.mirrors.is_empty() {
        Trust::load(&u.trust)?
            .check_fresh(crate::proxy::unix_now().try_into().unwrap_or(i64::MAX))?;
        if let Some(key) = &u.log_key {
            log_verifier(key)?;
        }
    }
    for s in &config.sites {
        if let Some(t) = &s.purge_token_file {
            purge_token(t)?;
        }
        image_policy(&s.images)?;
        CredentialRules::new(&s.credential_headers, &s.ignore_cookies).map_err(|e| {
            StartError::Site {
                site: s.name(),
                why: e.to_string(),
            }
        })?;
    }
    Ok(())
}

impl Edge {
    /// Starts an edge as `config` describes it: the cache (stored responses reloaded from its
    /// disk), the fabric with its trust, log and region, the image engine, and the sites.
    ///
    /// # Errors
    /// [`StartError`] naming what could not be used.
    pub async fn start(config: EdgeConfig) -> Result<Arc<Self>, StartError> {
        config.check("")?;
        let (memory, _) = split_memory(config.cache.memory.0);
        let kind: DiskKind = config
            .cache
            .policy
            .parse()
            .map_err(|e: String| StartError::Setup(e))?;
        let cache = Arc::new(
            ChunkCache::with_policy(
                memory,
                config
                    .cache
                    .dir
                    .as_deref()
                    .map(|d| (d, config.cache.size.0)),
                kind,
            )
            .map_err(|e| StartError::Setup(format!("cache: {e}")))?,
        );
        cache.start_scrub(config.cache.scrub_rate.0);
        let images = config
            .images
            .enabled
            .then(|| Arc::new(Images::new(image_engine(&config.images), cache.clone())));
        let fabric = if config.upstream.mirrors.is_empty() {
            None
        } else {
            let u = &config.upstream;
            let trust = Trust::load(&u.trust)?;
            // An expired root is not used to fill the cache.
            trust.check_fresh(crate::proxy::unix_now().try_into().unwrap_or(i64::MAX))?;
            let upstreams =
                Upstreams::with_ca(&u.mirrors, Duration::from_secs(u.timeout), u.ca.as_deref())
                    .map_err(|e| StartError::Setup(format!("upstream: {e}")))?;
            let mut f = Fabric::new(upstreams, trust, cache.clone());
            if let Some(key) = &u.log_key {
                f.set_log(log_verifier(key)?);
            }
            f.set_tag_max_age(u.tag_max_age);
            if let Some(r) = &config.region {
                let r = crate::Region::start(region(r, &config.listen)?)
                    .await
                    .map_err(|e| StartError::Setup(format!("region: {e}")))?;
                f.set_region(r);
            }
            if let Some(i) = &images {
                f.set_images(i.clone());
            }
            Some(Arc::new(f))
        };
        let edge = Self::bare(cache, fabric, images);
        let _ = edge.pop.set(config.pop.clone());
        let _ = edge.admin.set(AdminPolicy {
            separate: config.admin.listen.is_some(),
            allow: if config.admin.allow.is_empty() {
                crate::admin::default_allow()
            } else {
                cidrs(&config.admin.allow).map_err(|why| ConfigError::Invalid {
                    line: None,
                    key: "admin.allow".into(),
                    why,
                })?
            },
        });
        let edge = Arc::new(edge);
        edge.start_root()?;
        let (hosts, policies) = edge.build_sites(&config)?;
        edge.install(hosts, policies, config);
        Ok(edge)
    }

    /// Serves `config`'s sites from now on: built whole (tokens, keys and trust read again),
    /// then put in place at once; requests in flight finish with the sites they started with.
    /// A site whose section did not change keeps its state (its connections to the
    /// application, the website versions pages are pinned to). Caches are kept.
    ///
    /// Returns the keys that changed but need a new process to take effect (listeners,
    /// cache, upstreams, ...: [`EdgeConfig::restart_keys`]).
    ///
    /// # Errors
    /// [`StartError`]: nothing was changed.
    pub fn reload(self: &Arc<Self>, config: EdgeConfig) -> Result<Vec<&'static str>, StartError> {
        let outcome = config
            .check("")
            .map_err(StartError::from)
            .and_then(|()| self.build_sites(&config));
        let (hosts, policies) = match outcome {
            Ok(built) => built,
            Err(e) => {
                self.reloads[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
        };
        let pending = self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|old| old.restart_keys(&config))
            .unwrap_or_default();
        self.install(hosts, policies, config);
        self.reloads[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(pending)
    }

    /// Counts a reload refused before it reached [`Edge::reload`] (a file that does not parse).
    pub fn reload_failed(&self) {
        self.reloads[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stored responses of the sites' applications, and those dropped at start.
    #[must_use]
    pub fn stored_responses(&self) -> Option<(usize, u64)> {
        self.proxy_store
            .get()
            .map(|s| (s.stored_responses(), s.dropped_at_start()))
    }

    fn install(&self, hosts: VirtualHosts, policies: SitePolicies, config: EdgeConfig) {
        if let Some(i) = &self.images {
            i.set_policies(policies);
        }
        self.set_hosts(hosts);
        *self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(config);
    }

    /// Every site of `config`, reusing what the sites served now have when nothing of theirs
    /// changed; and each site's image policy by host.
    fn build_sites(
        self: &Arc<Self>,
        config: &EdgeConfig,
    ) -> Result<(VirtualHosts, SitePolicies), StartError> {
        let trusted = cidrs(&config.trusted_proxies).map_err(|why| ConfigError::Invalid {
            line: None,
            key: "trusted_proxies".into(),
            why,
        })?;
        let old = self.hosts();
        let mut sites = Vec::new();
        let mut policies = SitePolicies::default();
        for s in &config.sites {
            let name = s.name();
            let fail = |why: String| StartError::Site {
                site: name.clone(),
                why,
            };
            let proxy_config = s
                .origin
                .as_ref()
                .map(|origin| self.proxy_config(config, s, origin, &trusted))
                .transpose()?;
            let previous = old.all.iter().find(|v| *v.name == *name);
            let policy = Arc::new(image_policy(&s.images)?);
            for h in &s.hosts {
                let _ = policies.insert(h, policy.clone());
            }
            let kept =
                previous.filter(|v| v.proxy.as_ref().map(|p| p.config()) == proxy_config.as_ref());
            if let Some(v) = kept {
                if same_site(&v.config, s) && trusted_unchanged(self, config) {
                    sites.push(v.clone());
                    continue;
                }
            }
            let proxy = match (proxy_config, kept) {
                (None, _) => None,
                (Some(_), Some(v)) => v.proxy.clone(),
                (Some(pc), None) => Some(self.new_proxy(pc).map_err(|e| fail(e.to_string()))?),
            };
            let website = match &s.website {
                None => None,
                Some(vref) => Some(
                    website(s, vref, proxy.clone(), &trusted).map_err(|e| fail(e.to_string()))?,
                ),
            };
            let headers = s
                .headers
                .iter()
                .map(|(n, v)| {
                    Ok((
                        HeaderName::from_bytes(n.as_bytes()).map_err(|e| fail(e.to_string()))?,
                        HeaderValue::from_str(v).map_err(|e| fail(e.to_string()))?,
                    ))
                })
                .collect::<Result<Vec<_>, StartError>>()?;
            let mut mounts = s.parsed_mounts();
            mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
            let name: Arc<str> = Arc::from(name.as_str());
            sites.push(Arc::new(VirtualHost {
                counters: self.book.of(&name),
                name,
                config: s.clone(),
                proxy,
                mounts,
                website,
                headers,
            }));
        }
        Ok((VirtualHosts::new(sites), policies))
    }

    fn proxy_config(
        &self,
        config: &EdgeConfig,
        s: &SiteConfigFile,
        origin: &str,
        trusted: &[ipnet::IpNet],
    ) -> Result<ProxyConfig, StartError> {
        let fail = |why: String| StartError::Site {
            site: s.name(),
            why,
        };
        Ok(ProxyConfig {
            origin: origin.to_owned(),
            origin_ca: s.origin_ca.clone(),
            origin_timeout: Duration::from_secs(s.origin_timeout),
            body_timeout: Duration::from_secs(s.origin_body_timeout),
            max_object_size: config.cache.max_object_size.0,
            // Fills hold their bodies in memory: half of the memory, the chunk tier the other.
            fill_memory: split_memory(config.cache.memory.0).1,
            max_entries: config.cache.max_entries,
            purge_token: s.purge_token_file.as_deref().map(purge_token).transpose()?,
            credentials: CredentialRules::new(&s.credential_headers, &s.ignore_cookies)
                .map_err(|e| fail(e.to_string()))?,
            trusted_proxies: trusted.to_vec(),
            ..ProxyConfig::default()
        })
    }

    /// A site's proxy, storing with every other site's, purging only what its token covers.
    fn new_proxy(
        self: &Arc<Self>,
        config: ProxyConfig,
    ) -> Result<Arc<Proxy>, crate::proxy::origin::OriginError> {
        let shared = self
            .proxy_store
            .get_or_init(|| ProxyShared::open(&config, self.cache.clone()));
        let mut p = Proxy::with_shared(config, self.cache.clone(), shared)?;
        if let Some(i) = &self.images {
            p.set_images(i.clone());
        }
        // A purge removes what the sites sharing its token store, nothing of the others'.
        if let Some(token) = p.config().purge_token.clone() {
            let edge = Arc::downgrade(self);
            p.set_scope(Arc::new(move |key: &str| {
                edge.upgrade()
                    .is_some_and(|e| e.hosts().purgeable_with(&token, key))
            }));
        }
        Ok(Arc::new(p))
    }
}

/// Whether two sections of a site are the same (their lines aside).
fn same_site(a: &SiteConfigFile, b: &SiteConfigFile) -> bool {
    let mut b = b.clone();
    b.line = a.line;
    *a == b
}

/// Whether the trusted proxies are the ones in force.
fn trusted_unchanged(edge: &Edge, config: &EdgeConfig) -> bool {
    edge.config
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .is_some_and(|c| c.trusted_proxies == config.trusted_proxies)
}

/// A site's website: each exact host serves `vref`, with `api` prefixes to its application.
fn website(
    s: &SiteConfigFile,
    vref: &str,
    proxy: Option<Arc<Proxy>>,
    trusted: &[ipnet::IpNet],
) -> Result<Sites, crate::site::SiteConfigError> {
    let configs = s
        .hosts
        .iter()
        .filter_map(|h| match h {
            HostPattern::Exact(h) => Some(format!("{h}={vref}").parse::<SiteConfig>()),
            _ => None,
        })
        .collect::<Result<Vec<_>, _>>()?;
    let origin = s.origin.clone().unwrap_or_default();
    let api = s
        .api
        .iter()
        .map(|prefix| format!("{prefix}={origin}").parse::<ApiRoute>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sites::new(
        configs,
        api,
        proxy,
        Duration::from_secs(s.grace),
        s.allow_external_redirects,
    )?
    .with_trusted_proxies(trusted.to_vec()))
}

/// The transparency log's verifier key: `NAME+ID+KEY`, or a file holding it.
fn log_verifier(arg: &str) -> Result<tinycdn_tlog::LogVerifier, StartError> {
    let text = if arg.contains('+') && !Path::new(arg).exists() {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg).map_err(|e| StartError::File {
            what: "log key",
            path: arg.into(),
            why: e.to_string(),
        })?
    };
    tinycdn_tlog::LogVerifier::new(text.trim())
        .map_err(|e| StartError::Setup(format!("upstream.log_key: {e}")))
}
