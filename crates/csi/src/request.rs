//! What a kubelet may ask, checked without I/O: every field of a `NodePublishVolume`,
//! `NodeUnpublishVolume` and `NodeGetVolumeStats` request is hostile until it passes here.
//!
//! The rules (CSI spec v1.3.0, "NodePublishVolume" and "NodeUnpublishVolume"; the sizes from
//! "Size Limits"):
//! - `volume_id` is required, at most 128 bytes, printable ASCII (the kubelet names ephemeral
//!   volumes `csi-<sha256>`);
//! - `target_path` is required, absolute, without `.` or `..` components, at most 4096 bytes and
//!   under `<kubelet_dir>/pods/` — a plugin running as root must not be steered into mounting
//!   over `/etc`;
//! - the capability is a filesystem (`mount`), read-only (`readonly: true`, a reader access
//!   mode), with no mount flags beyond `ro`, `nosuid`, `nodev`, `noexec`, `noatime`;
//! - the attributes are `volume` (a volume name), `ref` (a tag, followed while the pod runs, or
//!   a 64-digit version id, pinned) and the kubelet's own `csi.storage.k8s.io/*` (pod info,
//!   `ephemeral`); anything else is refused, so that a misspelt `refs` is not silently ignored.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::VersionId;
use tinycdn_volume::reference::Reference;

use crate::proto::volume_capability::access_mode::Mode;
use crate::proto::volume_capability::AccessType;
use crate::proto::{
    NodeGetVolumeStatsRequest, NodePublishVolumeRequest, NodeUnpublishVolumeRequest,
    VolumeCapability,
};

/// The driver's name, as pods' `csi.driver` and the `CSIDriver` object spell it.
pub const DRIVER: &str = "volumes.tinycdn.dev";
/// The longest `volume_id` (CSI's size limit).
pub const MAX_VOLUME_ID: usize = 128;
/// The longest target path.
pub const MAX_PATH: usize = 4096;
/// The longest attribute value.
pub const MAX_ATTRIBUTE: usize = 1024;
/// The most attributes a request may carry.
pub const MAX_ATTRIBUTES: usize = 32;
/// The prefix of the attributes the kubelet adds itself (`podInfoOnMount`, `ephemeral`).
pub const KUBELET_PREFIX: &str = "csi.storage.k8s.io/";

/// Why a request is refused (`InvalidArgument`, with this text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid<T>(why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(why.into()))
}

/// What a volume's `ref` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ref {
    /// A tag: the mount follows it while the pod runs.
    Tag(TagName),
    /// One version, pinned.
    Version(VersionId),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => write!(f, "{t}"),
            Self::Version(v) => write!(f, "{}", v.to_hex()),
        }
    }
}

/// What a pod mounts: `volume@ref`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// The volume.
    pub volume: VolumeName,
    /// The tag or version.
    pub reference: Ref,
}

impl Source {
    /// `VOLUME@REF`, also the name of its checkout folder on the node (both names are free of
    /// `/` and never start with `.`).
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}@{}", self.volume, self.reference)
    }

    /// Whether the mount follows a tag.
    #[must_use]
    pub fn follows(&self) -> bool {
        matches!(self.reference, Ref::Tag(_))
    }

    /// The reference the agent pulls.
    #[must_use]
    pub fn reference(&self) -> Reference {
        Reference {
            volume: self.volume.clone(),
            spec: self.reference.to_string(),
        }
    }

    /// Parses `VOLUME@REF` (a key, as records keep it).
    ///
    /// # Errors
    /// [`Invalid`] when either half breaks its rule.
    pub fn parse_key(key: &str) -> Result<Self, Invalid> {
        let Some((volume, reference)) = key.split_once('@') else {
            return invalid(format!("{key:?} is not VOLUME@REF"));
        };
        attributes_to_source(Some(volume), Some(reference))
    }
}

/// A checked `NodePublishVolume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The kubelet's id for this volume.
    pub volume_id: String,
    /// Where to mount it.
    pub target: PathBuf,
    /// What to mount.
    pub source: Source,
    /// Whether `noexec` was asked for.
    pub noexec: bool,
}

/// Checks a publish request against the kubelet's root `kubelet_dir`.
///
/// # Errors
/// [`Invalid`] naming the first field that breaks a rule.
pub fn publish(req: &NodePublishVolumeRequest, kubelet_dir: &Path) -> Result<Publish, Invalid> {
    let volume_id = volume_id(&req.volume_id)?;
    let target = target(&req.target_path, "target_path", kubelet_dir)?;
    let Some(capability) = &req.volume_capability else {
        return invalid("volume_capability is required");
    };
    let noexec = capability_flags(capability)?;
    if !req.readonly {
        return invalid(
            "tinycdn volumes are read-only: set readOnly: true on the pod's csi volume",
        );
    }
    let source = attributes(&req.volume_context)?;
    Ok(Publish {
        volume_id,
        target,
        source,
        noexec,
    })
}

/// Checks an unpublish request; returns the volume id and target.
///
/// # Errors
/// [`Invalid`] naming the field.
pub fn unpublish(
    req: &NodeUnpublishVolumeRequest,
    kubelet_dir: &Path,
) -> Result<(String, PathBuf), Invalid> {
    Ok((
        volume_id(&req.volume_id)?,
        target(&req.target_path, "target_path", kubelet_dir)?,
    ))
}

/// Checks a stats request; returns the volume id and path.
///
/// # Errors
/// [`Invalid`] naming the field.
pub fn stats(
    req: &NodeGetVolumeStatsRequest,
    kubelet_dir: &Path,
) -> Result<(String, PathBuf), Invalid> {
    Ok((
        volume_id(&req.volume_id)?,
        target(&req.volume_path, "volume_path", kubelet_dir)?,
    ))
}

fn volume_id(id: &str) -> Result<String, Invalid> {
    if id.is_empty() {
        return invalid("volume_id is required");
    }
    if id.len() > MAX_VOLUME_ID {
        return invalid(format!(
            "volume_id is {} bytes; at most {MAX_VOLUME_ID}",
            id.len()
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid("volume_id must be printable ASCII without spaces");
    }
    Ok(id.to_owned())
}

/// A target path: absolute, normal components only, under `<kubelet_dir>/pods/`.
fn target(path: &str, field: &str, kubelet_dir: &Path) -> Result<PathBuf, Invalid> {
    if path.is_empty() {
        return invalid(format!("{field} is required"));
    }
    if path.len() > MAX_PATH || path.contains('\0') {
        return invalid(format!(
            "{field} is longer than {MAX_PATH} bytes or holds a NUL"
        ));
    }
    let p = Path::new(path);
    if !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return invalid(format!(
            "{field} {path:?} must be an absolute path without '.' or '..'"
        ));
    }
    let pods = kubelet_dir.join("pods");
    match p.strip_prefix(&pods) {
        Ok(rest) if rest.components().next().is_some() => Ok(p.to_path_buf()),
        _ => invalid(format!(
            "{field} {path:?} is outside the kubelet's pods folder {}",
            pods.display()
        )),
    }
}

/// A filesystem, read-only capability; returns whether `noexec` was asked for.
fn capability_flags(c: &VolumeCapability) -> Result<bool, Invalid> {
    let mount = match &c.access_type {
        Some(AccessType::Mount(m)) => m,
        Some(AccessType::Block(_)) => {
            return invalid("tinycdn volumes are filesystems: block access is not offered")
        }
        None => return invalid("volume_capability has no access_type (mount)"),
    };
    if !mount.fs_type.is_empty() {
        return invalid(format!(
            "fs_type {:?}: tinycdn volumes have no filesystem type to choose; leave it empty",
            mount.fs_type
        ));
    }
    let mut noexec = false;
    for flag in &mount.mount_flags {
        match flag.as_str() {
            "ro" | "nosuid" | "nodev" | "noatime" => {}
            "noexec" => noexec = true,
            other => {
                return invalid(format!(
                    "mount flag {other:?} is not offered (ro, nosuid, nodev, noexec, noatime)"
                ))
            }
        }
    }
    let Some(mode) = c.access_mode else {
        return invalid("volume_capability has no access_mode");
    };
    match Mode::try_from(mode.mode) {
        Ok(Mode::SingleNodeReaderOnly | Mode::MultiNodeReaderOnly) => Ok(noexec),
        Ok(m) => invalid(format!(
            "access mode {}: tinycdn volumes are read-only (set readOnly: true)",
            m.as_str_name()
        )),
        Err(_) => invalid(format!("unknown access mode {}", mode.mode)),
    }
}

/// The volume attributes: `volume`, `ref`, and the kubelet's own.
fn attributes(attrs: &HashMap<String, String>) -> Result<Source, Invalid> {
    if attrs.len() > MAX_ATTRIBUTES {
        return invalid(format!(
            "{} attributes; at most {MAX_ATTRIBUTES}",
            attrs.len()
        ));
    }
    let mut names: Vec<&String> = attrs.keys().collect();
    names.sort();
    for name in names {
        let value = &attrs[name];
        if value.len() > MAX_ATTRIBUTE {
            return invalid(format!(
                "attribute {name:?} is {} bytes; at most {MAX_ATTRIBUTE}",
                value.len()
            ));
        }
        if name != "volume" && name != "ref" && !name.starts_with(KUBELET_PREFIX) {
            return invalid(format!(
                "unknown attribute {name:?}: volumeAttributes take volume and ref"
            ));
        }
    }
    attributes_to_source(
        attrs.get("volume").map(String::as_str),
        attrs.get("ref").map(String::as_str),
    )
}

fn attributes_to_source(volume: Option<&str>, reference: Option<&str>) -> Result<Source, Invalid> {
    let Some(volume) = volume else {
        return invalid("the volume attribute is required (volumeAttributes: volume: NAME)");
    };
    let volume =
        VolumeName::new(volume).map_err(|e| Invalid(format!("the volume attribute: {e}")))?;
    let Some(reference) = reference else {
        return invalid(
            "the ref attribute is required: a tag (followed) or a 64-digit version id (pinned)",
        );
    };
    let reference = if reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ref::Version(
            reference
                .to_ascii_lowercase()
                .parse::<VersionId>()
                .map_err(|e| Invalid(format!("the ref attribute: {e}")))?,
        )
    } else {
        Ref::Tag(TagName::new(reference).map_err(|e| {
            Invalid(format!(
                "the ref attribute {reference:?} is neither a tag nor a 64-digit version id: {e}"
            ))
        })?)
    };
    Ok(Source { volume, reference })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::volume_capability::{AccessMode, BlockVolume, MountVolume};

    const KUBELET: &str = "/var/lib/kubelet";
    const TARGET: &str = "/var/lib/kubelet/pods/0e4f/volumes/kubernetes.io~csi/media/mount";

    fn capability(mode: Mode) -> VolumeCapability {
        VolumeCapability {
            access_mode: Some(AccessMode { mode: mode as i32 }),
            access_type: Some(AccessType::Mount(MountVolume::default())),
        }
    }

    fn good() -> NodePublishVolumeRequest {
        NodePublishVolumeRequest {
            volume_id: "csi-7f3a".into(),
            target_path: TARGET.into(),
            volume_capability: Some(capability(Mode::MultiNodeReaderOnly)),
            readonly: true,
            volume_context: [
                ("volume", "site-media"),
                ("ref", "stable"),
                ("csi.storage.k8s.io/pod.name", "web-0"),
                ("csi.storage.k8s.io/ephemeral", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..NodePublishVolumeRequest::default()
        }
    }

    type Mutation = Box<dyn Fn(&mut NodePublishVolumeRequest)>;

    fn refused(req: &NodePublishVolumeRequest) -> String {
        publish(req, Path::new(KUBELET)).expect_err("refused").0
    }

    #[test]
    fn a_kubelets_request_is_accepted() {
        let p = publish(&good(), Path::new(KUBELET)).expect("accepted");
        assert_eq!(p.volume_id, "csi-7f3a");
        assert_eq!(p.target, PathBuf::from(TARGET));
        assert_eq!(p.source.key(), "site-media@stable");
        assert!(p.source.follows());
        assert!(!p.noexec);
        let mut pinned = good();
        let id = "ab".repeat(32);
        pinned.volume_context.insert("ref".into(), id.clone());
        let p = publish(&pinned, Path::new(KUBELET)).expect("accepted");
        assert_eq!(p.source.reference.to_string(), id);
        assert!(!p.source.follows());
        assert_eq!(
            Source::parse_key(&p.source.key()).expect("round trip"),
            p.source
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|r| r.volume_id.clear()), "volume_id is required"),
            (Box::new(|r| r.volume_id = "x".repeat(129)), "at most 128"),
            (Box::new(|r| r.volume_id = "a b".into()), "printable"),
            (
                Box::new(|r| r.target_path.clear()),
                "target_path is required",
            ),
            (
                Box::new(|r| r.target_path = "/etc".into()),
                "outside the kubelet",
            ),
            (
                Box::new(|r| r.target_path = "/var/lib/kubelet/pods".into()),
                "outside the kubelet",
            ),
            (
                Box::new(|r| r.target_path = "/var/lib/kubelet/pods/../../../etc".into()),
                "'..'",
            ),
            (Box::new(|r| r.target_path = "pods/x".into()), "absolute"),
            (
                Box::new(|r| r.volume_capability = None),
                "volume_capability",
            ),
            (
                Box::new(|r| {
                    r.volume_capability = Some(VolumeCapability {
                        access_type: Some(AccessType::Block(BlockVolume {})),
                        ..capability(Mode::MultiNodeReaderOnly)
                    })
                }),
                "block",
            ),
            (
                Box::new(|r| r.volume_capability = Some(capability(Mode::SingleNodeWriter))),
                "SINGLE_NODE_WRITER",
            ),
            (
                Box::new(|r| r.volume_capability = Some(capability(Mode::Unknown))),
                "UNKNOWN",
            ),
            (Box::new(|r| r.readonly = false), "readOnly: true"),
            (
                Box::new(|r| {
                    r.volume_context.remove("volume");
                }),
                "volume attribute is required",
            ),
            (
                Box::new(|r| {
                    r.volume_context.remove("ref");
                }),
                "ref attribute is required",
            ),
            (
                Box::new(|r| {
                    r.volume_context.insert("refs".into(), "x".into());
                }),
                "unknown attribute \"refs\"",
            ),
            (
                Box::new(|r| {
                    r.volume_context.insert("ref".into(), "a/b".into());
                }),
                "neither a tag nor",
            ),
            (
                Box::new(|r| {
                    r.volume_context.insert("volume".into(), "../etc".into());
                }),
                "volume attribute",
            ),
            (
                Box::new(|r| {
                    r.volume_context.insert("ref".into(), "x".repeat(2000));
                }),
                "at most 1024",
            ),
        ];
        for (mutate, expected) in cases {
            let mut r = good();
            mutate(&mut r);
            let why = refused(&r);
            assert!(why.contains(expected), "{expected:?} not in {why:?}");
        }
    }

    #[test]
    fn mount_flags_are_limited_to_safe_ones() {
        let mut r = good();
        r.volume_capability = Some(VolumeCapability {
            access_type: Some(AccessType::Mount(MountVolume {
                mount_flags: vec!["noexec".into(), "nodev".into()],
                ..MountVolume::default()
            })),
            ..capability(Mode::SingleNodeReaderOnly)
        });
        assert!(publish(&r, Path::new(KUBELET)).expect("ok").noexec);
        r.volume_capability = Some(VolumeCapability {
            access_type: Some(AccessType::Mount(MountVolume {
                mount_flags: vec!["suid".into()],
                ..MountVolume::default()
            })),
            ..capability(Mode::SingleNodeReaderOnly)
        });
        assert!(refused(&r).contains("\"suid\""));
    }

    #[test]
    fn unpublish_and_stats_check_their_fields() {
        let k = Path::new(KUBELET);
        let ok = NodeUnpublishVolumeRequest {
            volume_id: "v".into(),
            target_path: TARGET.into(),
        };
        assert!(unpublish(&ok, k).is_ok());
        let e = unpublish(
            &NodeUnpublishVolumeRequest {
                volume_id: String::new(),
                ..ok.clone()
            },
            k,
        )
        .expect_err("no id");
        assert!(e.0.contains("volume_id"));
        let e = unpublish(
            &NodeUnpublishVolumeRequest {
                target_path: String::new(),
                ..ok
            },
            k,
        )
        .expect_err("no target");
        assert!(e.0.contains("target_path"));
        let e = stats(&NodeGetVolumeStatsRequest::default(), k).expect_err("empty");
        assert!(e.0.contains("volume_id"));
        let e = stats(
            &NodeGetVolumeStatsRequest {
                volume_id: "v".into(),
                ..NodeGetVolumeStatsRequest::default()
            },
            k,
        )
        .expect_err("no path");
        assert!(e.0.contains("volume_path"));
    }

    proptest::proptest! {
        #[test]
        fn any_attributes_are_accepted_or_refused_without_panicking(
            volume in "\\PC{0,80}", reference in "\\PC{0,80}", key in "\\PC{0,40}",
            target in "\\PC{0,200}",
        ) {
            let mut r = good();
            r.volume_context.insert("volume".into(), volume);
            r.volume_context.insert("ref".into(), reference);
            r.volume_context.insert(key, String::new());
            r.target_path = target;
            if let Ok(p) = publish(&r, Path::new(KUBELET)) {
                // What passes is safe to use as a folder name and a mount target.
                proptest::prop_assert!(!p.source.key().contains('/'));
                proptest::prop_assert!(!p.source.key().starts_with('.'));
                proptest::prop_assert!(p.target.starts_with("/var/lib/kubelet/pods/"));
                proptest::prop_assert!(!p.target.components().any(|c| c == Component::ParentDir));
            }
        }
    }
}
