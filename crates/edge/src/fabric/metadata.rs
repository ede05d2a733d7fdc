//! Manifests, tags and delta indexes: accepted from memory, the cache disk or upstream only when
//! they verify (a manifest by its id and a trusted signature; a tag by a trusted signature, never
//! older than one accepted before and, under a trust root, the record the snapshot pins; a delta
//! index by a trusted signature), and kept on the cache disk so pinned content outlives restarts.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use tinycdn_core::delta_index::SignedDeltaIndex;
use tinycdn_core::manifest::Manifest;
use tinycdn_core::names::TagName;
use tinycdn_core::sign::{SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::snapshot::TagPin;
use tinycdn_core::tag::SignedTag;
use tinycdn_core::VersionId;
use tinycdn_server::respond::Reply;

use super::{fetch_reply, Fabric, ManifestEntry, MAX_METADATA};
use tinycdn_fetch::FetchError;

/// One manifest load shared by the requests waiting for it.
pub(super) type ManifestLoad =
    Arc<tokio::sync::OnceCell<Result<ManifestEntry, (StatusCode, String)>>>;

impl Fabric {
    fn verify_manifest(&self, id: VersionId, bytes: &[u8], sigs: &[u8]) -> Option<Manifest> {
        if VersionId::of(bytes) != id {
            return None;
        }
        let m = Manifest::from_bytes(bytes).ok()?;
        let set = SignatureSet::from_bytes(sigs).ok()?;
        self.trust()
            .ring()
            .verify(&set, MANIFEST_CONTEXT, id.as_bytes(), "manifest")
            .ok()?;
        Some(m)
    }

    /// A verified manifest with its bytes and signature set, from memory, disk or upstream;
    /// the requests that miss memory at the same time share one load (a cold edge under load
    /// would otherwise fetch a large manifest once per request in flight).
    pub(super) async fn manifest(&self, id: VersionId) -> Result<ManifestEntry, Reply> {
        if let Some(m) = self.manifest_in_memory(id) {
            return Ok(m);
        }
        let cell = self
            .manifest_loads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default()
            .clone();
        // Boxed: the load is a large future, and callers nest this one deep (site, images).
        let result = cell
            .get_or_init(|| Box::pin(self.load_manifest(id)))
            .await
            .clone();
        {
            let mut loads = self
                .manifest_loads
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if loads.get(&id).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                loads.remove(&id);
            }
        }
        result.map_err(|(status, text)| Reply::text(status, text))
    }

    fn manifest_in_memory(&self, id: VersionId) -> Option<ManifestEntry> {
        self.tables.manifests.get(&id)
    }

    /// [`Fabric::manifest`]'s load: disk or upstream, verified, then kept in memory. Errors as
    /// status and text, so that every waiter gets the same answer.
    async fn load_manifest(&self, id: VersionId) -> Result<ManifestEntry, (StatusCode, String)> {
        if let Some(m) = self.manifest_in_memory(id) {
            return Ok(m);
        }
        let fail = super::fetch_failure;
        let from_disk = self
            .cache
            .get_meta(&format!("m/{id}"))
            .zip(self.cache.get_meta(&format!("s/{id}")))
            .and_then(|(m, s)| {
                self.verify_manifest(id, &m, &s)
                    .map(|man| (man, Bytes::from(m), Bytes::from(s)))
            });
        let (manifest, bytes, sigs) = match from_disk {
            Some(found) => found,
            None => {
                if let Some(text) = self.expired_trust_text() {
                    return Err((StatusCode::SERVICE_UNAVAILABLE, text));
                }
                let bytes = self
                    .fetch_meta(&format!("/m/{id}"), MAX_METADATA, |b| {
                        VersionId::of(b) == id
                    })
                    .await
                    .map_err(|e| fail(&e))?;
                let sigs = self
                    .fetch_meta(&format!("/s/{id}"), MAX_METADATA, |s| {
                        self.verify_manifest(id, &bytes, s).is_some()
                    })
                    .await
                    .map_err(|e| fail(&e))?;
                let manifest = self.verify_manifest(id, &bytes, &sigs).ok_or_else(|| {
                    (
                        StatusCode::BAD_GATEWAY,
                        "the manifest does not verify\n".to_owned(),
                    )
                })?;
                self.cache.put_meta(&format!("m/{id}"), &bytes);
                self.cache.put_meta(&format!("s/{id}"), &sigs);
                (manifest, bytes, sigs)
            }
        };
        let manifest = Arc::new(manifest);
        self.tables.index_objects(&manifest);
        let entry = (manifest, bytes, sigs);
        self.tables.manifests.insert(id, entry.clone());
        Ok(entry)
    }

    fn verify_delta_index(&self, id: VersionId, bytes: &[u8]) -> Option<SignedDeltaIndex> {
        let index = SignedDeltaIndex::from_bytes(bytes).ok()?;
        (index.index.version == id).then_some(())?;
        index.verify(self.trust().ring()).ok()?;
        Some(index)
    }

    /// A verified delta index, from disk or upstream; records the deltas it lists.
    pub(super) async fn delta_index(&self, id: VersionId) -> Result<Bytes, Reply> {
        let key = format!("x/{id}");
        let (bytes, index) = match self
            .cache
            .get_meta(&key)
            .and_then(|b| self.verify_delta_index(id, &b).map(|i| (Bytes::from(b), i)))
        {
            Some(found) => found,
            None => {
                if let Some(refused) = self.expired_trust() {
                    return Err(refused);
                }
                let bytes = self
                    .fetch_meta(&format!("/x/{id}"), MAX_METADATA, |b| {
                        self.verify_delta_index(id, b).is_some()
                    })
                    .await
                    .map_err(|e| fetch_reply(&e))?;
                let index = self.verify_delta_index(id, &bytes).ok_or_else(|| {
                    Reply::text(StatusCode::BAD_GATEWAY, "the delta index does not verify\n")
                })?;
                self.cache.put_meta(&key, &bytes);
                (bytes, index)
            }
        };
        for e in &index.index.entries {
            self.tables
                .deltas
                .insert((e.base, e.target), (e.delta, e.delta_size));
        }
        Ok(bytes)
    }

    /// A tag this edge may serve for `volume@tag`: signed by the targets role, not older than
    /// `floor` (the newest copy this edge accepted: no rollback) and, under a trust root, the
    /// record the current snapshot pins (no mix-and-match).
    fn check_tag(
        &self,
        volume: &str,
        tag: &str,
        bytes: &[u8],
        pin: Option<&TagPin>,
        floor: Option<&SignedTag>,
    ) -> Option<VersionId> {
        let t = SignedTag::from_bytes(bytes).ok()?;
        (t.record.volume.as_str() == volume && t.record.tag.as_str() == tag).then_some(())?;
        if pin.is_some_and(|p| p.hash != t.record_hash())
            || floor.is_some_and(|f| t.is_older_than(f))
        {
            return None;
        }
        t.verify(self.trust().ring()).ok()?;
        Some(t.record.version)
    }

    /// The version a tag names, when this edge verified it within the tag max-age.
    pub(super) fn fresh_tag(&self, volume: &str, tag: &TagName) -> Option<VersionId> {
        let tags = self.tags.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, id, at) = tags.get(&(volume.to_owned(), tag.to_string()))?;
        (at.elapsed() < Duration::from_secs(u64::from(self.tag_policy.max_age))).then_some(*id)
    }

    /// A verified tag: fresh from memory, else from upstream, else stale within
    /// `stale-if-error` (from memory or disk) when every upstream fails.
    pub(super) async fn tag(
        &self,
        volume: &str,
        tag: &TagName,
    ) -> Result<(Bytes, VersionId), Reply> {
        let key = (volume.to_owned(), tag.to_string());
        let cached = self
            .tags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let fresh = Duration::from_secs(u64::from(self.tag_policy.max_age));
        if let Some((b, id, at)) = &cached {
            if at.elapsed() < fresh {
                return Ok((b.clone(), *id));
            }
        }
        // Under a trust root, the tag must be the one the current snapshot lists (fetching the
        // timestamp follows rotations and refuses an expired root).
        let pin = match self.trust().root() {
            Some(_) => {
                let (_, s) = self.snapshot().await?;
                let pin = s.snapshot.find(volume, tag.as_str()).cloned();
                Some(pin.ok_or_else(|| {
                    Reply::text(
                        StatusCode::NOT_FOUND,
                        format!(
                            "snapshot version {} does not list {volume}@{tag}\n",
                            s.snapshot.version
                        ),
                    )
                })?)
            }
            None => None,
        };
        if let Some(refused) = self.expired_trust() {
            return Err(refused);
        }
        let meta_key = format!("t/{volume}/{tag}");
        let disk = self.cache.get_meta(&meta_key);
        let floor = [cached.as_ref().map(|c| &c.0[..]), disk.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|b| SignedTag::from_bytes(b).ok())
            .reduce(|a, b| if a.is_older_than(&b) { b } else { a });
        let path = format!("/t/{volume}/{tag}");
        match self
            .fetch_meta(&path, MAX_METADATA, |b| {
                self.check_tag(volume, tag.as_str(), b, pin.as_ref(), floor.as_ref())
                    .is_some()
            })
            .await
        {
            Ok(bytes) => {
                let id = self
                    .check_tag(volume, tag.as_str(), &bytes, pin.as_ref(), floor.as_ref())
                    .ok_or_else(|| {
                        Reply::text(StatusCode::BAD_GATEWAY, "the tag does not verify\n")
                    })?;
                self.cache.put_meta(&meta_key, &bytes);
                self.tags
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, (bytes.clone(), id, Instant::now()));
                Ok((bytes, id))
            }
            Err(e) => {
                let stale = fresh + Duration::from_secs(u64::from(self.tag_policy.stale_if_error));
                if let Some((b, id, at)) = cached {
                    if at.elapsed() < stale {
                        return Ok((b, id));
                    }
                }
                if !matches!(e, FetchError::NotFound { .. }) {
                    if let Some(b) = disk {
                        if let Some(id) =
                            self.check_tag(volume, tag.as_str(), &b, pin.as_ref(), None)
                        {
                            return Ok((Bytes::from(b), id));
                        }
                    }
                }
                Err(fetch_reply(&e))
            }
        }
    }
}
