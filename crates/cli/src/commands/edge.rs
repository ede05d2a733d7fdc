//! `tinycdn edge` (fabric, proxy, mounts) and `tinycdn purge`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use tinycdn_edge::config::{
    size, EdgeConfig, HostPattern, RegionConfigFile, SiteConfigFile, Size, TlsConfig,
};
use tinycdn_edge::{ApiRoute, Edge, Mount, SiteConfig, StartError};

use crate::cli::EdgeArgs;
use crate::commands::trust::private_file;
use crate::context::Ctx;
use crate::output::Usage;
use crate::serving::{run_server_with, Reload, Serving};

/// Reads a token file (like a secret key: refused when other users can read it).
pub(crate) fn token(path: &Path) -> Result<String> {
    let text = private_file(path, "token")?;
    let token = text.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "{} must hold one token: no spaces or control characters",
            path.display()
        );
    }
    Ok(token.to_owned())
}

/// A configuration error: exit 2, named after the file when there is one.
fn usage(file: Option<&Path>, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Usage(match file {
        Some(f) => format!("{}: {e}", f.display()),
        None => e.to_string(),
    }))
}

/// Which flags were given on the command line (or in the environment), as opposed to their
/// defaults: with `--config`, only those override the file.
struct Given {
    all: bool,
    matches: Option<clap::ArgMatches>,
}

impl Given {
    fn new(all: bool) -> Self {
        use clap::CommandFactory;
        let matches = (!all).then(|| {
            crate::cli::Cli::command()
                .get_matches()
                .subcommand_matches("edge")
                .cloned()
        });
        Self {
            all,
            matches: matches.flatten(),
        }
    }

    fn has(&self, id: &str) -> bool {
        self.all
            || self.matches.as_ref().is_some_and(|m| {
                matches!(
                    m.value_source(id),
                    Some(
                        clap::parser::ValueSource::CommandLine
                            | clap::parser::ValueSource::EnvVariable
                    )
                )
            })
    }
}

/// The configuration: the file (if any), then the flags given.
fn effective(a: &EdgeArgs) -> Result<EdgeConfig> {
    let mut c = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(Some(path), format!("cannot read: {e}")))?;
            EdgeConfig::parse(&text, path).map_err(|e| usage(Some(path), e))?
        }
        None => EdgeConfig::default(),
    };
    let given = Given::new(a.config.is_none());
    apply_flags(&mut c, a, &given)?;
    c.check("").map_err(|e| usage(a.config.as_deref(), e))?;
    Ok(c)
}

/// Puts the flags given on `c`.
#[allow(clippy::too_many_lines)]
fn apply_flags(c: &mut EdgeConfig, a: &EdgeArgs, g: &Given) -> Result<()> {
    let size = |flag: &str, v: &str| -> Result<Size> {
        size::parse(v)
            .map(Size)
            .map_err(|e| usage(None, format!("--{flag}: {e}")))
    };
    let s = &a.server;
    macro_rules! set {
        ($id:literal, $target:expr, $value:expr) => {
            if g.has($id) {
                $target = $value;
            }
        };
    }
    set!("listen", c.listen, a.listen.clone());
    set!("reuse_port", c.reuse_port, a.reuse_port);
    set!("upgrade_socket", c.upgrade_socket, a.upgrade_socket.clone());
    set!("pop", c.pop, s.pop.clone());
    set!(
        "trusted_proxies",
        c.trusted_proxies,
        a.trusted_proxies.clone()
    );
    if g.has("tls_cert") {
        c.tls = s
            .tls_cert
            .clone()
            .zip(s.tls_key.clone())
            .map(|(cert, key)| TlsConfig { cert, key });
    }
    set!("admin_listen", c.admin.listen, a.admin_listen.clone());
    set!("admin_allow", c.admin.allow, a.admin_allow.clone());
    let l = &mut c.limits;
    set!("max_connections", l.max_connections, s.max_connections);
    set!(
        "max_connections_per_ip",
        l.max_connections_per_ip,
        s.max_connections_per_ip
    );
    set!("header_timeout", l.header_timeout, s.header_timeout);
    set!("idle_timeout", l.idle_timeout, s.idle_timeout);
    set!("send_timeout", l.send_timeout, s.send_timeout);
    set!("drain_delay", l.drain_delay, s.drain_delay);
    set!("drain_timeout", l.drain_timeout, s.drain_timeout);
    let k = &mut c.cache;
    set!("cache_dir", k.dir, a.cache_dir.clone());
    set!("cache_size", k.size, size("cache-size", &a.cache_size)?);
    set!("memory", k.memory, size("memory", &a.memory)?);
    set!("cache_policy", k.policy, a.cache_policy.clone());
    set!(
        "scrub_rate",
        k.scrub_rate,
        size("scrub-rate", &a.scrub_rate)?
    );
    set!(
        "max_object_size",
        k.max_object_size,
        size("max-object-size", &a.max_object_size)?
    );
    set!("max_entries", k.max_entries, a.max_entries);
    let u = &mut c.upstream;
    set!("upstreams", u.mirrors, a.upstreams.clone());
    set!("trust", u.trust, a.trust.clone());
    set!("upstream_ca", u.ca, a.upstream_ca.clone());
    set!("upstream_timeout", u.timeout, a.upstream_timeout);
    set!("log_key", u.log_key, a.log_key.clone());
    set!("tag_max_age", u.tag_max_age, a.tag_max_age);
    let i = &a.images;
    let e = &mut c.images;
    set!("no_images", e.enabled, !i.no_images);
    set!("image_workers", e.workers, i.image_workers);
    set!("image_queue", e.queue, i.image_queue);
    set!("image_timeout", e.timeout, i.image_timeout);
    set!("image_max_pixels", e.max_pixels, i.image_max_pixels);
    set!(
        "image_memory",
        e.memory,
        size("image-memory", &i.image_memory)?
    );
    set!("image_no_store", e.no_store, i.image_no_store);
    let r = &a.region;
    if g.has("advertise") {
        c.region = r.advertise.as_ref().map(|advertise| RegionConfigFile {
            advertise: advertise.clone(),
            peers: r.peers.clone(),
            peers_file: r.peers_file.clone(),
            peers_dns: r.peers_dns.clone(),
            peers_dns_server: r.peers_dns_server.map(|s| s.to_string()),
            refresh: r.peers_refresh,
            peer_timeout: r.peer_timeout,
        });
    } else if !r.peers.is_empty() || r.peers_file.is_some() || r.peers_dns.is_some() {
        bail!("--advertise names this edge among its region's members: give them with --peer, --peers-file or --peers-dns");
    }
    if g.has("access_log") {
        c.log.access.clone_from(&s.access_log);
    }
    set!(
        "access_log_format",
        c.log.format,
        s.access_log_format.clone()
    );
    set!("access_log_buffer", c.log.buffer, s.access_log_buffer);
    set!(
        "otlp_endpoint",
        c.log.otlp_endpoint,
        s.otlp_endpoint.clone()
    );
    set!("trace_sample", c.log.trace_sample, s.trace_sample);
    site_flags(c, a, g)
}

/// The flags of one site (`--origin`, `--mount`, images, purge, credentials) go to the default
/// site (`*`); each `--site` is a website site of its own.
fn site_flags(c: &mut EdgeConfig, a: &EdgeArgs, g: &Given) -> Result<()> {
    let site_level = [
        "origin",
        "origin_ca",
        "origin_timeout",
        "origin_body_timeout",
        "mounts",
        "purge_token_file",
        "credential_header",
        "ignore_cookie",
        "image_sign_keys",
        "image_sign_legacy",
        "image_widths",
        "image_qualities",
        "image_allow_any",
    ];
    let from_flags = a.config.is_none();
    let any_site_flag = site_level.iter().any(|id| !from_flags && g.has(id));
    // Without a file: the default site exists when there is something for it to serve.
    let wants_default = if from_flags {
        a.origin.is_some() || !a.mounts.is_empty() || a.sites.is_empty()
    } else {
        any_site_flag
    };
    if wants_default && !c.sites.iter().any(|s| s.hosts.contains(&HostPattern::Any)) {
        if !from_flags {
            bail!(usage(a.config.as_deref(), "the flags of a site (--origin, --mount, --image-*, --purge-token-file, ...) apply to the default site: add a [[site]] with hosts = [\"*\"]"));
        }
        c.sites.push(SiteConfigFile::new(vec![HostPattern::Any]));
    }
    if wants_default {
        let Some(d) = c
            .sites
            .iter_mut()
            .find(|s| s.hosts.contains(&HostPattern::Any))
        else {
            return Ok(());
        };
        macro_rules! set {
            ($id:literal, $target:expr, $value:expr) => {
                if g.has($id) {
                    $target = $value;
                }
            };
        }
        set!("origin", d.origin, a.origin.clone());
        set!("origin_ca", d.origin_ca, a.origin_ca.clone());
        set!("origin_timeout", d.origin_timeout, a.origin_timeout);
        set!(
            "origin_body_timeout",
            d.origin_body_timeout,
            a.origin_body_timeout
        );
        if g.has("mounts") {
            d.mounts = a
                .mounts
                .iter()
                .map(|m| {
                    let parsed: Mount = m.parse()?;
                    Ok((
                        parsed.prefix.clone(),
                        format!("{}@{}", parsed.volume, parsed.reference),
                    ))
                })
                .collect::<Result<_>>()?;
        }
        set!(
            "purge_token_file",
            d.purge_token_file,
            a.purge_token_file.clone()
        );
        set!(
            "credential_header",
            d.credential_headers,
            a.credential_header.clone()
        );
        set!("ignore_cookie", d.ignore_cookies, a.ignore_cookie.clone());
        image_flags(&mut d.images, a, g)?;
    }
    // `--site HOST=VOLUME@REF`: a site each, its `--site-api` prefixes answered by the one
    // application they name.
    let api: Vec<ApiRoute> = a
        .site_api
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    if let Some(app) = api.first().map(|r| r.origin.clone()) {
        if api.iter().any(|r| r.origin != app) || a.origin.as_ref().is_some_and(|o| *o != app) {
            bail!("every --site-api must name the same application, and --origin's when it is given: one application per edge");
        }
    }
    // Websites from `--site` take the default site's image policy, or the `--image-*` flags.
    let default_images = match c.sites.iter().find(|s| s.hosts.contains(&HostPattern::Any)) {
        Some(d) => d.images.clone(),
        None => {
            let mut p = tinycdn_edge::config::ImagePolicyConfig::default();
            image_flags(&mut p, a, g)?;
            p
        }
    };
    for w in &a.sites {
        let w: SiteConfig = w.parse()?;
        let mut site = SiteConfigFile::new(vec![HostPattern::Exact(w.host.clone())]);
        site.website = Some(format!("{}@{}", w.volume, w.reference));
        site.grace = a.site_grace;
        site.allow_external_redirects = a.site_allow_external_redirects;
        if let Some(r) = api.first() {
            site.origin = Some(r.origin.clone());
            site.api = api.iter().map(|r| r.prefix.clone()).collect();
            site.purge_token_file.clone_from(&a.purge_token_file);
            site.credential_headers.clone_from(&a.credential_header);
            site.ignore_cookies.clone_from(&a.ignore_cookie);
        }
        site.images = default_images.clone();
        c.sites.push(site);
    }
    Ok(())
}

/// The `--image-*` flags given, on a site's image policy.
fn image_flags(
    p: &mut tinycdn_edge::config::ImagePolicyConfig,
    a: &EdgeArgs,
    g: &Given,
) -> Result<()> {
    let i = &a.images;
    if g.has("image_sign_keys") {
        p.sign_keys.clone_from(&i.image_sign_keys);
    }
    if g.has("image_sign_legacy") {
        p.legacy_signatures = i.image_sign_legacy;
    }
    if g.has("image_allow_any") {
        p.allow_any = i.image_allow_any;
    }
    if g.has("image_widths") {
        p.widths = i
            .image_widths
            .as_deref()
            .map(|w| list("--image-widths", w))
            .transpose()?;
    }
    if g.has("image_qualities") {
        p.qualities = i
            .image_qualities
            .as_deref()
            .map(|q| list("--image-qualities", q))
            .transpose()?;
    }
    Ok(())
}

fn list<T: std::str::FromStr>(flag: &str, text: &str) -> Result<Vec<T>> {
    text.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{flag}: `{v}` is not a number"))
        })
        .collect()
}

/// How the edge runs, from its configuration.
fn serving(c: &EdgeConfig, take_over: bool) -> Serving {
    let l = &c.limits;
    Serving {
        listen: c.listen.clone(),
        admin_listen: c.admin.listen.clone(),
        limits: tinycdn_server::Limits {
            max_connections: l.max_connections,
            header_timeout: Duration::from_secs(l.header_timeout),
            idle_timeout: Duration::from_secs(l.idle_timeout),
            send_timeout: Duration::from_secs(l.send_timeout),
            max_connections_per_ip: l.max_connections_per_ip,
            ..tinycdn_server::Limits::default()
        },
        drain_delay: Duration::from_secs(l.drain_delay),
        drain_timeout: Duration::from_secs(l.drain_timeout),
        tls: c.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
        pop: c.pop.clone(),
        access_log: c
            .log
            .access
            .clone()
            .map(|p| (p, c.log.format.clone(), c.log.buffer)),
        otlp: c.log.otlp_endpoint.clone().map(|e| (e, c.log.trace_sample)),
        reuse_port: c.reuse_port,
        upgrade_socket: c.upgrade_socket.clone(),
        take_over,
    }
}

/// The start-up line: what the edge is in front of.
fn describe(c: &EdgeConfig) -> String {
    let mut roles = Vec::new();
    if !c.upstream.mirrors.is_empty() {
        roles.push(format!(
            "tinycdn upstreams {}",
            c.upstream.mirrors.join(", ")
        ));
    }
    for s in &c.sites {
        let hosts: Vec<String> = s.hosts.iter().map(ToString::to_string).collect();
        let mut what = Vec::new();
        if let Some(o) = &s.origin {
            what.push(format!("the application at {o}"));
        }
        for (p, v) in &s.mounts {
            what.push(format!("{v} at {p}/"));
        }
        if let Some(w) = &s.website {
            what.push(format!("{w} as the site {}", hosts.join(" ")));
        }
        if !what.is_empty() {
            roles.push(format!("{} ({})", what.join(", "), hosts.join(" ")));
        }
    }
    if let Some(r) = &c.region {
        roles.push(format!("a region advertised as {}", r.advertise));
    }
    format!("edge in front of {}", roles.join("; "))
}

/// Errors of [`Edge::start`] and reloads, for the exit code: trust and rollbacks are integrity
/// problems (3), files and rules usage (2).
fn start_error(file: Option<&Path>, e: StartError) -> anyhow::Error {
    match e {
        StartError::Trust(v) => anyhow::Error::new(v),
        StartError::Root(r) => anyhow::Error::new(r),
        StartError::Setup(s) => anyhow::anyhow!(s),
        other => usage(file, other),
    }
}

/// Runs `tinycdn edge` until stopped.
pub fn run(_ctx: &Ctx, a: &EdgeArgs) -> Result<std::process::ExitCode> {
    edge(a)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn edge(a: &EdgeArgs) -> Result<()> {
    let config = effective(a)?;
    if a.check {
        tinycdn_edge::check_files(&config).map_err(|e| start_error(a.config.as_deref(), e))?;
        if let Some(t) = &config.tls {
            tinycdn_server::tls::acceptor(&t.cert, &t.key)
                .map_err(|e| usage(a.config.as_deref(), e))?;
        }
        write!(std::io::stdout().lock(), "{}", config.redacted_toml())?;
        eprintln!(
            "{}: valid: {} site(s)",
            a.config
                .as_deref()
                .map_or("the flags".into(), |p| p.display().to_string()),
            config.sites.len()
        );
        return Ok(());
    }
    let what = describe(&config);
    let serving = serving(&config, a.take_over);
    let file = a.config.clone();
    let admin = config
        .admin
        .listen
        .is_some()
        .then_some(|e: &Arc<Edge>| Arc::new(tinycdn_edge::AdminSide(e.clone())));
    // SIGHUP: the file is read and checked again; a wrong one leaves the sites as they are.
    let reload: Option<Reload<Edge>> = a.config.clone().map(|path| {
        let args = Arc::new(ReloadArgs::capture());
        Box::new(move |edge: &Arc<Edge>| {
            let outcome = match args.effective(&path) {
                Ok(c) => edge.reload(c).map_err(|e| start_error(Some(&path), e)),
                Err(e) => {
                    edge.reload_failed();
                    Err(e)
                }
            };
            match outcome {
                Ok(pending) => {
                    eprintln!(
                        "reload: {} applied: sites {}",
                        path.display(),
                        edge.site_names().join(", ")
                    );
                    if !pending.is_empty() {
                        eprintln!(
                            "reload: {} changed and take effect at the next upgrade or restart",
                            pending.join(", ")
                        );
                    }
                }
                Err(e) => {
                    eprintln!(
                        "reload: {} refused, the running configuration stays: {e:#}",
                        path.display()
                    );
                }
            }
        }) as Reload<Edge>
    });
    let on_disk = config.cache.dir.is_some();
    run_server_with(
        &serving,
        &what,
        move || -> Result<_> {
            let handle = tokio::runtime::Handle::current();
            let edge = tokio::task::block_in_place(|| handle.block_on(Edge::start(config)))
                .map_err(|e| start_error(file.as_deref(), e))?;
            if !on_disk {
                eprintln!(
                    "the cache is in memory only: it starts empty after a restart \
                     (give --cache-dir DIR to keep it on disk)"
                );
            } else if let Some((n, dropped)) = edge.stored_responses() {
                eprintln!(
                    "{n} stored responses reloaded from the cache disk{}",
                    match dropped {
                        0 => String::new(),
                        d => format!(" ({d} unreadable or incomplete ones dropped)"),
                    }
                );
            }
            Ok(edge)
        },
        admin,
        reload,
    )
}

/// What a reload needs of the command line: the flags given, which override the file again.
struct ReloadArgs {
    argv: Vec<std::ffi::OsString>,
}

impl ReloadArgs {
    fn capture() -> Self {
        Self {
            argv: std::env::args_os().collect(),
        }
    }

    /// The file read again, the same flags over it.
    fn effective(&self, path: &Path) -> Result<EdgeConfig> {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(&self.argv)?;
        let crate::cli::Command::Edge(a) = &cli.command else {
            bail!("not an edge command line");
        };
        let mut a = a.clone();
        a.config = Some(path.to_owned());
        effective(&a)
    }
}
