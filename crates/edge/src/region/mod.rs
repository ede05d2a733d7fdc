//! An edge's region: the other edges it shares chunks with.
//!
//! Each chunk has an owner among the members (weighted rendezvous hashing on its id, see
//! `tinycdn-region`). A miss on a member that does not own the chunk asks the owner over the
//! peer route; the owner answers from its cache or fills from its upstream — one fill for every
//! member asking at once — and never asks another peer. The requester checks the bytes against
//! the chunk id, so a peer is trusted for nothing but availability. An owner that fails is
//! skipped for a while and the next member in rendezvous order asked; when none answers, the
//! edge fills from its upstream itself.
//!
//! - `membership`: who the members are (a list, a file, a DNS name), refreshed;
//! - `peers`: asking members for chunks;
//! - `metrics`: the region's Prometheus lines.

mod membership;
mod metrics;
mod peers;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tinycdn_core::ChunkId;
use tinycdn_fetch::FetchError;
use tinycdn_region::{Health, Members};
use tokio::sync::OnceCell;

pub use membership::{MemberSource, RegionError};
pub use peers::bind_address;

/// How an edge joins its region.
#[derive(Debug, Clone)]
pub struct RegionConfig {
    /// This edge's URL as the members list it (`http://10.0.0.7:8080`).
    pub advertise: String,
    /// Where the members come from.
    pub source: MemberSource,
    /// How often a file or DNS name is read again.
    pub refresh: Duration,
    /// How long a peer request may take before the next member is asked.
    pub timeout: Duration,
    /// The local address peer requests are sent from (the address members know this edge by,
    /// so that they accept its requests).
    pub bind: Option<IpAddr>,
}

/// What the region did, for metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Chunks this edge filled from upstream as their owner (for itself or a peer).
    pub(crate) owner_fills: AtomicU64,
    /// Chunks filled from a peer (verified).
    pub(crate) peer_fills: AtomicU64,
    /// Chunks filled from upstream because no peer that should have had them answered.
    pub(crate) fallback_fills: AtomicU64,
    /// Peer requests answered, by result: hit, filled, not found, error, refused.
    pub(crate) served: [AtomicU64; 5],
    /// Failed peer requests, by reason: unreachable, timeout, status, unverified.
    pub(crate) peer_errors: [AtomicU64; 4],
    /// Members joined or left.
    pub(crate) membership_changes: AtomicU64,
    /// Failed reads of the member source (kept the previous members).
    pub(crate) refresh_errors: AtomicU64,
}

/// Indices into [`Counters::served`].
pub(crate) mod served {
    pub(crate) const HIT: usize = 0;
    pub(crate) const FILLED: usize = 1;
    pub(crate) const NOT_FOUND: usize = 2;
    pub(crate) const ERROR: usize = 3;
    pub(crate) const REFUSED: usize = 4;
    pub(crate) const LABELS: [&str; 5] = ["hit", "filled", "not_found", "error", "refused"];
}

/// One upstream fill shared by every request for the chunk (clients here and peers).
type OwnerFill = Arc<OnceCell<Result<Bytes, FetchError>>>;

/// What to do on a miss.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Members to ask, in order.
    pub(crate) ask: Vec<String>,
    /// Whether this edge is the owner (nobody to ask before it).
    pub(crate) own: bool,
}

/// Why an edge fills a chunk from its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FillSource {
    /// It owns the chunk (for itself or for a peer that asked).
    Owner,
    /// The members that should have had it did not answer.
    Fallback,
}

/// Peers asked on a miss before the edge fills from upstream itself.
const MAX_ASKED: usize = 2;

/// Keys sampled to estimate the share of chunks a membership change moved.
const MOVE_SAMPLES: u32 = 1024;

/// The region as this edge sees it.
#[derive(Debug)]
pub struct Region {
    me: String,
    config: RegionConfig,
    members: RwLock<Arc<Members>>,
    /// The addresses of the members: peer requests from others are refused.
    allowed: RwLock<Arc<HashSet<IpAddr>>>,
    health: Mutex<Health>,
    clock: Instant,
    client: peers::PeerClient,
    owner_fills: Mutex<HashMap<ChunkId, OwnerFill>>,
    /// The share of chunks the last membership change gave a new owner.
    moved: Mutex<f64>,
    resolver: Option<membership::Resolver>,
    pub(crate) counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Region {
    /// Joins the region: reads the members once (a DNS name that does not resolve yet is
    /// tried again at every refresh) and keeps them current in the background. Call inside a
    /// Tokio runtime.
    ///
    /// # Errors
    /// [`RegionError`] for a bad advertised URL, a peers file that cannot be read or parsed, a
    /// static list without this edge, a DNS server that cannot be used.
    pub async fn start(config: RegionConfig) -> Result<Arc<Self>, RegionError> {
        let me =
            tinycdn_region::Member::normalise(&config.advertise).map_err(RegionError::Advertise)?;
        let resolver = membership::Resolver::for_source(&config.source, config.refresh)?;
        let region = Arc::new(Self {
            me,
            client: peers::PeerClient::new(config.timeout, config.bind),
            config,
            members: RwLock::new(Arc::new(Members::default())),
            allowed: RwLock::new(Arc::new(HashSet::new())),
            health: Mutex::new(Health::new()),
            clock: Instant::now(),
            owner_fills: Mutex::new(HashMap::new()),
            moved: Mutex::new(0.0),
            resolver,
            counters: Counters::default(),
        });
        region.refresh(true).await?;
        membership::spawn_refresh(&region);
        Ok(region)
    }

    /// This edge's URL.
    #[must_use]
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The members now.
    #[must_use]
    pub fn members(&self) -> Arc<Members> {
        self.members
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a peer request from `ip` is answered: it must be a member's address.
    #[must_use]
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allowed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&ip.to_canonical())
    }

    /// Whom to ask for `chunk`: the members before this edge in rendezvous order that are not
    /// being skipped, at most [`MAX_ASKED`].
    pub(crate) fn plan(&self, chunk: &ChunkId) -> Plan {
        let members = self.members();
        let now = self.now_ms();
        let health = lock(&self.health);
        let mut ask = Vec::new();
        let mut own = false;
        for m in tinycdn_region::order(members.as_slice(), chunk.as_bytes()) {
            if m.url == self.me {
                own = ask.is_empty();
                break;
            }
            if health.is_up(&m.url, now) {
                ask.push(m.url.clone());
                if ask.len() == MAX_ASKED {
                    break;
                }
            }
        }
        if members.as_slice().is_empty() {
            own = true;
        }
        Plan { ask, own }
    }

    /// Fills `chunk` from upstream once however many ask at the same time (this edge's misses
    /// and its peers' requests), counted as `source` when this call is the one that fills; the
    /// result is not cached here.
    pub(crate) async fn owner_fill(
        &self,
        chunk: ChunkId,
        source: FillSource,
        fill: impl std::future::Future<Output = Result<Bytes, FetchError>>,
    ) -> Result<Bytes, FetchError> {
        let cell = lock(&self.owner_fills)
            .entry(chunk)
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let result = cell
            .get_or_init(|| async {
                let counter = match source {
                    FillSource::Owner => &self.counters.owner_fills,
                    FillSource::Fallback => &self.counters.fallback_fills,
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                fill.await
            })
            .await
            .clone();
        let mut m = lock(&self.owner_fills);
        if m.get(&chunk).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            m.remove(&chunk);
        }
        result
    }

    /// Records a new membership: counts the change (not the first one, at start) and forgets
    /// the health of those who left.
    fn install(&self, next: Members, allowed: HashSet<IpAddr>, initial: bool) {
        let prev = self.members();
        if *prev != next {
            if !initial {
                let changes = prev.changes_to(&next);
                let moved =
                    tinycdn_region::moved_share(prev.as_slice(), next.as_slice(), MOVE_SAMPLES);
                eprintln!(
                    "region: {} members ({changes} joined or left; {:.0}% of chunks have a new owner)",
                    next.as_slice().len(),
                    moved * 100.0
                );
                self.counters
                    .membership_changes
                    .fetch_add(changes as u64, std::sync::atomic::Ordering::Relaxed);
                *lock(&self.moved) = moved;
            }
            lock(&self.health).retain(|url| next.contains(url));
            *self.members.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        }
        *self.allowed.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(allowed);
    }
}
