//! The stored responses of the proxy: an index in memory (primary key → variants, surrogate key →
//! primary keys), each response's record on the cache disk (`meta/p/…`, reloaded at start), and
//! its body in the shared chunk cache, where identical bodies under many URLs are one set of
//! chunks. A record that does not decode, or whose chunks are gone, is dropped, never served.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use http::header::HeaderMap;
use tinycdn_cache_policy::key::Vary;
use tinycdn_cache_policy::{Heuristic, Record, ResponseDirectives, Stored};

use tinycdn_edge_cache::cache::ChunkCache;

/// Variants kept per primary key (the responses a `Vary` selects among); past it the oldest
/// goes.
pub const MAX_VARIANTS: usize = 32;

/// A stored response with what is derived from its record.
#[derive(Debug)]
pub struct Entry {
    /// The record (also its disk form).
    pub record: Record,
    /// Its directives for this cache.
    pub directives: ResponseDirectives,
    /// Whether they came from a targeted field.
    pub targeted: bool,
    /// Its `Vary`.
    pub vary: Vary,
    /// The metadata key of its record on disk.
    pub file: String,
    /// Its freshness lifetime (§4.2.1), computed once.
    pub lifetime: u64,
    /// Its age when received (§4.2.3), computed once.
    pub initial_age: u64,
    /// The header fields a hit starts from: the stored ones without `Age` and surrogate keys,
    /// with `Content-Length` (and, for a 200, `Accept-Ranges`).
    pub hit_headers: HeaderMap,
}

/// Surrogate keys a response names: `Surrogate-Key` (space-separated, Fastly's form) and
/// `Cache-Tag` (comma-separated, Cloudflare's form).
pub fn surrogate_keys(headers: &HeaderMap) -> Vec<String> {
    let mut keys = Vec::new();
    for (name, sep) in [("surrogate-key", ' '), ("cache-tag", ',')] {
        for v in headers.get_all(name) {
            let Ok(v) = v.to_str() else { continue };
            keys.extend(
                v.split(sep)
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

impl Entry {
    /// What the entry holds in memory, about: its key, secondary key and header fields twice
    /// (as stored and as a hit starts from), its chunk list, and the structures around them.
    pub fn cost(&self) -> u64 {
        let headers: usize = self
            .record
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        let variant: usize = self
            .record
            .variant
            .iter()
            .map(|(n, v)| n.len() + v.as_ref().map_or(0, String::len) + 48)
            .sum();
        (2 * self.record.key.len()
            + self.file.len()
            + variant
            + 2 * headers
            + self.record.chunks.len() * 40
            + 512) as u64
    }

    /// An entry for `record`, its directives parsed once, fresh by `heuristic` when silent.
    pub fn new(record: Record, heuristic: Heuristic) -> Self {
        let (directives, targeted) = ResponseDirectives::for_shared_cache(&record.headers);
        let facts = Stored::new(
            record.status,
            &record.headers,
            record.exchange,
            &directives,
            targeted,
            record.invalid,
            heuristic,
        );
        let (lifetime, initial_age) = (facts.lifetime, facts.initial_age);
        let mut hit_headers = record.headers.clone();
        for f in ["age", "surrogate-key", "cache-tag"] {
            hit_headers.remove(f);
        }
        if record.status == http::StatusCode::OK
            && !hit_headers.contains_key(http::header::ACCEPT_RANGES)
        {
            hit_headers.insert(
                http::header::ACCEPT_RANGES,
                http::HeaderValue::from_static("bytes"),
            );
        }
        hit_headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(record.body_len),
        );
        let vary = Vary::of(&record.headers);
        let mut id = blake3::Hasher::new();
        id.update(record.key.as_bytes());
        for (n, v) in &record.variant {
            id.update(&[0]);
            id.update(n.as_bytes());
            match v {
                Some(v) => {
                    id.update(&[1]);
                    id.update(v.as_bytes());
                }
                None => {
                    id.update(&[2]);
                }
            }
        }
        let hex = id.finalize().to_hex();
        let file = format!("p/{}/{hex}", &hex[..2]);
        Self {
            record,
            directives,
            targeted,
            vary,
            file,
            lifetime,
            initial_age,
            hit_headers,
        }
    }

    /// The view the reuse rules decide on.
    pub fn stored(&self) -> Stored<'_> {
        Stored {
            status: self.record.status,
            headers: &self.record.headers,
            exchange: self.record.exchange,
            directives: &self.directives,
            targeted: self.targeted,
            invalid: self.record.invalid,
            lifetime: self.lifetime,
            initial_age: self.initial_age,
        }
    }

    /// Whether it was stored for a request with these header fields (§4.1).
    pub fn selected_by(&self, request: &HeaderMap) -> bool {
        self.vary.secondary_key(request).as_ref() == Some(&self.record.variant)
    }
}

/// What the index holds for a request.
pub enum Lookup {
    /// A stored response selected for it.
    Found(Arc<Entry>),
    /// Responses for the URI, none for these request fields: the key of this request's variant
    /// under the stored responses' `Vary`, for collapsing.
    VaryMiss(String),
    /// Nothing for the URI.
    UriMiss,
}

/// How purges and invalidations select stored responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// One URL: absolute (`http://host/path?q`, normalised) or a path with its query, on any
    /// host.
    Url(String),
    /// Every URL starting with this: absolute, or a path prefix on any host.
    Prefix(String),
    /// Every response naming this surrogate key.
    Key(String),
}

#[derive(Debug, Default)]
struct Index {
    by_key: HashMap<String, Vec<Arc<Entry>>>,
    by_surrogate: HashMap<String, HashSet<String>>,
    /// Primary keys in the order they were first stored, for the bound on entries.
    order: VecDeque<String>,
    entries: usize,
    /// What the entries hold in memory ([`Entry::cost`]), for the bound on bytes.
    bytes: u64,
}

impl Index {
    fn unlink_surrogates(&mut self, e: &Entry) {
        for k in surrogate_keys(&e.record.headers) {
            let now_empty = self.by_surrogate.get_mut(&k).is_some_and(|set| {
                let still = self.by_key.get(&e.record.key).is_some_and(|v| {
                    v.iter().any(|o| {
                        !std::ptr::eq(&**o, e) && surrogate_keys(&o.record.headers).contains(&k)
                    })
                });
                if !still {
                    set.remove(&e.record.key);
                }
                set.is_empty()
            });
            if now_empty {
                self.by_surrogate.remove(&k);
            }
        }
    }

    /// Removes every variant of `key`; returns them.
    fn remove_key(&mut self, key: &str) -> Vec<Arc<Entry>> {
        let Some(variants) = self.by_key.remove(key) else {
            return Vec::new();
        };
        for e in &variants {
            for k in surrogate_keys(&e.record.headers) {
                if let Some(set) = self.by_surrogate.get_mut(&k) {
                    set.remove(key);
                    if set.is_empty() {
                        self.by_surrogate.remove(&k);
                    }
                }
            }
        }
        self.entries -= variants.len();
        self.bytes -= variants.iter().map(|e| e.cost()).sum::<u64>();
        variants
    }
}

/// What the index of stored responses may hold in memory: long keys and large header sets
/// cannot grow it past this however many `--max-entries` allows (the oldest keys go).
pub const MAX_INDEX_BYTES: u64 = 256 << 20;

/// The proxy's stored responses.
#[derive(Debug)]
pub struct Responses {
    index: RwLock<Index>,
    cache: Arc<ChunkCache>,
    max_entries: usize,
    max_bytes: u64,
    heuristic: Heuristic,
    /// Records dropped at start because they did not decode or their chunks were gone.
    pub dropped_at_start: AtomicU64,
    /// Entries evicted by the bound on their number.
    pub evicted: AtomicU64,
}

/// The collapsing key of a request's variant: the primary key and its secondary key under `vary`.
pub fn variant_key(key: &str, vary: &Vary, request: &HeaderMap) -> String {
    format!("{key}\0{:?}", vary.secondary_key(request))
}

fn path_of(key: &str) -> &str {
    let origin = tinycdn_cache_policy::key::origin_of(key);
    &key[origin.len()..]
}

impl Responses {
    /// The stored responses, reloaded from the cache disk; the index bounded at `max_entries`
    /// and `max_bytes` ([`Entry::cost`]).
    pub fn open(
        cache: Arc<ChunkCache>,
        max_entries: usize,
        max_bytes: u64,
        heuristic: Heuristic,
    ) -> Self {
        let r = Self {
            index: RwLock::new(Index::default()),
            cache,
            max_entries: max_entries.max(1),
            max_bytes,
            heuristic,
            dropped_at_start: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        };
        for file in r.cache.list_meta("p") {
            let entry = r
                .cache
                .get_meta(&file)
                .and_then(|b| Record::from_bytes(&b).ok())
                .map(|rec| Entry::new(rec, r.heuristic))
                .filter(|e| {
                    e.file == file && e.record.chunks.iter().all(|(id, _)| r.cache.contains(id))
                });
            match entry {
                Some(e) => {
                    r.link(Arc::new(e));
                }
                None => {
                    r.dropped_at_start.fetch_add(1, Ordering::Relaxed);
                    r.cache.delete_meta(&file);
                }
            }
        }
        r
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of stored responses.
    pub fn len(&self) -> usize {
        self.read().entries
    }

    /// Whether no response is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the index holds in memory ([`Entry::cost`]).
    pub fn bytes(&self) -> u64 {
        self.read().bytes
    }

    /// The stored response selected for a request (§4.1).
    pub fn lookup(&self, key: &str, request: &HeaderMap) -> Lookup {
        let index = self.read();
        let Some(variants) = index.by_key.get(key) else {
            return Lookup::UriMiss;
        };
        // The request's secondary key is computed once for the newest variant's `Vary` (which
        // its siblings almost always share) and compared with each, at most MAX_VARIANTS.
        let first = &variants[0];
        let wanted = first.vary.secondary_key(request);
        variants
            .iter()
            .find(|e| {
                if e.vary == first.vary {
                    wanted.as_ref() == Some(&e.record.variant)
                } else {
                    e.selected_by(request)
                }
            })
            .map_or_else(
                || Lookup::VaryMiss(format!("{key}\0{wanted:?}")),
                |e| Lookup::Found(e.clone()),
            )
    }

    /// Puts an entry in the index (replacing the same variant) and bounds their number; returns
    /// the entries it displaced.
    fn link(&self, entry: Arc<Entry>) -> Vec<Arc<Entry>> {
        let cost = entry.cost();
        let mut index = self.write();
        let mut gone = Vec::new();
        let key = entry.record.key.clone();
        for k in surrogate_keys(&entry.record.headers) {
            index.by_surrogate.entry(k).or_default().insert(key.clone());
        }
        let variants = index.by_key.entry(key.clone()).or_default();
        let fresh_key = variants.is_empty();
        if let Some(pos) = variants
            .iter()
            .position(|e| e.record.variant == entry.record.variant)
        {
            gone.push(variants.remove(pos));
        }
        variants.insert(0, entry);
        // A key's variants are bounded (the oldest goes): a client inventing values of a field
        // the response varies on cannot grow the index or every lookup of the key.
        let dropped: Vec<Arc<Entry>> = if variants.len() > MAX_VARIANTS {
            variants.split_off(MAX_VARIANTS)
        } else {
            Vec::new()
        };
        let added = 1 - gone.len();
        index.entries += added;
        index.entries -= dropped.len();
        index.bytes += cost;
        index.bytes -= gone.iter().chain(&dropped).map(|e| e.cost()).sum::<u64>();
        for g in gone.iter().chain(&dropped) {
            index.unlink_surrogates(g);
        }
        self.evicted
            .fetch_add(dropped.len() as u64, Ordering::Relaxed);
        gone.extend(dropped);
        if fresh_key {
            index.order.push_back(key.clone());
        }
        // The oldest keys go first; the one just stored is spared.
        let mut spared = false;
        while index.entries > self.max_entries || index.bytes > self.max_bytes {
            let Some(oldest) = index.order.pop_front() else {
                break;
            };
            if oldest == key {
                index.order.push_back(oldest);
                if spared {
                    break;
                }
                spared = true;
                continue;
            }
            let evicted = index.remove_key(&oldest);
            self.evicted
                .fetch_add(evicted.len() as u64, Ordering::Relaxed);
            gone.extend(evicted);
        }
        // Keys purged or replaced leave stale places in the order: compact now and then.
        if index.order.len() > 2 * self.max_entries.max(index.entries) {
            let Index { order, by_key, .. } = &mut *index;
            let mut seen = HashSet::new();
            order.retain(|k| by_key.contains_key(k) && seen.insert(k.clone()));
        }
        gone
    }

    /// Stores a response: its record on disk, then in the index.
    pub fn insert(&self, record: Record) -> Arc<Entry> {
        let entry = Arc::new(Entry::new(record, self.heuristic));
        self.cache.put_meta(&entry.file, &entry.record.to_bytes());
        for g in self.link(entry.clone()) {
            if g.file != entry.file {
                self.cache.delete_meta(&g.file);
            }
        }
        entry
    }

    /// Drops one stored response (its chunks were found missing, or it was replaced).
    pub fn remove_entry(&self, entry: &Entry) {
        let mut index = self.write();
        let key = entry.record.key.clone();
        let Some(variants) = index.by_key.get_mut(&key) else {
            return;
        };
        let Some(pos) = variants.iter().position(|e| std::ptr::eq(&**e, entry)) else {
            return;
        };
        let e = variants.remove(pos);
        let empty = variants.is_empty();
        index.entries -= 1;
        index.bytes -= e.cost();
        index.unlink_surrogates(&e);
        if empty {
            index.by_key.remove(&key);
        }
        drop(index);
        self.cache.delete_meta(&entry.file);
    }

    /// The primary keys a selector names.
    fn select(&self, selector: &Selector) -> Vec<String> {
        let index = self.read();
        match selector {
            Selector::Key(k) => index
                .by_surrogate
                .get(k)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default(),
            Selector::Url(u) if u.starts_with('/') => index
                .by_key
                .keys()
                .filter(|k| path_of(k) == u)
                .cloned()
                .collect(),
            Selector::Url(u) => index
                .by_key
                .get_key_value(u)
                .map(|(k, _)| vec![k.clone()])
                .unwrap_or_default(),
            Selector::Prefix(p) if p.starts_with('/') => index
                .by_key
                .keys()
                .filter(|k| path_of(k).starts_with(p.as_str()))
                .cloned()
                .collect(),
            Selector::Prefix(p) => index
                .by_key
                .keys()
                .filter(|k| k.starts_with(p.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Removes (hard) or marks invalid (soft: validated before reuse, still usable under
    /// `stale-if-error`) every stored response a selector names; returns how many.
    pub fn purge(&self, selector: &Selector, soft: bool, scope: &dyn Fn(&str) -> bool) -> usize {
        let keys = self.select(selector);
        let mut n = 0;
        for key in keys.into_iter().filter(|k| scope(k)) {
            if soft {
                n += self.invalidate(&key);
                continue;
            }
            let gone = self.write().remove_key(&key);
            n += gone.len();
            for g in gone {
                self.cache.delete_meta(&g.file);
            }
        }
        n
    }

    /// Marks every variant of `key` invalid (§4.4); returns how many.
    pub fn invalidate(&self, key: &str) -> usize {
        let variants: Vec<Arc<Entry>> = self.read().by_key.get(key).cloned().unwrap_or_default();
        let mut n = 0;
        for e in variants.into_iter().filter(|e| !e.record.invalid) {
            let mut record = e.record.clone();
            record.invalid = true;
            self.insert(record);
            n += 1;
        }
        n
    }

    /// Replaces an entry's headers and exchange after a 304 (§4.3.4); the body stays.
    pub fn freshen(
        &self,
        entry: &Entry,
        headers: HeaderMap,
        exchange: tinycdn_cache_policy::Exchange,
    ) -> Arc<Entry> {
        let mut record = entry.record.clone();
        record.headers = headers;
        record.exchange = exchange;
        record.invalid = false;
        self.insert(record)
    }
}
