//! Repairing a store from mirrors: every manifest an indexed version needs and every object its
//! files need that is missing (or was quarantined by fsck) is fetched again, verified against its
//! hash (a manifest also against the trusted signatures), and written atomically.

use std::collections::HashSet;
use std::sync::Arc;

use tinycdn_core::sign::{SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::VersionId;
use tinycdn_fetch::{FetchError, Upstreams};
use tinycdn_store::{Store, StoreError};
use tinycdn_volume::read::FileRef;
use tinycdn_volume::trust::Trust;
use tinycdn_volume::Progress;

use crate::fetched::blocking;
use crate::PullError;

const MAX_METADATA: u64 = 64 << 20;

/// What a repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Manifests fetched again.
    pub manifests: Vec<String>,
    /// Objects fetched again.
    pub objects: Vec<String>,
    /// What no mirror could provide.
    pub unrepaired: Vec<String>,
    /// Verified bytes written.
    pub bytes: u64,
}

/// Fetches what the store's indexed versions need and lack; see the module documentation.
///
/// # Errors
/// Store errors; a mirror's failure for one object is reported in `unrepaired`, not an error.
pub async fn repair(
    store: Arc<Store>,
    upstreams: &Upstreams,
    trust: &Trust,
    progress: &dyn Progress,
) -> Result<RepairReport, PullError> {
    let mut report = RepairReport::default();
    let mut versions: Vec<(String, u64, VersionId)> = Vec::new();
    for volume in blocking(|| store.volumes())? {
        for (n, id) in blocking(|| store.versions(&volume))? {
            versions.push((volume.to_string(), n, id));
        }
    }
    for (volume, number, id) in &versions {
        match blocking(|| store.read_manifest(id)) {
            Ok(_) => continue,
            Err(
                StoreError::NotFound { .. }
                | StoreError::Corrupt { .. }
                | StoreError::Decode { .. },
            ) => {}
            Err(e) => return Err(e.into()),
        }
        let label = format!("{volume} version {number} manifest ({})", id.short());
        let manifest = upstreams
            .fetch(&format!("/m/{id}"), None, MAX_METADATA, |b| {
                VersionId::of(b) == *id
            })
            .await;
        let check = |b: &[u8]| {
            SignatureSet::from_bytes(b).is_ok_and(|s| {
                trust
                    .ring()
                    .verify(&s, MANIFEST_CONTEXT, id.as_bytes(), "manifest")
                    .is_ok()
            })
        };
        let sigs = upstreams
            .fetch(&format!("/s/{id}"), None, MAX_METADATA, check)
            .await;
        match (manifest, sigs) {
            (Ok(m), Ok(s)) => {
                let sigs = SignatureSet::from_bytes(&s)?;
                blocking(|| store.put_manifest(&m, &sigs))?;
                report.bytes += m.len() as u64;
                report.manifests.push(label);
            }
            (Err(e), _) | (_, Err(e)) => report.unrepaired.push(format!("{label}: {e}")),
        }
    }
    let mut wanted = Vec::new();
    let mut seen = HashSet::new();
    for (_, _, id) in &versions {
        let Ok((m, _)) = blocking(|| store.read_manifest(id)) else {
            continue;
        };
        for e in &m.entries {
            let Some(f) = FileRef::of(e) else { continue };
            let key = (f.content.hash, f.exec);
            if !seen.insert(key) {
                continue;
            }
            if !blocking(|| store.has_object(&f.content.hash, f.exec, f.content.size))? {
                wanted.push((f.content.hash, f.exec, f.content.size, e.path.to_string()));
            }
        }
    }
    progress.start("repairing", wanted.iter().map(|w| w.2).sum());
    for (hash, exec, size, path) in wanted {
        let suffix = if exec { ".x" } else { "" };
        let fetched = upstreams
            .fetch(&format!("/o/{hash}{suffix}"), None, size, |b| {
                b.len() as u64 == size && tinycdn_core::FileId::of(b) == hash
            })
            .await;
        match fetched {
            Ok(bytes) => {
                blocking(|| store.put_object(&hash, exec, &bytes))?;
                report.bytes += size;
                report.objects.push(format!("{path} ({})", hash.short()));
            }
            Err(e @ (FetchError::NotFound { .. } | FetchError::Exhausted { .. })) => {
                report
                    .unrepaired
                    .push(format!("{path} ({}): {e}", hash.short()));
            }
            Err(e) => return Err(e.into()),
        }
        progress.advance(size);
    }
    blocking(|| store.barrier())?;
    progress.finish();
    Ok(report)
}
