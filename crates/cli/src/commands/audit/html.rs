//! `audit --report FILE`: the audit as one self-contained HTML page (inline SVG, no script, no
//! external assets): miss-ratio curves, the sizing answers, top objects and groups, and the size
//! and popularity distributions.

use std::fmt::Write as _;

use tinycdn_audit::rank::{Order, Row};
use tinycdn_report::chart::{lines, Axis, Series};
use tinycdn_report::html::{bars, bytes as fbytes, esc, STYLE};

use super::report::Report;

fn size_tick(v: f64) -> String {
    fbytes(v)
}

fn ratio_tick(v: f64) -> String {
    format!("{v:.2}")
}

fn count_tick(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Distributions the page draws, computed from the simulated trace.
pub(super) struct Distributions {
    /// Requests per object, most first.
    pub popularity: Vec<u64>,
    /// `(bucket lower bound, objects, requests)`.
    pub sizes: Vec<(u64, u64, u64)>,
}

fn table(s: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    s.push_str("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
}

fn row_cells(r: &Row) -> Vec<String> {
    vec![
        r.key.clone(),
        r.stats.requests.to_string(),
        fbytes(r.transfer as f64),
        format!("{:.2}", r.stats.time_s),
    ]
}

/// The page.
pub(super) fn page(r: &Report<'_>, d: &Distributions) -> String {
    let rk = r.ranking;
    let mut s = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\"><title>tinycdn audit</title><style>{STYLE}</style></head><body><h1>tinycdn audit</h1><p class=\"note\" id=\"summary\">{} lines ({}) in {} file(s): {} requests, {} sent, {} malformed</p>",
        r.read.lines,
        r.format.name(),
        r.files.len(),
        rk.total.requests,
        esc(&fbytes(rk.total.bytes as f64)),
        r.read.malformed
    );
    if !r.read.samples.is_empty() {
        table(
            &mut s,
            &["file", "line", "why"],
            r.read
                .samples
                .iter()
                .map(|(f, n, e)| vec![f.clone(), n.to_string(), e.clone()]),
        );
    }
    curves(&mut s, r);
    answers(&mut s, r);
    s.push_str("<h2>What matters</h2>");
    let groups: Vec<(String, f64, String)> = rk
        .top_groups(Order::Transfer, r.top)
        .iter()
        .map(|g| (g.key.clone(), g.transfer as f64, fbytes(g.transfer as f64)))
        .collect();
    s.push_str(&bars(
        "top-groups",
        "path groups by transfer (requests × size)",
        &groups,
        None,
    ));
    for (title, order) in [
        ("top objects by requests", Order::Requests),
        ("top objects by transfer", Order::Transfer),
        (
            "top objects by latency impact (sum of request time)",
            Order::Latency,
        ),
    ] {
        let _ = write!(s, "<h3>{}</h3>", esc(title));
        table(
            &mut s,
            &["object", "requests", "transfer", "request time (s)"],
            rk.top_objects(order, r.top).iter().map(row_cells),
        );
    }
    distributions(&mut s, r, d);
    s.push_str("</body></html>\n");
    s
}

fn curves(s: &mut String, r: &Report<'_>) {
    let sampled = if r.trace_rate < 1.0 {
        format!(
            " (SHARDS sample at rate {:.4}; expect about a point or two of error)",
            r.trace_rate
        )
    } else {
        String::new()
    };
    let _ = write!(
        s,
        "<h2>Miss-ratio curves</h2><p class=\"note\">{} requests simulated{}, working set {}</p>",
        r.trace_requests,
        esc(&sampled),
        esc(&fbytes(r.working_set as f64))
    );
    let series = |byte: bool| -> Vec<Series> {
        r.kinds
            .iter()
            .map(|&k| Series {
                name: k.name().to_owned(),
                points: r
                    .curve(k)
                    .iter()
                    .map(|p| {
                        let m = if byte {
                            p.byte_miss_ratio
                        } else {
                            p.object_miss_ratio
                        };
                        (p.cache_bytes as f64, m)
                    })
                    .collect(),
            })
            .collect()
    };
    let x = Axis {
        title: "cache size",
        log: true,
        format: size_tick,
    };
    let y = |title| Axis {
        title,
        log: false,
        format: ratio_tick,
    };
    s.push_str(&lines(
        "object-miss",
        "object miss ratio",
        &series(false),
        x,
        y("object miss ratio"),
    ));
    s.push_str(&lines(
        "byte-miss",
        "byte miss ratio",
        &series(true),
        x,
        y("byte miss ratio"),
    ));
    let sizes: Vec<u64> = r
        .kinds
        .first()
        .map(|&k| r.curve(k).iter().map(|p| p.cache_bytes).collect())
        .unwrap_or_default();
    let mut head = vec!["policy".to_owned()];
    head.extend(sizes.iter().map(|&b| fbytes(b as f64)));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    table(
        s,
        &head,
        r.kinds.iter().map(|&k| {
            let mut row = vec![k.name().to_owned()];
            row.extend(
                r.curve(k)
                    .iter()
                    .map(|p| format!("{:.4} / {:.4}", p.object_miss_ratio, p.byte_miss_ratio)),
            );
            row
        }),
    );
}

fn answers(s: &mut String, r: &Report<'_>) {
    s.push_str("<h2>Answers</h2>");
    if let Some(k) = r.answer_policy() {
        table(
            s,
            &["object hit ratio", "policy", "cache size"],
            r.sizing().into_iter().map(|(t, size)| {
                vec![
                    format!("{:.0} %", t * 100.0),
                    k.name().to_owned(),
                    size.map_or_else(
                        || "more than the largest size simulated".to_owned(),
                        |b| fbytes(b as f64),
                    ),
                ]
            }),
        );
    }
    if let Some((c, h, saved)) = r.egress() {
        let _ = write!(
            s,
            "<p id=\"egress\">egress saved by a {} cache: {} ({:.1} % of bytes)</p>",
            esc(&fbytes(c as f64)),
            esc(&fbytes(saved as f64)),
            h * 100.0
        );
    }
    let mounts = r.mounts();
    if !mounts.is_empty() {
        s.push_str("<h3>Move into volumes</h3><pre id=\"mounts\">");
        for (p, row) in mounts {
            let name = p.trim_matches('/').replace('/', "-");
            let _ = writeln!(
                s,
                "--mount {}={}@stable    # {} requests, {}",
                esc(&p),
                esc(&name),
                row.stats.requests,
                esc(&fbytes(row.transfer as f64))
            );
        }
        s.push_str("</pre>");
    }
}

fn distributions(s: &mut String, r: &Report<'_>, d: &Distributions) {
    s.push_str("<h2>Distributions</h2>");
    if r.trace_rate < 1.0 {
        s.push_str("<p class=\"note\">of the SHARDS sample</p>");
    }
    // Popularity: requests by object rank, log-log, at about 200 log-spaced ranks.
    let n = d.popularity.len();
    let mut pts = Vec::new();
    let mut rank = 1usize;
    while rank <= n {
        pts.push((rank as f64, d.popularity[rank - 1] as f64));
        rank = (rank + 1).max((rank as f64 * 1.05) as usize);
    }
    if n > 0 && pts.last().is_some_and(|p| p.0 as usize != n) {
        pts.push((n as f64, d.popularity[n - 1] as f64));
    }
    let log = |title| Axis {
        title,
        log: true,
        format: count_tick,
    };
    s.push_str(&lines(
        "popularity",
        "requests per object by rank",
        &[Series {
            name: "objects".into(),
            points: pts,
        }],
        log("object rank"),
        log("requests"),
    ));
    let rows: Vec<(String, f64, String)> = d
        .sizes
        .iter()
        .map(|&(lo, objects, requests)| {
            (
                format!("≥ {}", fbytes(lo as f64)),
                objects as f64,
                format!("{objects} objects, {requests} requests"),
            )
        })
        .collect();
    s.push_str(&bars("sizes", "objects by size", &rows, None));
}
