//! Image variants of an application's images. A request for an image path (by its extension)
//! whose query carries image keys is answered from the source URL without them: the source is
//! looked up, validated or filled like any request, under the application's caching rules, and
//! the variant is named by the stored body's hash. When the source changes, so does its hash,
//! and new variants are made; the variant is sent with the source's `Cache-Control` and `Age`.
//! A source that may not be stored gives a variant that is not kept either.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use tinycdn_cache_policy::key::{origin_of, primary_key};
use tinycdn_cache_policy::{decide, CacheStatus, RequestDirectives, Reuse};
use tinycdn_image::params::{FormatChoice, Split};
use tinycdn_image::variant_name;
use tinycdn_server::body::Body;
use tinycdn_server::respond::Reply;

use super::forward::Target;
use super::respond::{finish_head, text};
use super::store::{Entry, Lookup};
use super::{unix_now, Proxy};
use tinycdn_edge_cache::images::{normalise, source_format, Failure, Images, Sending, Variant};

/// Extensions of paths whose queries may ask for image variants.
const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "avif", "gif", "jfif"];

/// Whether `path` names an image by its extension (so that `?w=` or `?q=` on other paths stay
/// the application's).
#[must_use]
pub fn is_image_path(path: &str) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// Request fields that would make the source request conditional or partial.
const DROPPED: [header::HeaderName; 6] = [
    header::RANGE,
    header::IF_RANGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
];

impl Proxy {
    /// A fresh stored response for `key`, with its current age.
    fn fresh_entry(&self, key: &str, headers: &HeaderMap) -> Option<(Arc<Entry>, u64)> {
        let Lookup::Found(e) = self.responses.lookup(key, headers) else {
            return None;
        };
        if !e
            .record
            .chunks
            .iter()
            .all(|(id, _)| self.cache.contains(id))
        {
            return None;
        }
        let rd = RequestDirectives::from_request(headers);
        let d = decide(&e.stored(), headers, &rd, unix_now());
        matches!(d.reuse, Reuse::Fresh).then_some((e, d.age))
    }

    /// A stored body, whole, from the chunk cache (verified when read from disk).
    async fn stored_bytes(&self, e: &Entry) -> Option<Bytes> {
        if let [(id, _)] = e.record.chunks[..] {
            // One chunk: its bytes are the body's, shared, not copied.
            return self.cache.get(&id).await;
        }
        let mut whole = Vec::with_capacity(usize::try_from(e.record.body_len).unwrap_or(0));
        for (id, _) in &e.record.chunks {
            whole.extend_from_slice(&self.cache.get(id).await?);
        }
        Some(Bytes::from(whole))
    }

    /// Answers a request for a variant of the image at `t` without its image keys.
    pub(super) async fn image(
        self: &Arc<Self>,
        t: &Target,
        parts: Parts,
        split: Split,
        images: Arc<Images>,
    ) -> Response<Body> {
        let head = parts.method == Method::HEAD;
        let cs = CacheStatus::default();
        let fail = |f: Failure| {
            let mut r = f.reply().into_response(head);
            finish_head(r.headers_mut(), &parts, &self.via, &cs);
            r
        };
        let path = t.path_and_query.split('?').next().unwrap_or("/");
        if let Err(f) = images.check(&t.host, path, &split) {
            return fail(f);
        }
        let pq = if split.rest.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", split.rest)
        };
        let key = match primary_key(t.scheme, &t.host, &pq) {
            Ok(k) => k,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("{e}\n"),
                    &parts,
                    &self.via,
                    &cs,
                )
            }
        };
        let source_t = Target {
            path_and_query: key[origin_of(&key).len()..].to_owned(),
            key,
            scheme: t.scheme,
            host: t.host.clone(),
            client: t.client,
            trusted: t.trusted,
        };
        let mut sp = super::forward::clone_parts(&parts);
        sp.method = Method::GET;
        sp.uri = match pq.parse() {
            Ok(u) => u,
            Err(_) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "bad path\n",
                    &parts,
                    &self.via,
                    &cs,
                )
            }
        };
        for f in &DROPPED {
            sp.headers.remove(f);
        }
        sp.headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        // The source: fresh from the cache, or through the cache's own lookup, validation and
        // fill (whose answer is read whole here).
        let (entry, age, body) = match self.fresh_entry(&source_t.key, &sp.headers) {
            Some((e, age)) => (Some(e), age, None),
            None => {
                let resp = Box::pin(self.cached(&source_t, super::forward::clone_parts(&sp))).await;
                if resp.status() != StatusCode::OK {
                    return resp;
                }
                let max = images.limits().max_source_bytes;
                let collected = http_body_util::Limited::new(
                    resp.into_body(),
                    usize::try_from(max).unwrap_or(usize::MAX),
                )
                .collect()
                .await;
                let Ok(c) = collected else {
                    return fail(Failure::Status(
                        502,
                        format!(
                            "the source image could not be read whole (or is above {max} bytes)"
                        ),
                    ));
                };
                let fresh = self.fresh_entry(&source_t.key, &sp.headers);
                (
                    fresh.as_ref().map(|(e, _)| e.clone()),
                    fresh.map_or(0, |(_, a)| a),
                    Some(c.to_bytes()),
                )
            }
        };
        let source_headers = entry.as_ref().map(|e| e.record.headers.clone());
        let media = source_headers
            .as_ref()
            .and_then(|h| h.get(header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(format) = source_format(media).or_else(|| {
            // Not stored: sniff the bytes that came.
            body.as_deref()
                .and_then(|b| tinycdn_image::probe::probe(b).ok())
                .map(|i| i.format)
        }) else {
            return fail(Failure::Status(
                415,
                format!(
                    "the source is {}, not an image this edge makes variants of",
                    if media.is_empty() {
                        "not an image"
                    } else {
                        media
                    }
                ),
            ));
        };
        let n = normalise(
            &split,
            format,
            parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
        );
        let vary = split.params.format == FormatChoice::Auto;
        let source_was_cached = entry.is_some() && body.is_none();
        let variant = match &entry {
            Some(e) => {
                let name = variant_name(e.record.body_hash.as_bytes(), &n);
                let load = async {
                    match &body {
                        Some(b) => Ok(b.clone()),
                        None => self.stored_bytes(e).await.ok_or(Failure::Busy(
                            "the source image was evicted while it was read: try again",
                        )),
                    }
                };
                match images.variant(name, n, load).await {
                    Ok(v) => v,
                    Err(f) => return fail(f),
                }
            }
            None => {
                let Some(b) = body else {
                    return fail(Failure::Status(502, "the source image vanished".into()));
                };
                match images.run(n, b).await {
                    Ok(o) => Variant::made(o),
                    Err(f) => return fail(f),
                }
            }
        };
        let cache_control = source_headers
            .as_ref()
            .and_then(|h| h.get(header::CACHE_CONTROL))
            .and_then(|v| v.to_str().ok())
            .map_or_else(
                || {
                    if entry.is_some() {
                        String::new()
                    } else {
                        "no-store".to_owned()
                    }
                },
                str::to_owned,
            );
        let sending = Sending {
            cache_control,
            extra: vec![("age", age.to_string())],
            vary,
        };
        let (reply, _) = variant.answer(&parts.headers, sending);
        let mut r: Response<Body> = into(reply, head);
        let cs = CacheStatus {
            hit: source_was_cached,
            ..CacheStatus::default()
        };
        finish_head(r.headers_mut(), &parts, &self.via, &cs);
        r
    }
}

fn into(r: Reply, head: bool) -> Response<Body> {
    r.into_response(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_paths_take_image_keys() {
        assert!(is_image_path("/img/hero.JPG"));
        assert!(is_image_path("/a/b.webp"));
        assert!(!is_image_path("/search"));
        assert!(!is_image_path("/img.jpg/page"));
        assert!(!is_image_path("/app.js"));
    }
}
