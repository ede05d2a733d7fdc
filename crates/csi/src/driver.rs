//! What the node service does, behind its gRPC face: publish (pull through the agent, show the
//! version in a shared folder, bind-mount it read-only), republish (follow a moved tag inside
//! the mount), unpublish (unmount, and drop a folder no pod uses), stats, and the start that
//! rebuilds all of it from the records and `/proc/self/mountinfo`.
//!
//! One folder per `VOLUME@REF` on the node is shared by every pod mounting it and counted by
//! the records naming it. Pulls are single-flight per folder and run in the background: a
//! publish waits for one at most `publish_wait` (or the caller's deadline) and answers
//! `UNAVAILABLE` when it is still running; the kubelet's retry then finds it done.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tinycdn_agent::{Agent, CsiConfig};
use tokio::sync::watch;
use tonic::Code;

use crate::layout;
use crate::mountinfo::{self, Mount};
use crate::records::{Record, Records};
use crate::request::{Publish, Source};
use crate::status::{layout_failure, pull_failure, Failure};

/// How a pull in flight ends, shared by everyone waiting on it.
type Outcome = Option<Result<(), Failure>>;

/// One `VOLUME@REF` folder and its pulls.
#[derive(Debug)]
struct Folder {
    source: Source,
    dir: PathBuf,
    inner: Mutex<FolderState>,
}

#[derive(Debug, Default)]
struct FolderState {
    /// When a pull last brought the folder up to date.
    checked: Option<Instant>,
    /// The pull under way.
    pulling: Option<watch::Receiver<Outcome>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The node plugin's state and operations.
#[derive(Debug)]
pub struct Driver {
    agent: Arc<Agent>,
    csi: CsiConfig,
    node_id: String,
    records: Records,
    volumes: PathBuf,
    /// Published targets; held across every mount, unmount and record change.
    published: tokio::sync::Mutex<HashMap<PathBuf, Record>>,
    folders: Mutex<HashMap<String, Arc<Folder>>>,
    counters: Arc<Mutex<Counters>>,
}

/// What `/metrics` shows of the plugin.
#[derive(Debug, Default)]
struct Counters {
    /// Calls by (call, code).
    calls: HashMap<(&'static str, String), u64>,
    /// Targets published now.
    published: u64,
    /// Pulls by result.
    pulls_ok: u64,
    pulls_failed: u64,
    /// Folders switched to a new version (a followed tag moved).
    switches: u64,
}

/// What a start found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Targets still mounted, kept.
    pub kept: usize,
    /// Records whose mount was gone (a reboot), dropped.
    pub dropped: usize,
    /// Folders no record named, removed.
    pub folders_removed: usize,
}

/// What a stats call reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of the version's files.
    pub bytes: u64,
    /// Its entries (files, folders, links).
    pub inodes: u64,
    /// Why the volume is not healthy, when it is not.
    pub abnormal: Option<String>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(Code::Internal, format!("{what}: {e}"))
}

fn read_mounts() -> Result<Vec<Mount>, Failure> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| internal("read /proc/self/mountinfo", e))?;
    mountinfo::parse(&text).map_err(|e| internal("/proc/self/mountinfo", e))
}

impl Driver {
    /// The plugin over `agent`, with its `[csi]` settings; rebuilds its state from its records
    /// and the mount table.
    ///
    /// # Errors
    /// The plugin's folder cannot be made or read, or the mount table cannot be read.
    pub fn start(agent: Arc<Agent>) -> Result<(Self, Recovered), Failure> {
        let csi = agent.config().csi.clone();
        let node_id = csi.node_id.clone().unwrap_or_else(host_name);
        let records = Records::open(&csi.dir).map_err(|e| internal("open the records", e))?;
        let volumes = csi.dir.join("volumes");
        std::fs::create_dir_all(&volumes).map_err(|e| internal("create the folders' root", e))?;
        let driver = Self {
            agent,
            csi,
            node_id,
            records,
            volumes,
            published: tokio::sync::Mutex::new(HashMap::new()),
            folders: Mutex::new(HashMap::new()),
            counters: Arc::new(Mutex::new(Counters::default())),
        };
        let recovered = driver.recover()?;
        Ok((driver, recovered))
    }

    /// The node's id.
    #[must_use]
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Keeps the records whose target is mounted, drops the others, removes unused folders.
    fn recover(&self) -> Result<Recovered, Failure> {
        let mut found = Recovered::default();
        let (records, unreadable) = self
            .records
            .all()
            .map_err(|e| internal("read the records", e))?;
        for path in unreadable {
            eprintln!("agent: csi: {path} is not a record of this plugin; ignored");
        }
        let mounts = read_mounts()?;
        let mut published = self
            .published
            .try_lock()
            .map_err(|e| internal("start", e))?;
        for r in records {
            if let Some(m) = mountinfo::at(&mounts, &r.target) {
                if !crate::mount::is_restricted(m, r.noexec) {
                    // Killed between the bind and the remount: finish the remount.
                    eprintln!(
                        "agent: csi: {} was left writable (a crash mid-publish); made read-only",
                        r.target.display()
                    );
                    crate::mount::restrict(&r.target, r.noexec)
                        .map_err(|e| internal(&format!("remount {}", r.target.display()), e))?;
                }
                published.insert(r.target.clone(), r);
                found.kept += 1;
            } else {
                eprintln!(
                    "agent: csi: {} was published at {} but is not mounted (a reboot?); forgotten",
                    r.source,
                    r.target.display()
                );
                self.records
                    .delete(&r.target)
                    .map_err(|e| internal("drop a record", e))?;
                found.dropped += 1;
            }
        }
        lock(&self.counters).published = published.len() as u64;
        // A folder is in use when a record names it or something has it mounted (a record
        // lost by hand must not take a running pod's files with it).
        let mounted: Vec<String> = mounts
            .iter()
            .filter(|m| made_here(&m.root))
            .filter_map(|m| m.root.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let used: Vec<&str> = published
            .values()
            .map(|r| r.source.as_str())
            .chain(mounted.iter().map(String::as_str))
            .collect();
        if let Ok(entries) = std::fs::read_dir(&self.volumes) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !used.contains(&name.as_str()) {
                    layout::remove(&e.path())
                        .map_err(|e| internal("remove an unused folder", e))?;
                    found.folders_removed += 1;
                }
            }
        }
        Ok(found)
    }

    fn folder(&self, source: &Source) -> Arc<Folder> {
        let key = source.key();
        lock(&self.folders)
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Folder {
                    source: source.clone(),
                    dir: self.volumes.join(&key),
                    inner: Mutex::new(FolderState::default()),
                })
            })
            .clone()
    }

    /// Starts a pull of the folder's source (or joins the one under way).
    fn pull(&self, folder: &Arc<Folder>) -> watch::Receiver<Outcome> {
        let mut state = lock(&folder.inner);
        if let Some(rx) = &state.pulling {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(None);
        state.pulling = Some(rx.clone());
        let agent = self.agent.clone();
        let folder = folder.clone();
        let counters = self.counters.clone();
        tokio::spawn(async move {
            let what = folder.source.key();
            let before = layout::current(&folder.dir);
            let result = match agent.pull(&folder.source.reference()).await {
                Err(e) => Err(pull_failure(&what, &e)),
                Ok(pulled) => tokio::task::block_in_place(|| {
                    layout::switch(agent.store(), &pulled.version, &folder.dir)
                        .map_err(|e| layout_failure(&what, &e))
                        .map(|()| pulled.version.id)
                }),
            };
            let switched = matches!(&result, Ok(id) if before.is_some_and(|b| b != *id));
            // One lock at a time: the metrics and gc take these in other orders.
            {
                let mut state = lock(&folder.inner);
                state.pulling = None;
                if result.is_ok() {
                    state.checked = Some(Instant::now());
                }
            }
            {
                let mut counted = lock(&counters);
                if result.is_ok() {
                    counted.pulls_ok += 1;
                } else {
                    counted.pulls_failed += 1;
                }
                counted.switches += u64::from(switched);
            }
            match &result {
                Ok(id) if switched => {
                    eprintln!(
                        "agent: csi: {what} is now {} in every pod using it",
                        id.short()
                    );
                    let agent = agent.clone();
                    tokio::task::spawn_blocking(move || agent.gc());
                }
                Err(f) => eprintln!("agent: csi: {}", f.message),
                Ok(_) => {}
            }
            let outcome = result.map(|_| ());
            tx.send_replace(Some(outcome));
        });
        rx
    }

    /// Whether the folder shows a version that is current enough to mount as it is.
    fn fresh(&self, folder: &Folder) -> bool {
        if layout::current(&folder.dir).is_none() {
            return false;
        }
        if !folder.source.follows() {
            return true;
        }
        let refresh = Duration::from_secs(self.csi.refresh);
        lock(&folder.inner)
            .checked
            .is_some_and(|t| t.elapsed() < refresh)
    }

    /// Waits at most `wait` for a pull of the folder; `UNAVAILABLE` when it is still running.
    async fn pulled(&self, folder: &Arc<Folder>, wait: Duration) -> Result<(), Failure> {
        let mut rx = self.pull(folder);
        let waited = tokio::time::timeout(wait, async {
            rx.wait_for(Option::is_some)
                .await
                .map(|outcome| outcome.clone())
        })
        .await;
        match waited {
            Ok(Ok(outcome)) => outcome.unwrap_or(Ok(())),
            Ok(Err(_)) => Err(internal("pull", "the pull ended without an outcome")),
            Err(_) => Err(Failure::new(
                Code::Unavailable,
                format!(
                    "{} is still being fetched after {} s; it goes on in the background and the next try finds it",
                    folder.source.key(),
                    wait.as_secs_f32()
                ),
            )),
        }
    }

    /// How long a call may wait for a pull: `publish_wait`, or less when the caller's deadline
    /// is nearer.
    #[must_use]
    pub fn wait(&self, deadline: Option<Duration>) -> Duration {
        let configured = Duration::from_secs(self.csi.publish_wait);
        deadline.map_or(configured, |d| configured.min(d.mul_f32(0.8)))
    }

    /// `NodePublishVolume`.
    ///
    /// # Errors
    /// [`Failure`] with the code the kubelet acts on.
    pub async fn publish(&self, p: Publish, wait: Duration) -> Result<(), Failure> {
        let existing = self.published.lock().await.get(&p.target).cloned();
        if let Some(existing) = existing {
            return self.republish(&p, &existing, wait).await;
        }
        let folder = self.folder(&p.source);
        // A folder removed by an unpublish between the pull and the mount is pulled again.
        for _ in 0..3 {
            if !self.fresh(&folder) {
                self.pulled(&folder, wait).await?;
            }
            let mut published = self.published.lock().await;
            if let Some(existing) = published.get(&p.target).cloned() {
                drop(published);
                return self.republish(&p, &existing, wait).await;
            }
            if layout::current(&folder.dir).is_none() {
                continue;
            }
            let record = Record {
                volume_id: p.volume_id.clone(),
                target: p.target.clone(),
                source: p.source.key(),
                noexec: p.noexec,
            };
            self.mount(&record, &folder.dir)?;
            published.insert(p.target.clone(), record);
            lock(&self.counters).published = published.len() as u64;
            return Ok(());
        }
        Err(Failure::new(
            Code::Aborted,
            format!(
                "{} was removed while being published; try again",
                p.source.key()
            ),
        ))
    }

    /// Records, then mounts (a crash in between leaves a record without a mount, which the
    /// next start drops).
    fn mount(&self, record: &Record, dir: &Path) -> Result<(), Failure> {
        let mounts = read_mounts()?;
        if mountinfo::at(&mounts, &record.target).is_some() {
            return Err(Failure::new(
                Code::AlreadyExists,
                format!(
                    "something this plugin did not publish is mounted at {}",
                    record.target.display()
                ),
            ));
        }
        self.records
            .put(record)
            .map_err(|e| internal("write the record", e))?;
        let mounted = std::fs::create_dir_all(&record.target)
            .and_then(|()| crate::mount::bind_read_only(dir, &record.target, record.noexec));
        if let Err(e) = mounted {
            let _ = self.records.delete(&record.target);
            let _ = std::fs::remove_dir(&record.target);
            return Err(internal(
                &format!("mount {} at {}", record.source, record.target.display()),
                e,
            ));
        }
        Ok(())
    }

    /// A publish of a target already published: the same volume follows its tag (a pull when
    /// the last check is older than `refresh`); another volume is `ALREADY_EXISTS`.
    async fn republish(
        &self,
        p: &Publish,
        existing: &Record,
        wait: Duration,
    ) -> Result<(), Failure> {
        if existing.volume_id != p.volume_id
            || existing.source != p.source.key()
            || existing.noexec != p.noexec
        {
            return Err(Failure::new(
                Code::AlreadyExists,
                format!(
                    "{} is published as {} ({}), not {} ({})",
                    p.target.display(),
                    existing.volume_id,
                    existing.source,
                    p.volume_id,
                    p.source.key()
                ),
            ));
        }
        match mountinfo::at(&read_mounts()?, &p.target) {
            None => {
                return Err(internal(
                    &p.target.display().to_string(),
                    "the mount is gone (unmounted by hand?); unpublish and publish again",
                ))
            }
            Some(m) if !crate::mount::is_restricted(m, p.noexec) => {
                crate::mount::restrict(&p.target, p.noexec)
                    .map_err(|e| internal(&format!("remount {}", p.target.display()), e))?;
            }
            Some(_) => {}
        }
        let folder = self.folder(&p.source);
        if self.fresh(&folder) {
            return Ok(());
        }
        // The pod has verified content either way: a pull that is slow or fails leaves it as
        // it is (the pull, when it ends, switches every pod using the folder).
        match self.pulled(&folder, wait).await {
            Err(f) if f.code == Code::FailedPrecondition => Err(f),
            _ => Ok(()),
        }
    }

    /// `NodeUnpublishVolume`: unmounts, removes the target, drops the record; the folder goes
    /// when no record names it (and gc may then collect its version).
    ///
    /// # Errors
    /// `NOT_FOUND` when the target holds another volume; `INTERNAL` when it cannot be cleared.
    pub async fn unpublish(&self, volume_id: &str, target: &Path) -> Result<(), Failure> {
        let mut published = self.published.lock().await;
        let record = published.get(target).cloned();
        if let Some(r) = &record {
            if r.volume_id != volume_id {
                return Err(Failure::new(
                    Code::NotFound,
                    format!(
                        "{} holds volume {}, not {volume_id}",
                        target.display(),
                        r.volume_id
                    ),
                ));
            }
        }
        let mounts = read_mounts()?;
        if let Some(m) = mountinfo::at(&mounts, target) {
            if record.is_none() && !made_here(&m.root) {
                return Err(Failure::new(
                    Code::FailedPrecondition,
                    format!("{} is a mount this plugin did not make", target.display()),
                ));
            }
            crate::mount::unmount(target)
                .map_err(|e| internal(&format!("unmount {}", target.display()), e))?;
        }
        match std::fs::remove_dir(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(internal(&format!("remove {}", target.display()), e))
            }
            _ => {}
        }
        self.records
            .delete(target)
            .map_err(|e| internal("drop the record", e))?;
        published.remove(target);
        lock(&self.counters).published = published.len() as u64;
        if let Some(r) = record {
            if !published.values().any(|o| o.source == r.source) {
                self.drop_folder(&r.source);
            }
        }
        Ok(())
    }

    /// Removes a folder no pod uses (unless a pull is writing it), then lets gc run.
    fn drop_folder(&self, key: &str) {
        let mut folders = lock(&self.folders);
        if folders
            .get(key)
            .is_some_and(|f| lock(&f.inner).pulling.is_some())
        {
            return;
        }
        folders.remove(key);
        drop(folders);
        if let Err(e) = layout::remove(&self.volumes.join(key)) {
            eprintln!("agent: csi: cannot remove the unused folder of {key}: {e}");
            return;
        }
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || agent.gc());
    }

    /// `NodeGetVolumeStats`.
    ///
    /// # Errors
    /// `NOT_FOUND` when nothing of that id is published at `path`.
    pub async fn stats(&self, volume_id: &str, path: &Path) -> Result<Stats, Failure> {
        let record = self
            .published
            .lock()
            .await
            .get(path)
            .filter(|r| r.volume_id == volume_id)
            .cloned()
            .ok_or_else(|| {
                Failure::new(
                    Code::NotFound,
                    format!("no volume {volume_id} is published at {}", path.display()),
                )
            })?;
        let dir = self.volumes.join(&record.source);
        let mut stats = Stats {
            bytes: 0,
            inodes: 0,
            abnormal: None,
        };
        match layout::current(&dir) {
            Some(id) => {
                let (manifest, _) = self
                    .agent
                    .store()
                    .read_manifest(&id)
                    .map_err(|e| internal("read the manifest", e))?;
                stats.bytes = manifest.files().map(|(_, f)| f.size).sum();
                stats.inodes = manifest.entries.len() as u64;
            }
            None => stats.abnormal = Some(format!("{} shows no version", dir.display())),
        }
        if mountinfo::at(&read_mounts()?, path).is_none() {
            stats.abnormal = Some(format!("{} is not mounted", path.display()));
        }
        Ok(stats)
    }

    /// Counts a call's outcome for `/metrics`.
    pub fn count(&self, call: &'static str, code: tonic::Code) {
        *lock(&self.counters)
            .calls
            .entry((call, crate::status::code_name(code)))
            .or_default() += 1;
    }

    /// Whether the plugin can work: its folders are there.
    #[must_use]
    pub fn healthy(&self) -> bool {
        self.volumes.is_dir()
    }

    /// The kubelet's root (publish targets are under its `pods/`).
    #[must_use]
    pub fn kubelet_dir(&self) -> &Path {
        &self.csi.kubelet_dir
    }
}

/// Whether a mount's root is one of the plugin's folders (`…/volumes/VOLUME@REF`): the root is
/// the path inside its filesystem, which is not the plugin's path when its folder is on another
/// filesystem or bind-mounted into its container.
fn made_here(root: &Path) -> bool {
    root.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "volumes")
        && root
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| Source::parse_key(n).is_ok())
}

/// The host's name, for `NodeGetInfo` when `node_id` is not set.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl tinycdn_agent::MetricsSource for Driver {
    fn metrics(&self, e: &mut tinycdn_telemetry::Exposition) {
        use tinycdn_telemetry::Kind;
        let folders = lock(&self.folders).len() as u64;
        let c = lock(&self.counters);
        let mut calls: Vec<_> = c
            .calls
            .iter()
            .map(|((call, code), n)| {
                (
                    vec![("call", (*call).to_owned()), ("code", code.clone())],
                    *n,
                )
            })
            .collect();
        calls.sort();
        e.metric(
            "tinycdn_csi_calls_total",
            "CSI calls by call (publish, unpublish, stats) and gRPC code.",
            Kind::Counter,
            calls,
        );
        e.metric(
            "tinycdn_csi_published",
            "Targets (pods' volumes) published now.",
            Kind::Gauge,
            vec![(vec![], c.published)],
        );
        e.metric(
            "tinycdn_csi_pulls_total",
            "Pulls for pods' volumes by result.",
            Kind::Counter,
            vec![
                (vec![("result", "ok".to_owned())], c.pulls_ok),
                (vec![("result", "failed".to_owned())], c.pulls_failed),
            ],
        );
        e.metric(
            "tinycdn_csi_switches_total",
            "Folders switched to a new version in place (a followed tag moved).",
            Kind::Counter,
            vec![(vec![], c.switches)],
        );
        e.metric(
            "tinycdn_csi_folders",
            "VOLUME@REF folders on the node.",
            Kind::Gauge,
            vec![(vec![], folders)],
        );
    }
}
