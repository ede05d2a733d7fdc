//! What the site role asks of the fabric: which version a site's reference names, that
//! version's verified manifest, and whole small files of it (`_headers`, `_redirects`).

use std::sync::Arc;

use bytes::Bytes;
use tinycdn_core::manifest::Manifest;
use tinycdn_core::names::VolumeName;
use tinycdn_core::VersionId;
use tinycdn_server::respond::Reply;

use super::{fetch_reply, Fabric};

impl Fabric {
    /// The version `volume@reference` names now (a tag through its verified record).
    pub(crate) async fn site_version(
        &self,
        volume: &VolumeName,
        reference: &str,
    ) -> Result<VersionId, Reply> {
        self.resolve(volume, reference).await.map(|(id, _)| id)
    }

    /// The verified manifest of `id`.
    pub(crate) async fn site_manifest(&self, id: VersionId) -> Result<Arc<Manifest>, Reply> {
        self.manifest(id).await.map(|(m, _, _)| m)
    }

    /// The whole verified bytes of `path` in `manifest`, if it is a regular file.
    pub(crate) async fn site_file(
        &self,
        manifest: &Manifest,
        path: &str,
    ) -> Result<Option<Bytes>, Reply> {
        let Some(entry) = manifest.find(path) else {
            return Ok(None);
        };
        let Some(content) = entry.file() else {
            return Ok(None);
        };
        let exec = entry.mode & 0o111 != 0;
        self.whole_file(content, exec)
            .await
            .map(Some)
            .map_err(|e| fetch_reply(&e))
    }
}
