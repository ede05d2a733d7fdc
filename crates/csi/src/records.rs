//! The plugin's own records: one small file per published target, written before the mount and
//! removed after the unmount, so that a plugin killed at any point finds, at its next start,
//! every mount it made (a record and a mount), and only records it can drop (a record without a
//! mount). With `/proc/self/mountinfo` they are the whole state; nothing is kept only in memory.
//!
//! `<csi dir>/publications/<BLAKE3 of the target path>.json`:
//! `{"volume_id": …, "target": …, "source": "VOLUME@REF", "noexec": false}`

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::request::Source;

/// What was published where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The kubelet's id for the volume.
    pub volume_id: String,
    /// The mount's target.
    pub target: PathBuf,
    /// `VOLUME@REF`.
    pub source: String,
    /// Whether the mount is `noexec`.
    #[serde(default)]
    pub noexec: bool,
}

impl Record {
    /// The source, parsed.
    ///
    /// # Errors
    /// A record whose source breaks the naming rules (edited by hand).
    pub fn source(&self) -> Result<Source, crate::request::Invalid> {
        Source::parse_key(&self.source)
    }
}

/// The folder of records.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// Records under `<csi dir>/publications` (made if missing).
    ///
    /// # Errors
    /// The folder cannot be made.
    pub fn open(csi_dir: &Path) -> std::io::Result<Self> {
        let dir = csi_dir.join("publications");
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, target: &Path) -> PathBuf {
        let digest = blake3::hash(target.as_os_str().as_encoded_bytes());
        self.dir.join(format!("{}.json", digest.to_hex()))
    }

    /// Writes a record durably (a temporary file renamed into place, then the folder synced).
    ///
    /// # Errors
    /// I/O errors.
    pub fn put(&self, record: &Record) -> std::io::Result<()> {
        let path = self.path(&record.target);
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(record).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()
    }

    /// Removes the record of `target` (none is fine).
    ///
    /// # Errors
    /// I/O errors.
    pub fn delete(&self, target: &Path) -> std::io::Result<()> {
        match fs::remove_file(self.path(target)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every readable record; files that are not records are reported by name and skipped.
    ///
    /// # Errors
    /// The folder cannot be listed.
    pub fn all(&self) -> std::io::Result<(Vec<Record>, Vec<String>)> {
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            let parsed = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
                .filter(|r| self.path(&r.target) == path && r.source().is_ok());
            match parsed {
                Some(r) => records.push(r),
                None => unreadable.push(path.display().to_string()),
            }
        }
        Ok((records, unreadable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_foreign_files_are_named() {
        let d = tempfile::tempdir().expect("tempdir");
        let records = Records::open(d.path()).expect("open");
        let r = Record {
            volume_id: "csi-1".into(),
            target: "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/m/mount".into(),
            source: "site-media@stable".into(),
            noexec: false,
        };
        records.put(&r).expect("put");
        fs::write(d.path().join("publications/junk.json"), "{").expect("write");
        // A record filed under another target's name is not believed.
        let mut moved = r.clone();
        moved.target = "/elsewhere".into();
        fs::write(
            records.path(&r.target).with_file_name("0.json"),
            serde_json::to_vec(&moved).expect("json"),
        )
        .expect("write");
        let (all, bad) = records.all().expect("list");
        assert_eq!(all, vec![r.clone()]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        records.delete(&r.target).expect("delete");
        records.delete(&r.target).expect("twice is fine");
        assert!(records.all().expect("list").0.is_empty());
    }
}
