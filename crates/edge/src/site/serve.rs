//! One request to a site: the API prefixes go to the application; everything else is a file of
//! the version the request is pinned to (see `tinycdn_site::pinning`), found by the site's rules,
//! with the headers they give it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tinycdn_core::manifest::Manifest;
use tinycdn_core::names::VolumePath;
use tinycdn_core::VersionId;
use tinycdn_http::route;
use tinycdn_server::body::Body;
use tinycdn_server::respond::{refuse_method, Reply};
use tinycdn_server::ConnInfo;
use tinycdn_site::caching::REVALIDATE;
use tinycdn_site::pinning::{cookie_value, is_navigation, set_cookie};
use tinycdn_site::{HeaderRules, Outcome, Redirects, Site};

use super::{SiteState, Sites, Target, VersionRules};
use crate::fabric::Fabric;

/// Headers a not-found page is served without: it is a whole 404, never a range or a 304.
const NOT_FOR_404: [HeaderName; 6] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

use tinycdn_core::time::unix_now_u64 as unix_now;

/// The site path of a request path: `/`, or `/` and a checked volume path, keeping a trailing
/// `/` (a directory); hostile paths are refused as the fabric refuses them.
fn site_path(raw: &str) -> Result<String, route::RouteError> {
    if raw == "/" {
        return Ok("/".into());
    }
    let trailing = raw.ends_with('/');
    let inner = raw.strip_prefix('/').unwrap_or(raw);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let p = route::mounted_path(inner)?;
    Ok(format!(
        "/{}{}",
        p.as_str(),
        if trailing { "/" } else { "" }
    ))
}

/// Whether `path` is a regular file of `manifest`.
fn has_file(manifest: &Manifest, path: &str) -> bool {
    manifest.find(path).is_some_and(|e| e.file().is_some())
}

/// A file to send: which version, which file, at which status.
struct Send<'a> {
    id: VersionId,
    rules: &'a Site,
    path: &'a str,
    file: &'a str,
    status: u16,
    cookie: Option<String>,
    preview: bool,
}

impl Sites {
    /// Answers a request for the site `t`.
    pub(crate) async fn serve(
        &self,
        fabric: &Arc<Fabric>,
        t: Target,
        req: Request<Incoming>,
        info: ConnInfo,
    ) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        if self.claims_api(req.uri().path()) {
            if let Some(p) = &self.proxy {
                return p.handle(req, info).await;
            }
        }
        // The pinning cookie is `Secure` when the client's connection is TLS: this edge's own,
        // or a trusted terminator's that says so; never because a client claims it.
        let https = info.tls
            || (crate::proxy::trusted(&self.trusted_proxies, info.peer.ip())
                && tinycdn_cache_policy::forwarding::forwarded_proto(req.headers())
                    == Some("https"));
        Box::pin(self.static_file(fabric, t, &req, https))
            .await
            .into_response(head)
    }

    /// The verified manifest of `id` and the site's rules in it (read once per version).
    async fn load(
        &self,
        fabric: &Fabric,
        site: &SiteState,
        id: VersionId,
    ) -> Result<(Arc<Manifest>, Arc<Site>), Reply> {
        let manifest = fabric.site_manifest(id).await?;
        if manifest.volume != site.config.volume {
            return Err(Reply::text(
                StatusCode::NOT_FOUND,
                "no such version of this site\n",
            ));
        }
        let rules = match site.rules_of(id) {
            Some(r) => r,
            None => {
                let r = self.parse_rules(fabric, &manifest).await?;
                site.keep_rules(id, r.clone());
                r
            }
        };
        match rules {
            Ok(r) => Ok((manifest, r)),
            Err(why) => Err(Reply::text(
                StatusCode::BAD_GATEWAY,
                format!(
                    "version {} of this site cannot be served: {why}\n",
                    id.short()
                ),
            )),
        }
    }

    /// A version's `_redirects` and `_headers`, parsed as `publish --site` parses them.
    async fn parse_rules(
        &self,
        fabric: &Fabric,
        manifest: &Manifest,
    ) -> Result<VersionRules, Reply> {
        let text = |name: &'static str,
                    bytes: Option<bytes::Bytes>|
         -> Result<Option<String>, String> {
            bytes
                .map(|b| String::from_utf8(b.to_vec()).map_err(|_| format!("{name} is not UTF-8")))
                .transpose()
        };
        let redirects = text(
            "_redirects",
            fabric.site_file(manifest, "_redirects").await?,
        );
        let headers = text("_headers", fabric.site_file(manifest, "_headers").await?);
        let parsed = (|| -> Result<Site, String> {
            let redirects = match redirects? {
                Some(t) => Redirects::parse(&t, self.allow_external_redirects)
                    .map_err(|e| format!("_redirects: {e}"))?,
                None => Redirects::default(),
            };
            let headers = match headers? {
                Some(t) => HeaderRules::parse(&t).map_err(|e| format!("_headers: {e}"))?,
                None => HeaderRules::default(),
            };
            // Cloudflare Pages' rule: a site without a top-level 404.html is a single-page app.
            let spa = !has_file(manifest, "404.html");
            Ok(Site {
                redirects,
                headers,
                spa,
            })
        })();
        Ok(parsed.map(Arc::new))
    }

    /// A file of the site (or a redirect, or a 404).
    async fn static_file<B>(
        &self,
        fabric: &Arc<Fabric>,
        t: Target,
        req: &Request<B>,
        https: bool,
    ) -> Reply {
        if let Some(refused) = refuse_method(req.method()) {
            return refused;
        }
        let site = &self.sites[t.index];
        let path = match site_path(req.uri().path()) {
            Ok(p) => p,
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                return Reply::text(status, format!("{e}\n"));
            }
        };
        let now = unix_now();
        let current = match t.preview {
            Some(id) => id,
            None => match fabric
                .site_version(&site.config.volume, &site.config.reference)
                .await
            {
                Ok(id) => id,
                Err(r) => return r,
            },
        };
        let preview = t.preview.is_some();
        let (pinned_to, requested) = if preview {
            (None, None)
        } else {
            self.pinned(site, req.headers(), current, now)
        };
        let h = req.headers();
        let (manifest, mut rules) = match self.load(fabric, site, current).await {
            Ok(found) => found,
            Err(r) => return r,
        };
        let mut outcome = rules.resolve(&path, &|p: &str| has_file(&manifest, p));
        let html = matches!(&outcome, Outcome::Serve { file, .. } if file.ends_with(".html"));
        let dest = h.get("sec-fetch-dest").and_then(|v| v.to_str().ok());
        let worker = h.get("service-worker").is_some_and(|v| v == "script");
        let navigation = is_navigation(dest, worker, html);
        let mut chosen = current;
        if let (Some(v), false) = (requested, navigation) {
            if let Ok((m, r)) = self.load(fabric, site, v).await {
                outcome = r.resolve(&path, &|p: &str| has_file(&m, p));
                (rules, chosen) = (r, v);
            }
        }
        let missing = matches!(
            outcome,
            Outcome::NotFound | Outcome::Serve { status: 404, .. }
        );
        if missing && !navigation && !preview {
            if let Some(r) = self
                .other_versions_file(fabric, site, req, &path, chosen, current, now)
                .await
            {
                return r;
            }
        }
        match outcome {
            Outcome::Serve { file, status } => {
                let cookie = (navigation && !preview && pinned_to != Some(chosen))
                    .then(|| set_cookie(&chosen.to_hex(), https));
                let send = Send {
                    id: chosen,
                    rules: &rules,
                    path: &path,
                    file: &file,
                    status,
                    cookie,
                    preview,
                };
                let counter = if preview {
                    &self.counters.previews
                } else {
                    &self.counters.served
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.send(fabric, site, req, &send).await
            }
            Outcome::Redirect { location, status } => {
                redirect(&location, status, req.uri().query(), chosen)
            }
            Outcome::NotFound => Reply::text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The version the request's cookie pins it to, and that version when it may still answer
    /// (current or within the grace period, and not the current one); records `current`.
    fn pinned(
        &self,
        site: &SiteState,
        h: &hyper::HeaderMap,
        current: VersionId,
        now: u64,
    ) -> (Option<VersionId>, Option<VersionId>) {
        let pinned_to = h
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(cookie_value)
            .and_then(|v| v.parse::<VersionId>().ok());
        let mut hist = site.history.lock().unwrap_or_else(PoisonError::into_inner);
        hist.observe(current, now);
        let requested = pinned_to.filter(|v| *v != current && hist.accepts(*v, now, self.grace));
        (pinned_to, requested)
    }

    /// A file the chosen version lacks, from the current version (when the request was pinned
    /// to an older one) or a version superseded within the grace period, newest first.
    #[allow(clippy::too_many_arguments)]
    async fn other_versions_file<B>(
        &self,
        fabric: &Arc<Fabric>,
        site: &SiteState,
        req: &Request<B>,
        path: &str,
        chosen: VersionId,
        current: VersionId,
        now: u64,
    ) -> Option<Reply> {
        let rel = path.trim_start_matches('/');
        if matches!(rel, "_headers" | "_redirects") || rel.is_empty() || path.ends_with('/') {
            return None;
        }
        let older = site
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_grace(now, self.grace);
        for v in std::iter::once(current).chain(older) {
            if v == chosen {
                continue;
            }
            let Ok((m, r)) = self.load(fabric, site, v).await else {
                continue;
            };
            if has_file(&m, rel) {
                if v != current {
                    self.counters.from_grace.fetch_add(1, Ordering::Relaxed);
                }
                let send = Send {
                    id: v,
                    rules: &r,
                    path,
                    file: rel,
                    status: 200,
                    cookie: None,
                    preview: false,
                };
                return Some(self.send(fabric, site, req, &send).await);
            }
        }
        None
    }

    /// Sends `s.file` of version `s.id` with the site's headers.
    async fn send<B>(
        &self,
        fabric: &Arc<Fabric>,
        site: &SiteState,
        req: &Request<B>,
        s: &Send<'_>,
    ) -> Reply {
        let mut inner = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone());
        for (name, value) in req.headers() {
            if s.status == 404 && NOT_FOR_404.contains(name) {
                continue;
            }
            inner = inner.header(name, value);
        }
        let Ok(inner) = inner.body(()) else {
            return Reply::text(StatusCode::BAD_REQUEST, "bad request\n");
        };
        let Ok(file) = VolumePath::new(s.file) else {
            return Reply::text(StatusCode::NOT_FOUND, "not found\n");
        };
        let mut reply = fabric
            .serve_file(&inner, &site.config.volume, &s.id.to_hex(), &file)
            .await;
        let ok = reply.status.is_success() || reply.status == StatusCode::NOT_MODIFIED;
        if !ok {
            return reply;
        }
        if s.status == 404 && reply.status == StatusCode::OK {
            reply.status = StatusCode::NOT_FOUND;
        }
        let mut immutable = false;
        for (name, value) in s.rules.headers(s.path, s.file) {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) else {
                continue;
            };
            if n == header::CACHE_CONTROL {
                immutable = value.contains("immutable");
            }
            reply.headers.insert(n, v);
        }
        if !s.preview && !immutable {
            // Which version answers depends on the pinning cookie.
            reply
                .headers
                .append(header::VARY, HeaderValue::from_static("Cookie"));
        }
        if s.preview {
            reply
                .headers
                .insert("x-robots-tag", HeaderValue::from_static("noindex"));
        }
        if let Some(c) = s
            .cookie
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            reply.headers.append(header::SET_COOKIE, c);
        }
        reply
    }
}

/// A redirect the site's rules (or its clean URLs) asked for, keeping the query when the target
/// names none.
fn redirect(location: &str, status: u16, query: Option<&str>, id: VersionId) -> Reply {
    let target = match query {
        Some(q) if !location.contains('?') => format!("{location}?{q}"),
        _ => location.to_owned(),
    };
    let (Ok(status), Ok(loc)) = (StatusCode::from_u16(status), HeaderValue::from_str(&target))
    else {
        return Reply::text(
            StatusCode::BAD_GATEWAY,
            "the site's redirect is not a valid URL\n",
        );
    };
    let mut r = Reply::text(status, format!("redirecting to {target}\n"));
    r.headers.insert(header::LOCATION, loc);
    r.headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    if let Ok(v) = HeaderValue::from_str(&id.to_hex()) {
        r.headers.insert("x-tinycdn-version", v);
    }
    r
}
