//! `tinycdn edge` (fabric, proxy, mounts) and `tinycdn purge`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tinycdn_cache_policy::credentials::CredentialRules;
use tinycdn_edge::images::{ImageConfig, Images};
use tinycdn_edge::proxy::purge::PurgeRequest;
use tinycdn_edge::{
    ApiRoute, ChunkCache, Edge, Fabric, Mount, Proxy, ProxyConfig, SiteConfig, Sites, Upstreams,
};
use tinycdn_image::policy::{Allowlist, Policy};
use tinycdn_volume::trust::Trust;

use crate::cli::{Cli, EdgeArgs, ImageEdgeArgs, RegionArgs};
use crate::commands::{now, parse_size, print_json, run_server_with, runtime};
use crate::trust::private_file;

/// Reads a token file (like a secret key: refused when other users can read it).
fn token(path: &Path) -> Result<String> {
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

/// The edge's purge token: a token file whose token has at least 128 bits of entropy.
fn edge_token(path: &Path) -> Result<String> {
    let t = token(path)?;
    tinycdn_edge::proxy::purge::check_token(&t)
        .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
    Ok(t)
}

/// Addresses and networks (`10.0.0.0/8`, `192.0.2.7`, `::1`) from a flag.
pub(crate) fn cidrs(flag: &str, items: &[String]) -> Result<Vec<ipnet::IpNet>> {
    items
        .iter()
        .map(|v| {
            let v = v.trim();
            v.parse::<ipnet::IpNet>()
                .or_else(|_| v.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!("{flag}: `{v}` is not an address or a network (`10.0.0.0/8`)")
                })
        })
        .collect()
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

/// The image engine's configuration from the flags (`None`: `--no-images`).
fn image_config(a: &ImageEdgeArgs) -> Result<Option<ImageConfig>> {
    if a.no_images {
        return Ok(None);
    }
    let mut c = ImageConfig::default();
    let named = a.image_widths.is_some() || a.image_qualities.is_some();
    let mut allow = Allowlist::default();
    if let Some(w) = &a.image_widths {
        allow.sides = list("--image-widths", w)?;
    }
    if let Some(q) = &a.image_qualities {
        allow.qualities = list("--image-qualities", q)?;
    }
    c.policy = Policy {
        keys: Vec::new(),
        allow: Some(allow),
        legacy_signatures: a.image_sign_legacy,
    };
    if let Some(path) = &a.image_sign_keys {
        let keys = tinycdn_image::policy::parse_keys(&private_file(path, "key file")?);
        if keys.is_empty() {
            bail!("{} holds no key (one per line)", path.display());
        }
        c.policy.keys = keys;
        if !named {
            c.policy.allow = None;
        }
    }
    if a.image_allow_any {
        c.policy = Policy::default();
    }
    if let Some(n) = a.image_workers {
        c.workers = n.max(1);
    }
    c.queue = a.image_queue;
    c.no_store = a.image_no_store;
    c.timeout = Duration::from_secs(a.image_timeout.max(1));
    c.limits.max_source_pixels = a.image_max_pixels;
    c.limits.max_memory = parse_size(&a.image_memory)?;
    Ok(Some(c))
}

/// The region this edge joins, from the flags (`None`: it is in none).
fn region_config(a: &RegionArgs, listen: &str) -> Result<Option<tinycdn_edge::RegionConfig>> {
    use tinycdn_edge::region::{bind_address, MemberSource};
    use tinycdn_region::{parse_dns_target, Member, Members};
    let source = if !a.peers.is_empty() {
        let members = a
            .peers
            .iter()
            .map(|p| Member::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        MemberSource::Static(Members::new(members)?)
    } else if let Some(path) = &a.peers_file {
        MemberSource::File(path.clone())
    } else if let Some(spec) = &a.peers_dns {
        let (name, port) = parse_dns_target(spec)?;
        MemberSource::Dns {
            name,
            port,
            server: a.peers_dns_server,
        }
    } else {
        if a.advertise.is_some() {
            bail!("--advertise names this edge among its region's members: give them with --peer, --peers-file or --peers-dns");
        }
        return Ok(None);
    };
    let advertise = a.advertise.clone().unwrap_or_default();
    let bind = listen
        .parse()
        .ok()
        .and_then(|l| bind_address(&Member::normalise(&advertise).ok()?, l));
    Ok(Some(tinycdn_edge::RegionConfig {
        advertise,
        source,
        refresh: Duration::from_secs(a.peers_refresh.max(1)),
        timeout: Duration::from_secs(a.peer_timeout.max(1)),
        bind,
    }))
}

/// The member source, for the start-up line.
fn region_source(source: &tinycdn_edge::MemberSource) -> String {
    match source {
        tinycdn_edge::MemberSource::Static(m) => format!("{} listed peers", m.as_slice().len()),
        tinycdn_edge::MemberSource::File(p) => format!("the peers in {}", p.display()),
        tinycdn_edge::MemberSource::Dns { name, port, .. } => {
            format!("the addresses of {name} on port {port}")
        }
    }
}

/// Runs `tinycdn edge` until stopped.
pub(crate) fn edge(a: &EdgeArgs) -> Result<()> {
    let images = image_config(&a.images)?;
    let region = region_config(&a.region, &a.listen)?;
    let mounts: Vec<Mount> = a
        .mounts
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, _>>()?;
    let log_key = a.log_key.as_deref().map(crate::log::verifier).transpose()?;
    let fabric = if a.upstreams.is_empty() {
        None
    } else {
        let trust = Trust::load(&a.trust)?;
        // An expired root is not used to fill the cache.
        trust.check_fresh(now())?;
        let upstreams = Upstreams::with_ca(
            &a.upstreams,
            Duration::from_secs(a.upstream_timeout),
            a.upstream_ca.as_deref(),
        )?;
        Some((upstreams, trust))
    };
    let sites: Vec<SiteConfig> = a
        .sites
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let site_api: Vec<ApiRoute> = a
        .site_api
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let api_origin = site_api.first().map(|r| r.origin.clone());
    if let Some(app) = &api_origin {
        if site_api.iter().any(|r| r.origin != *app) || a.origin.as_ref().is_some_and(|o| o != app)
        {
            bail!("every --site-api must name the same application, and --origin's when it is given: one application per edge");
        }
    }
    let trusted_proxies = cidrs("--trusted-proxies", &a.trusted_proxies)?;
    let proxy_config = |origin: &str| -> Result<ProxyConfig> {
        Ok(ProxyConfig {
            origin: origin.to_owned(),
            origin_ca: a.origin_ca.clone(),
            origin_timeout: Duration::from_secs(a.origin_timeout),
            body_timeout: Duration::from_secs(a.origin_body_timeout),
            max_object_size: parse_size(&a.max_object_size)?,
            // Fills hold their bodies in memory: half of --memory, the chunk tier the other half.
            fill_memory: tinycdn_edge::cache::split_memory(parse_size(&a.memory)?).1,
            max_entries: a.max_entries,
            purge_token: a.purge_token_file.as_deref().map(edge_token).transpose()?,
            credentials: CredentialRules::new(&a.credential_header, &a.ignore_cookie)?,
            trusted_proxies: trusted_proxies.clone(),
            ..ProxyConfig::default()
        })
    };
    let proxy = a.origin.as_deref().map(proxy_config).transpose()?;
    // The sites' API has a proxy of its own when the edge fronts no application otherwise.
    let api_proxy = match (&api_origin, &a.origin) {
        (Some(app), None) => Some(proxy_config(app)?),
        _ => None,
    };
    let disk = parse_size(&a.cache_size)?;
    let memory = tinycdn_edge::cache::split_memory(parse_size(&a.memory)?).0;
    let mut roles = Vec::new();
    if let Some((u, _)) = &fabric {
        let names: Vec<&str> = u
            .mirrors()
            .iter()
            .map(tinycdn_fetch::Mirror::base)
            .collect();
        roles.push(format!("tinycdn upstreams {}", names.join(", ")));
    }
    if let Some(p) = &proxy {
        roles.push(format!("the application at {}", p.origin));
    }
    for m in &mounts {
        roles.push(format!("{}@{} at {}/", m.volume, m.reference, m.prefix));
    }
    for s in &sites {
        roles.push(format!(
            "{}@{} as the site {}",
            s.volume, s.reference, s.host
        ));
    }
    if let Some(r) = &region {
        roles.push(format!("a region with {}", region_source(&r.source)));
    }
    let what = format!("edge in front of {}", roles.join("; "));
    let cache_dir = a.cache_dir.clone();
    let cache_policy: tinycdn_edge::cache::DiskKind =
        a.cache_policy.parse().map_err(anyhow::Error::msg)?;
    let scrub_rate = parse_size(&a.scrub_rate)?;
    let pop = a.server.pop.clone();
    let (site_grace, allow_external) = (a.site_grace, a.site_allow_external_redirects);
    let tag_max_age = a.tag_max_age;
    let site_trusted = trusted_proxies.clone();
    let admin_policy = tinycdn_edge::AdminPolicy {
        separate: a.admin_listen.is_some(),
        allow: if a.admin_allow.is_empty() {
            tinycdn_edge::admin::default_allow()
        } else {
            cidrs("--admin-allow", &a.admin_allow)?
        },
    };
    let admin = a.admin_listen.as_deref().map(|addr| {
        (addr, |e: &Arc<Edge>| {
            Arc::new(tinycdn_edge::AdminSide(e.clone()))
        })
    });
    run_server_with(
        &a.listen,
        &what,
        &a.server,
        move || -> Result<_> {
            let cache = Arc::new(ChunkCache::with_policy(
                memory,
                cache_dir.as_deref().map(|d| (d, disk)),
                cache_policy,
            )?);
            cache.start_scrub(scrub_rate);
            let images = images.map(|c| Arc::new(Images::new(c, cache.clone())));
            let mut fabric = fabric.map(|(u, t)| Fabric::new(u, t, cache.clone()));
            if let (Some(f), Some(key)) = (&mut fabric, &log_key) {
                f.set_log(key.clone());
            }
            if let Some(f) = &mut fabric {
                f.set_tag_max_age(tag_max_age);
                if let Some(config) = region {
                    let handle = tokio::runtime::Handle::current();
                    let region = tokio::task::block_in_place(|| {
                        handle.block_on(tinycdn_edge::Region::start(config))
                    })?;
                    eprintln!(
                        "region: this edge is {}, one of {} members",
                        region.me(),
                        region.members().as_slice().len()
                    );
                    f.set_region(region);
                }
            }
            let mut proxy = proxy.map(|c| Proxy::new(c, cache.clone())).transpose()?;
            if let Some(i) = &images {
                if let Some(f) = &mut fabric {
                    f.set_images(i.clone());
                }
                if let Some(p) = &mut proxy {
                    p.set_images(i.clone());
                }
            }
            if let Some(p) = &proxy {
                eprintln!(
                    "{} stored responses reloaded from the cache disk{}",
                    p.stored_responses(),
                    match p.dropped_at_start() {
                        0 => String::new(),
                        n => format!(" ({n} unreadable or incomplete ones dropped)"),
                    }
                );
            }
            let api_proxy = api_proxy
                .map(|c| Proxy::new(c, cache.clone()).map(Arc::new))
                .transpose()?;
            let edge = Edge::with_images(cache, fabric, proxy, mounts, images);
            if !sites.is_empty() {
                let shared = api_origin
                    .as_ref()
                    .and(api_proxy.or_else(|| edge.shared_proxy()));
                edge.set_sites(
                    Sites::new(
                        sites,
                        site_api,
                        shared,
                        Duration::from_secs(site_grace),
                        allow_external,
                    )?
                    .with_trusted_proxies(site_trusted),
                );
            }
            edge.set_pop(&pop);
            edge.set_admin(admin_policy);
            edge.start_root()?;
            Ok(edge)
        },
        admin,
    )
}

/// Runs `tinycdn purge`.
pub(crate) fn purge(
    cli: &Cli,
    edge: &str,
    token_file: &Path,
    request: &PurgeRequest,
) -> Result<()> {
    if request.urls.is_empty() && request.prefixes.is_empty() && request.keys.is_empty() {
        bail!("name something to purge: --url, --prefix or --key");
    }
    let token = token(token_file)?;
    let purged = runtime()?
        .block_on(tinycdn_edge::proxy::purge::send(edge, &token, request))
        .with_context(|| format!("purging at {edge}"))?;
    if cli.json {
        print_json(&json!({ "purged": purged, "soft": request.soft }))?;
    } else {
        writeln!(
            std::io::stdout().lock(),
            "{} {purged} stored response{}",
            if request.soft {
                "marked stale"
            } else {
                "purged"
            },
            if purged == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}
