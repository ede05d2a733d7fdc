//! What `audit` found, as text for people and JSON for machines.

use std::path::PathBuf;

use serde_json::json;
use tinycdn_audit::parse::Format;
use tinycdn_audit::pattern::mount_prefix;
use tinycdn_audit::rank::{Order, Ranking, Row};
use tinycdn_audit::sim::{Kind, Point};

use super::size_for;
use crate::logs::LogRead;
use crate::output::bytes;

/// Content types, most bytes first.
fn types_by_bytes(r: &Ranking) -> Vec<(&String, &tinycdn_audit::rank::Share)> {
    let mut v: Vec<_> = r.by_type.iter().collect();
    v.sort_by_key(|(t, s)| (std::cmp::Reverse(s.bytes), *t));
    v
}

pub(super) struct Report<'a> {
    pub(super) format: Format,
    pub(super) files: &'a [PathBuf],
    pub(super) read: &'a LogRead,
    pub(super) ranking: &'a Ranking,
    pub(super) points: &'a [Point],
    pub(super) kinds: &'a [Kind],
    pub(super) working_set: u64,
    pub(super) trace_requests: usize,
    pub(super) trace_rate: f64,
    pub(super) top: usize,
    pub(super) target_hit: &'a [f64],
    pub(super) read_s: f64,
    pub(super) sim_s: f64,
}

impl Report<'_> {
    pub(super) fn curve(&self, k: Kind) -> Vec<&Point> {
        self.points
            .iter()
            .filter(|p| p.policy == k.name())
            .collect()
    }

    /// The policy the answers use: S3-FIFO when simulated, else the first.
    pub(super) fn answer_policy(&self) -> Option<Kind> {
        self.kinds
            .iter()
            .copied()
            .find(|k| *k == Kind::S3Fifo)
            .or_else(|| self.kinds.first().copied())
    }

    pub(super) fn sizing(&self) -> Vec<(f64, Option<u64>)> {
        let Some(k) = self.answer_policy() else {
            return Vec::new();
        };
        let c = self.curve(k);
        self.target_hit
            .iter()
            .map(|&t| (t, size_for(&c, t)))
            .collect()
    }

    /// Groups worth a volume: the top by transfer, as mount prefixes with their share.
    pub(super) fn mounts(&self) -> Vec<(String, Row)> {
        let mut seen = std::collections::HashSet::new();
        self.ranking
            .top_groups(Order::Transfer, self.top.max(1) * 4)
            .into_iter()
            .filter_map(|r| {
                let prefix = mount_prefix(&r.key).to_owned();
                (worth_a_mount(&prefix) && seen.insert(prefix.clone())).then_some((prefix, r))
            })
            .take(self.top.min(10))
            .collect()
    }

    /// The largest cache size simulated.
    fn largest(&self) -> Option<u64> {
        let k = self.answer_policy()?;
        self.curve(k).into_iter().map(|p| p.cache_bytes).max()
    }

    /// The egress a hit ratio saves at the largest simulated size of the answer policy.
    pub(super) fn egress(&self) -> Option<(u64, f64, u64)> {
        let k = self.answer_policy()?;
        let p = self.curve(k).into_iter().max_by_key(|p| p.cache_bytes)?;
        let saved = (self.ranking.total.bytes as f64 * (1.0 - p.byte_miss_ratio)) as u64;
        Some((p.cache_bytes, 1.0 - p.byte_miss_ratio, saved))
    }

    fn rows_json(rows: &[Row]) -> serde_json::Value {
        serde_json::to_value(rows).unwrap_or_default()
    }

    pub(super) fn json(&self) -> serde_json::Value {
        let r = self.ranking;
        let orders = [
            Order::Requests,
            Order::Size,
            Order::Transfer,
            Order::Latency,
        ];
        let objects: serde_json::Map<String, serde_json::Value> = orders
            .iter()
            .map(|&o| {
                (
                    format!("{o:?}").to_lowercase(),
                    Self::rows_json(&r.top_objects(o, self.top)),
                )
            })
            .collect();
        let groups: serde_json::Map<String, serde_json::Value> = orders
            .iter()
            .map(|&o| {
                (
                    format!("{o:?}").to_lowercase(),
                    Self::rows_json(&r.top_groups(o, self.top)),
                )
            })
            .collect();
        let by_type = types_by_bytes(r);
        let mut by_status: Vec<_> = r.by_status.iter().collect();
        by_status.sort_by_key(|(s, _)| **s);
        json!({
            "format": self.format,
            "files": self.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "lines": self.read.lines,
            "requests": r.total.requests,
            "malformed": self.read.malformed,
            "comments": self.read.comments,
            "malformed_samples": self.read.samples.iter().map(|(f, n, e)| json!({"file": f, "line": n, "error": e})).collect::<Vec<_>>(),
            "bytes": r.total.bytes,
            "request_time_s": r.total.time_s,
            "span_ms": r.span_ms,
            "rank_error_bound": r.error_bound(),
            "by_type": by_type.iter().map(|(t, s)| json!({"type": t, "requests": s.requests, "bytes": s.bytes})).collect::<Vec<_>>(),
            "by_status": by_status.iter().map(|(c, s)| json!({"status": c, "requests": s.requests, "bytes": s.bytes})).collect::<Vec<_>>(),
            "top_objects": objects,
            "top_groups": groups,
            "simulation": {
                "requests": self.trace_requests,
                "sampling_rate": self.trace_rate,
                "working_set_bytes": self.working_set,
                "seconds": self.sim_s,
            },
            "curves": self.points,
            "sizing": self.sizing().iter().map(|(t, s)| json!({"object_hit_ratio": t, "policy": self.answer_policy().map(Kind::name), "cache_bytes": s})).collect::<Vec<_>>(),
            "mounts": self.mounts().iter().map(|(p, r)| json!({"prefix": p, "pattern": r.key, "requests": r.stats.requests, "transfer": r.transfer})).collect::<Vec<_>>(),
            "egress_saved": self.egress().map(|(c, h, s)| json!({"cache_bytes": c, "byte_hit_ratio": h, "bytes": s})),
            "read_seconds": self.read_s,
            "lines_per_second": self.read.lines as f64 / self.read_s.max(1e-9),
        })
    }

    pub(super) fn text(&self) {
        let r = self.ranking;
        println!(
            "{} lines ({}) in {} file(s): {} requests, {} sent, {} malformed",
            self.read.lines,
            self.format.name(),
            self.files.len(),
            r.total.requests,
            bytes(r.total.bytes),
            self.read.malformed
        );
        for (f, n, e) in &self.read.samples {
            println!("  malformed {f}:{n}: {e}");
        }
        if r.error_bound() > 0 {
            println!(
                "  (rankings kept the busiest objects; counts may be short by up to {})",
                r.error_bound()
            );
        }
        println!("\ntop path groups by transfer (requests x object size):");
        for row in r.top_groups(Order::Transfer, self.top) {
            println!(
                "  {:>10}  {:>8} req  {:>8.1} s  {}",
                bytes(row.transfer),
                row.stats.requests,
                row.stats.time_s,
                row.key
            );
        }
        if r.total.requests > 0 && r.total.time_s == 0.0 {
            eprintln!(
                "warning: the log records no request times (nginx's combined format lacks \
                 $request_time; tinycdn's json log has them): the latency impact below is all zeros"
            );
        }
        for (title, order) in [
            ("requests", Order::Requests),
            ("transfer", Order::Transfer),
            ("latency impact (sum of request time)", Order::Latency),
        ] {
            println!("\ntop objects by {title}:");
            for row in r.top_objects(order, self.top) {
                println!(
                    "  {:>8} req  {:>10}  {:>8.2} s  {}",
                    row.stats.requests,
                    bytes(row.transfer),
                    row.stats.time_s,
                    row.key
                );
            }
        }
        let by_type = types_by_bytes(r);
        println!("\nby content type:");
        for (t, s) in by_type.iter().take(10) {
            println!("  {:>10}  {:>8} req  {t}", bytes(s.bytes), s.requests);
        }
        println!(
            "\nmiss ratios (object / byte), {} requests simulated{}, working set {}:",
            self.trace_requests,
            if self.trace_rate < 1.0 {
                format!(" (SHARDS sample at rate {:.4})", self.trace_rate)
            } else {
                String::new()
            },
            bytes(self.working_set)
        );
        let sizes: Vec<u64> = self
            .curve(self.kinds[0])
            .iter()
            .map(|p| p.cache_bytes)
            .collect();
        print!("  {:<10}", "cache");
        for s in &sizes {
            print!(" {:>15}", bytes(*s));
        }
        println!();
        for &k in self.kinds {
            print!("  {:<10}", k.name());
            for p in self.curve(k) {
                print!(" {:>7.4}/{:<7.4}", p.object_miss_ratio, p.byte_miss_ratio);
            }
            println!();
        }
        if let Some(k) = self.answer_policy() {
            println!();
            for (t, s) in self.sizing() {
                match s {
                    Some(s) => println!(
                        "cache for a {:.0} % hit ratio ({}): {}",
                        t * 100.0,
                        k.name(),
                        bytes(s)
                    ),
                    None => println!(
                        "cache for a {:.0} % hit ratio ({}): more than the largest size simulated ({}; \
                         try larger ones with --cache-sizes)",
                        t * 100.0,
                        k.name(),
                        self.largest().map_or_else(|| "none".to_owned(), bytes)
                    ),
                }
            }
        }
        if let Some((c, h, s)) = self.egress() {
            println!(
                "egress saved by a {} cache: {} ({:.1} % of bytes)",
                bytes(c),
                bytes(s),
                h * 100.0
            );
        }
        let mounts = self.mounts();
        if !mounts.is_empty() {
            println!("\nmove into volumes (mount at the app's paths):");
            for (p, row) in mounts {
                let name = p.trim_matches('/').replace('/', "-");
                println!(
                    "  --mount {p}={name}@stable    # {} requests, {} ({})",
                    row.stats.requests,
                    bytes(row.transfer),
                    row.key
                );
            }
        }
        eprintln!(
            "read {} lines in {:.2} s ({:.0} lines/s), simulated in {:.2} s",
            self.read.lines,
            self.read_s,
            self.read.lines as f64 / self.read_s.max(1e-9),
            self.sim_s
        );
    }
}

/// Whether a path prefix can become a volume mounted in front of an application: not the root,
/// not the edge's own routes (`/.tinycdn/…`, volume files under `/v/`), and named so that a
/// volume may carry the name (no segment starting with a dot).
fn worth_a_mount(prefix: &str) -> bool {
    let name = prefix.trim_matches('/').replace('/', "-");
    prefix != "/"
        && !prefix.starts_with("/v/")
        && !prefix.split('/').any(|s| s.starts_with('.'))
        && tinycdn_core::names::VolumeName::new(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::worth_a_mount;

    #[test]
    fn the_edges_own_routes_and_unnameable_prefixes_are_never_advised() {
        assert!(worth_a_mount("/media/"));
        assert!(worth_a_mount("/static/img/"));
        for bad in ["/", "/.tinycdn/", "/v/", "/v/site@stable/", "/a/.hidden/"] {
            assert!(!worth_a_mount(bad), "{bad}");
        }
    }
}
