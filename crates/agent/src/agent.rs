//! The agent's rounds: for each volume, pull what its reference names now (with `pull`'s trust
//! checks), switch the checkout to it atomically when it changed, then collect old versions.
//!
//! A round that fails for a volume (mirrors down, a bad signature, a full disk) changes nothing
//! for it: the checked-out version stays as it was, and the next round tries again. Nothing here
//! keeps state of its own: what is installed is the store and the checkout symlinks, so an agent
//! that is killed and started again carries on where it was.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tinycdn_fetch::Upstreams;
use tinycdn_store::Store;
use tinycdn_sync::{LogPolicy, PullError};
use tinycdn_volume::reference::Reference;
use tinycdn_volume::trust::{OpenedVersion, Trust};
use tinycdn_volume::NoProgress;

use crate::config::{Config, VolumeSpec};

/// What the last rounds did for one volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeStatus {
    /// `VOLUME@REF`.
    pub reference: String,
    /// The checkout symlink.
    pub checkout: String,
    /// The version checked out (its id), when there is one.
    pub version: Option<String>,
    /// Its number.
    pub number: u64,
    /// Unix time of the last round that succeeded for it.
    pub last_success: Option<u64>,
    /// Rounds failed since the last success.
    pub consecutive_failures: u64,
    /// Why the last round failed.
    pub last_error: Option<String>,
    /// Rounds that switched the checkout to a new version.
    pub updated: u64,
    /// Rounds that found the version already checked out.
    pub unchanged: u64,
    /// Rounds that failed.
    pub failed: u64,
    /// Bytes read from the mirrors for it.
    pub bytes_transferred: u64,
}

/// What one round did for one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The checkout now shows a new version.
    Updated {
        /// The version id.
        version: String,
        /// Its number.
        number: u64,
        /// Bytes read from the mirrors.
        bytes: u64,
    },
    /// The version named is the one checked out.
    Unchanged {
        /// Its id (hex).
        version: String,
        /// Its number.
        number: u64,
    },
    /// Nothing changed; why.
    Failed(String),
}

/// More metric families for the agent's `/metrics` (the CSI plugin's).
pub trait MetricsSource: Send + Sync {
    /// Adds its families.
    fn metrics(&self, e: &mut tinycdn_telemetry::Exposition);
}

/// Keeps a node's volumes current.
pub struct Agent {
    store: Arc<Store>,
    upstreams: Arc<Upstreams>,
    trust: Mutex<Trust>,
    log: Option<LogPolicy>,
    config: Config,
    status: Mutex<Vec<VolumeStatus>>,
    rounds: Mutex<Rounds>,
    extra: Mutex<Vec<Arc<dyn MetricsSource>>>,
}

/// When rounds ran.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Rounds {
    /// Rounds finished.
    pub(crate) finished: u64,
    /// Unix time the running round started (`None` between rounds).
    pub(crate) running_since: Option<u64>,
    /// Unix time the last round ended.
    pub(crate) last_end: Option<u64>,
    /// Versions gc removed.
    pub(crate) gc_removed: u64,
    /// gc runs that failed.
    pub(crate) gc_failures: u64,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("volumes", &self.config.volumes.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) use tinycdn_core::time::unix_now_u64 as unix_now;

impl Agent {
    /// An agent over the node's `store`, pulling from `upstreams`.
    #[must_use]
    pub fn new(
        config: Config,
        store: Arc<Store>,
        upstreams: Arc<Upstreams>,
        trust: Trust,
        log: Option<LogPolicy>,
    ) -> Self {
        let status = config
            .volumes
            .iter()
            .map(|v| {
                let (version, _) = checked_out(&v.checkout);
                VolumeStatus {
                    reference: v.reference.to_string(),
                    checkout: v.checkout.display().to_string(),
                    version,
                    ..VolumeStatus::default()
                }
            })
            .collect();
        Self {
            store,
            upstreams,
            trust: Mutex::new(trust),
            log,
            config,
            status: Mutex::new(status),
            rounds: Mutex::new(Rounds::default()),
            extra: Mutex::new(Vec::new()),
        }
    }

    /// Serves `source`'s metric families on `/metrics` too.
    pub fn add_metrics(&self, source: Arc<dyn MetricsSource>) {
        lock(&self.extra).push(source);
    }

    pub(crate) fn extra_metrics(&self) -> Vec<Arc<dyn MetricsSource>> {
        lock(&self.extra).clone()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The volumes' status now.
    #[must_use]
    pub fn status(&self) -> Vec<VolumeStatus> {
        lock(&self.status).clone()
    }

    pub(crate) fn rounds(&self) -> Rounds {
        *lock(&self.rounds)
    }

    /// One round over every volume, then gc when a checkout changed. Call inside a
    /// multi-threaded Tokio runtime.
    pub async fn round(&self) -> Vec<Outcome> {
        lock(&self.rounds).running_since = Some(unix_now());
        let mut outcomes = Vec::with_capacity(self.config.volumes.len());
        for (i, spec) in self.config.volumes.iter().enumerate() {
            let outcome = self.sync(spec).await;
            let mut status = lock(&self.status);
            let s = &mut status[i];
            match &outcome {
                Outcome::Updated {
                    version,
                    number,
                    bytes,
                } => {
                    s.version = Some(version.clone());
                    s.number = *number;
                    s.updated += 1;
                    s.bytes_transferred += bytes;
                }
                Outcome::Unchanged { version, number } => {
                    // Known after a restart too, not only after a switch.
                    s.version = Some(version.clone());
                    s.number = *number;
                    s.unchanged += 1;
                }
                Outcome::Failed(why) => {
                    s.failed += 1;
                    s.consecutive_failures += 1;
                    s.last_error = Some(why.clone());
                }
            }
            if !matches!(outcome, Outcome::Failed(_)) {
                s.consecutive_failures = 0;
                s.last_error = None;
                s.last_success = Some(unix_now());
            }
            outcomes.push(outcome);
        }
        if outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Updated { .. }))
        {
            tokio::task::block_in_place(|| self.gc());
        }
        let mut r = lock(&self.rounds);
        r.finished += 1;
        r.running_since = None;
        r.last_end = Some(unix_now());
        outcomes
    }

    /// Rounds every `interval` until the task is dropped; each outcome is logged to stderr.
    pub async fn run(self: Arc<Self>) {
        let (_keep, never) = tokio::sync::watch::channel(false);
        self.run_until(never).await;
    }

    /// [`Agent::run`] until `stop` turns true: a round under way is finished (its checkout
    /// switch is atomic either way), no new one starts.
    pub async fn run_until(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(self.config.interval));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let outcomes = self.round().await;
            for (spec, o) in self.config.volumes.iter().zip(&outcomes) {
                match o {
                    Outcome::Updated {
                        version, number, ..
                    } => eprintln!(
                        "agent: {} is now version {number} ({}) at {}",
                        spec.reference,
                        &version[..12.min(version.len())],
                        spec.checkout.display()
                    ),
                    Outcome::Unchanged { .. } => {}
                    Outcome::Failed(why) => eprintln!(
                        "agent: {}: {why}; {} stays as it was",
                        spec.reference,
                        spec.checkout.display()
                    ),
                }
            }
        }
    }

    /// The node's store.
    #[must_use]
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Pulls what `reference` names now through the agent's path (its mirrors, its trust
    /// root or keys with their rollback and freeze checks, the transparency log when
    /// configured, deltas from versions the store holds) and opens it verified. A newer trust
    /// root the mirrors published is used from then on. Call inside a multi-threaded runtime.
    ///
    /// # Errors
    /// The pull's error ([`PullError`]), or the version failing to open.
    pub async fn pull(&self, reference: &Reference) -> Result<Pulled, PullError> {
        let trust = lock(&self.trust).clone();
        let report = tinycdn_sync::pull_logged(
            self.store.clone(),
            self.upstreams.clone(),
            &trust,
            &reference.volume,
            &reference.spec,
            self.config.concurrency,
            &NoProgress,
            self.log.as_ref(),
        )
        .await?;
        let trust = match report.root.clone() {
            Some(root) => {
                let t = Trust::from_root(root);
                *lock(&self.trust) = t.clone();
                t
            }
            None => trust,
        };
        let id = report
            .version
            .ok_or_else(|| PullError::BadReference(reference.spec.clone()))?;
        let store = self.store.clone();
        let pinned = Reference {
            volume: reference.volume.clone(),
            spec: id.to_hex(),
        };
        let opened = tokio::task::block_in_place(|| pinned.open(&store, &trust))?;
        Ok(Pulled {
            version: opened,
            number: report.number,
            bytes_transferred: report.bytes_transferred,
        })
    }

    /// Collects versions beyond `keep` (never a tagged or checked-out one), counting the
    /// outcome in the agent's metrics.
    pub fn gc(&self) {
        let gc = tinycdn_volume::gc::gc(&self.store, self.config.keep, &NoProgress);
        let mut r = lock(&self.rounds);
        match gc {
            Ok(report) => r.gc_removed += report.versions_removed.len() as u64,
            Err(e) => {
                r.gc_failures += 1;
                eprintln!("agent: gc failed: {e}");
            }
        }
    }

    /// Pulls one volume and switches its checkout when the version changed.
    async fn sync(&self, spec: &VolumeSpec) -> Outcome {
        let pulled = match self.pull(&spec.reference).await {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("pull: {e}")),
        };
        let hex = pulled.version.id.to_hex();
        if checked_out(&spec.checkout).0.as_deref() == Some(hex.as_str()) {
            return Outcome::Unchanged {
                version: hex,
                number: pulled.number,
            };
        }
        let store = self.store.clone();
        let switched = tokio::task::block_in_place(|| {
            tinycdn_volume::checkout::checkout(&store, &pulled.version, &spec.checkout, &NoProgress)
        });
        match switched {
            Ok(_) => Outcome::Updated {
                version: hex,
                number: pulled.number,
                bytes: pulled.bytes_transferred,
            },
            Err(e) => Outcome::Failed(format!("checkout: {e}")),
        }
    }
}

/// A version pulled and opened by [`Agent::pull`].
#[derive(Debug)]
pub struct Pulled {
    /// The version, its signatures verified.
    pub version: OpenedVersion,
    /// Its number.
    pub number: u64,
    /// Bytes read from the mirrors.
    pub bytes_transferred: u64,
}

/// The version a checkout symlink points at (its directory's name) and whether that directory
/// is there.
pub(crate) fn checked_out(dest: &Path) -> (Option<String>, bool) {
    let Ok(target) = std::fs::read_link(dest) else {
        return (None, false);
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()));
    let resolved = if target.is_absolute() {
        target
    } else {
        dest.parent().map_or(target.clone(), |p| p.join(&target))
    };
    let live = name.is_some() && resolved.is_dir();
    (name, live)
}
