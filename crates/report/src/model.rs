//! The report's figures: built from a store (space and deltas, per volume and version) and from
//! the `/metrics` text of edges (hit ratios per PoP and tier).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use tinycdn_core::ChunkId;
use tinycdn_store::Store;
use tinycdn_telemetry::scrape;
use tinycdn_volume::VolumeError;

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Unix seconds when it was made.
    pub generated: i64,
    /// The store's figures, when a store was read.
    pub store: Option<StoreSection>,
    /// One section per edge read.
    pub edges: Vec<EdgeSection>,
}

/// Space and deltas of one store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreSection {
    /// Bytes of every version's files.
    pub logical_bytes: u64,
    /// Bytes the store holds.
    pub physical_bytes: u64,
    /// Bytes of the distinct chunks referenced.
    pub unique_chunk_bytes: u64,
    /// Physical over distinct chunk bytes.
    pub duplication_factor: f64,
    /// Logical over physical.
    pub dedup_ratio: f64,
    /// Per volume.
    pub volumes: Vec<VolumeSection>,
    /// Per delta method (`all` first).
    pub deltas: Vec<DeltaRow>,
}

/// One volume.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeSection {
    /// Its name.
    pub name: String,
    /// Its versions, oldest first.
    pub versions: Vec<VersionRow>,
}

/// One version.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VersionRow {
    /// Its number.
    pub number: u64,
    /// Its id (short).
    pub id: String,
    /// Bytes of its files.
    pub bytes: u64,
    /// Bytes of chunks no earlier version of the volume had: what it cost to store.
    pub new_chunk_bytes: u64,
}

/// One delta method's economy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeltaRow {
    /// The method.
    pub method: String,
    /// Deltas kept.
    pub count: u64,
    /// Target over delta bytes.
    pub compression_ratio: f64,
    /// Bytes saved over chunks per CPU second.
    pub saved_bytes_per_cpu_second: f64,
    /// CPU seconds spent.
    pub cpu_seconds: f64,
}

/// What one edge's `/metrics` says.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EdgeSection {
    /// Where it was read.
    pub source: String,
    /// Its `pop` label.
    pub pop: String,
    /// Chunk lookups by tier and outcome (`memory hit`, `disk hit`, `upstream miss`, `collapsed`).
    pub lookups: BTreeMap<String, f64>,
    /// Their bytes.
    pub lookup_bytes: BTreeMap<String, f64>,
    /// Lookups answered without upstream, over all.
    pub hit_ratio_requests: f64,
    /// Content bytes served from the cache over content bytes served (the byte hit ratio as
    /// users know it); from chunk lookups for an edge that does not export the counter.
    pub hit_ratio_bytes: f64,
    /// Body bytes sent.
    pub bytes_served: f64,
    /// Body bytes of content responses (carrying the cache's `Cache-Status`): served from the
    /// cache (hit, stale) and in all, when the edge exports them.
    pub content_bytes: Option<(f64, f64)>,
    /// Bytes fetched from upstream.
    pub bytes_filled: f64,
    /// RFC 9111 proxy results.
    pub proxy: BTreeMap<String, f64>,
    /// Requests by route class.
    pub requests: BTreeMap<String, f64>,
    /// Per site (`[[site]]` of the edge's configuration), by name.
    pub sites: BTreeMap<String, SiteRow>,
}

/// One site of an edge: its tenant's view of the cache.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteRow {
    /// Responses sent.
    pub requests: f64,
    /// Body bytes of content responses served from the cache.
    pub hit_bytes: f64,
    /// Body bytes of content responses.
    pub content_bytes: f64,
    /// Its byte hit ratio.
    pub hit_ratio_bytes: f64,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl EdgeSection {
    /// Reads an edge's exposition text.
    #[must_use]
    pub fn from_metrics(source: &str, text: &str) -> Self {
        let samples = scrape::parse(text);
        let mut s = Self {
            source: source.to_owned(),
            ..Self::default()
        };
        for x in &samples {
            let key = || {
                format!(
                    "{} {}",
                    x.label("tier").unwrap_or("?"),
                    x.label("result").unwrap_or("?")
                )
            };
            match x.name.as_str() {
                "tinycdn_cache_chunks_total" => {
                    *s.lookups.entry(key()).or_default() += x.value;
                }
                "tinycdn_cache_chunk_bytes_total" => {
                    *s.lookup_bytes.entry(key()).or_default() += x.value;
                }
                "tinycdn_coalesced_waiters_total" => {
                    *s.lookups.entry("memory collapsed".into()).or_default() += x.value;
                }
                "tinycdn_body_bytes_sent_total" => s.bytes_served += x.value,
                "tinycdn_cache_body_bytes_total" => {
                    let (hit, all) = s.content_bytes.get_or_insert((0.0, 0.0));
                    *all += x.value;
                    if x.label("result") == Some("hit") {
                        *hit += x.value;
                    }
                }
                "tinycdn_upstream_fetched_bytes_total" => s.bytes_filled += x.value,
                "tinycdn_proxy_requests_total" => {
                    *s.proxy
                        .entry(x.label("result").unwrap_or("?").to_owned())
                        .or_default() += x.value;
                }
                "tinycdn_site_requests_total" => {
                    if let Some(site) = x.label("site") {
                        s.sites.entry(site.to_owned()).or_default().requests += x.value;
                    }
                }
                "tinycdn_site_body_bytes_total" => {
                    if let Some(site) = x.label("site") {
                        let row = s.sites.entry(site.to_owned()).or_default();
                        row.content_bytes += x.value;
                        if x.label("result") == Some("hit") {
                            row.hit_bytes += x.value;
                        }
                    }
                }
                "http_server_request_duration_seconds_count" => {
                    *s.requests
                        .entry(x.label("http_route").unwrap_or("?").to_owned())
                        .or_default() += x.value;
                }
                _ => {}
            }
            if s.pop.is_empty() {
                if let Some(p) = x.label("pop") {
                    s.pop = p.to_owned();
                }
            }
        }
        let sum = |m: &BTreeMap<String, f64>, upstream: bool| -> f64 {
            m.iter()
                .filter(|(k, _)| k.starts_with("upstream") == upstream)
                .map(|(_, v)| v)
                .sum()
        };
        s.hit_ratio_requests = ratio(
            sum(&s.lookups, false),
            sum(&s.lookups, false) + sum(&s.lookups, true),
        );
        for row in s.sites.values_mut() {
            row.hit_ratio_bytes = ratio(row.hit_bytes, row.content_bytes);
        }
        s.hit_ratio_bytes = match s.content_bytes {
            Some((hit, all)) => ratio(hit, all),
            None => ratio(
                sum(&s.lookup_bytes, false),
                sum(&s.lookup_bytes, false) + sum(&s.lookup_bytes, true),
            ),
        };
        s
    }
}

impl StoreSection {
    /// Reads a store: its space figures, its delta economy, and each version's new bytes.
    ///
    /// # Errors
    /// Store errors.
    pub fn from_store(store: &Store) -> Result<Self, VolumeError> {
        let stats = tinycdn_volume::stats::stats(store)?;
        let mut volumes = Vec::new();
        for name in store.volumes()? {
            let mut seen: HashSet<ChunkId> = HashSet::new();
            let mut versions = Vec::new();
            for (number, id) in store.versions(&name)? {
                let Ok((m, _)) = store.read_manifest(&id) else {
                    continue;
                };
                let mut new = 0u64;
                for (_, f) in m.files() {
                    for c in &f.chunks {
                        if seen.insert(c.id) {
                            new += u64::from(c.len);
                        }
                    }
                }
                versions.push(VersionRow {
                    number,
                    id: id.short(),
                    bytes: m.logical_size(),
                    new_chunk_bytes: new,
                });
            }
            volumes.push(VolumeSection {
                name: name.to_string(),
                versions,
            });
        }
        Ok(Self {
            logical_bytes: stats.logical_bytes,
            physical_bytes: stats.physical_bytes,
            unique_chunk_bytes: stats.unique_chunk_bytes,
            duplication_factor: stats.duplication_factor,
            dedup_ratio: stats.dedup_ratio,
            volumes,
            deltas: stats
                .deltas
                .iter()
                .map(|d| DeltaRow {
                    method: d.method.clone(),
                    count: d.count,
                    compression_ratio: d.compression_ratio(),
                    saved_bytes_per_cpu_second: d.saved_bytes_per_cpu_second(),
                    cpu_seconds: d.cpu_seconds + d.rejected_cpu_seconds,
                })
                .collect(),
        })
    }
}

impl Report {
    /// The fleet-wide hit ratio (by requests, by bytes) over every edge read.
    #[must_use]
    pub fn fleet_hit_ratio(&self) -> (f64, f64) {
        let (mut hr, mut ar, mut hb, mut ab) = (0.0, 0.0, 0.0, 0.0);
        for e in &self.edges {
            for (k, v) in &e.lookups {
                ar += v;
                if !k.starts_with("upstream") {
                    hr += v;
                }
            }
            match e.content_bytes {
                Some((hit, all)) => {
                    hb += hit;
                    ab += all;
                }
                None => {
                    for (k, v) in &e.lookup_bytes {
                        ab += v;
                        if !k.starts_with("upstream") {
                            hb += v;
                        }
                    }
                }
            }
        }
        (ratio(hr, ar), ratio(hb, ab))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One image variant made from a large source (a miss that filled the source), then asked
    /// for twice more (hits): two of three responses and most bytes served came from the cache.
    const VARIANT_BURST: &str = "\
tinycdn_cache_chunks_total{tier=\"memory\",result=\"hit\"} 2
tinycdn_cache_chunks_total{tier=\"upstream\",result=\"miss\"} 40
tinycdn_cache_chunk_bytes_total{tier=\"memory\",result=\"hit\"} 40000
tinycdn_cache_chunk_bytes_total{tier=\"upstream\",result=\"miss\"} 2600000
tinycdn_body_bytes_sent_total 75000
tinycdn_cache_body_bytes_total{result=\"hit\"} 40000
tinycdn_cache_body_bytes_total{result=\"other\"} 20000
tinycdn_upstream_fetched_bytes_total 2600000
";

    #[test]
    fn the_byte_hit_ratio_is_bytes_served_from_the_cache_over_bytes_served() {
        let e = EdgeSection::from_metrics("edge", VARIANT_BURST);
        assert!(
            (e.hit_ratio_bytes - 40_000.0 / 60_000.0).abs() < 1e-9,
            "{}",
            e.hit_ratio_bytes
        );
        assert!(
            (e.bytes_filled - 2_600_000.0).abs() < 1e-9,
            "fills shown apart"
        );
        let report = Report {
            generated: 0,
            store: None,
            edges: vec![e],
        };
        let (_, by) = report.fleet_hit_ratio();
        assert!((by - 2.0 / 3.0).abs() < 1e-9, "{by}");
    }

    #[test]
    fn an_edge_without_the_counter_falls_back_to_chunk_lookups() {
        let old: String = VARIANT_BURST
            .lines()
            .filter(|l| !l.starts_with("tinycdn_cache_body_bytes_total"))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = EdgeSection::from_metrics("edge", &old);
        assert_eq!(e.content_bytes, None);
        assert!((e.hit_ratio_bytes - 40_000.0 / 2_640_000.0).abs() < 1e-9);
    }

    #[test]
    fn each_site_has_its_own_byte_hit_ratio() {
        let text = "\
tinycdn_site_requests_total{site=\"shop\"} 10
tinycdn_site_requests_total{site=\"blog\"} 3
tinycdn_site_body_bytes_total{site=\"shop\",result=\"hit\"} 900
tinycdn_site_body_bytes_total{site=\"shop\",result=\"other\"} 100
tinycdn_site_body_bytes_total{site=\"blog\",result=\"hit\"} 0
tinycdn_site_body_bytes_total{site=\"blog\",result=\"other\"} 500
";
        let e = EdgeSection::from_metrics("edge", text);
        assert_eq!(e.sites.len(), 2);
        let shop = &e.sites["shop"];
        assert!((shop.hit_ratio_bytes - 0.9).abs() < 1e-9);
        assert!((shop.requests - 10.0).abs() < 1e-9);
        assert!(e.sites["blog"].hit_ratio_bytes.abs() < 1e-9);
        let html = crate::html::page(
            "t",
            &Report {
                generated: 0,
                store: None,
                edges: vec![e],
            },
            false,
        );
        assert!(
            html.contains("byte hit ratio per site") && html.contains("shop"),
            "{html}"
        );
    }
}
