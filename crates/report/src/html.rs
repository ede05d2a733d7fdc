//! The report as one self-contained HTML page: tables and inline SVG bar charts, no external
//! assets, no script unless the page is live (then a few lines re-fetch it every few seconds and
//! swap the charts in place).

use std::fmt::Write as _;

use crate::model::Report;

/// Escapes text for HTML and SVG.
#[must_use]
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bytes in binary units (`1.5 MiB`).
#[must_use]
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A horizontal bar chart: one bar per `(label, value, shown)`, scaled to the largest value (or
/// to `max` when given, e.g. 1.0 for ratios).
#[must_use]
pub fn bars(id: &str, title: &str, rows: &[(String, f64, String)], max: Option<f64>) -> String {
    let top = max
        .unwrap_or_else(|| rows.iter().map(|r| r.1).fold(0.0, f64::max))
        .max(f64::MIN_POSITIVE);
    let (w, bar_h, label_w) = (820.0, 22.0, 220.0);
    let h = 30.0 + rows.len() as f64 * (bar_h + 6.0);
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg id=\"{}\" class=\"chart\" data-bars=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(id),
        rows.len(),
        esc(title)
    );
    for (i, (label, value, shown)) in rows.iter().enumerate() {
        let y = 10.0 + i as f64 * (bar_h + 6.0);
        let len = ((value / top).clamp(0.0, 1.0) * (w - label_w - 280.0)).max(1.0);
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.1}\" class=\"label\">{}</text><rect class=\"bar\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{bar_h}\"><title>{}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{}</text>",
            y + 15.0,
            esc(label),
            esc(shown),
            label_w + len + 6.0,
            y + 15.0,
            esc(shown)
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// The pages' style sheet.
pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2430}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}td,th{border-bottom:1px solid #dde;padding:.2rem .8rem;text-align:right}th:first-child,td:first-child{text-align:left}.bar{fill:#3b6fd8}.label,.value{font-size:12px;fill:#1d2430}figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}.note{color:#667}.axis{stroke:#889;stroke-width:1}.grid{stroke:#e4e6ee;stroke-width:1}.tick{font-size:11px;fill:#556}.line{fill:none;stroke-width:2}";

fn generated(unix: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    tinycdn_telemetry::access::rfc3339(t)
}

/// The page. `live` adds the refresh script (the `/status` pages).
#[must_use]
pub fn page(title: &str, r: &Report, live: bool) -> String {
    let mut s = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1><p class=\"note\">generated <time id=\"generated\" datetime=\"{}\">{}</time></p><main id=\"charts\">",
        esc(title),
        esc(title),
        r.generated,
        esc(&generated(r.generated))
    );
    charts(&mut s, r);
    s.push_str("</main>");
    if live {
        s.push_str("<script>setInterval(async()=>{try{const t=await (await fetch(location.href,{cache:'no-store'})).text();const d=new DOMParser().parseFromString(t,'text/html');for(const id of ['charts','generated']){const n=d.getElementById(id);if(n){document.getElementById(id).replaceWith(n)}}}catch(e){}},5000)</script>");
    }
    s.push_str("</body></html>\n");
    s
}

fn charts(s: &mut String, r: &Report) {
    // Nodes that look chunks up (edges); an origin's own section has only its requests.
    let caching: Vec<&crate::model::EdgeSection> =
        r.edges.iter().filter(|e| !e.lookups.is_empty()).collect();
    if !caching.is_empty() {
        let (req, by) = r.fleet_hit_ratio();
        let _ = write!(
            s,
            "<h2>Hit ratio</h2><p>fleet: {:.1} % of chunk lookups answered without upstream, {:.1} % of bytes served from the cache (fills from upstream are counted apart, below)</p>",
            req * 100.0,
            by * 100.0
        );
        let rows: Vec<(String, f64, String)> = caching
            .iter()
            .flat_map(|e| {
                [
                    (format!("{} requests", e.pop), e.hit_ratio_requests),
                    (format!("{} bytes", e.pop), e.hit_ratio_bytes),
                ]
            })
            .map(|(l, v)| (l, v, format!("{:.1} %", v * 100.0)))
            .collect();
        s.push_str(&bars(
            "hit-ratio",
            "Hit ratio per PoP (chunk lookups, bytes served)",
            &rows,
            Some(1.0),
        ));
    }
    for e in &r.edges {
        if !e.lookups.is_empty() {
            let rows: Vec<(String, f64, String)> = e
                .lookups
                .iter()
                .map(|(k, v)| (k.clone(), *v, format!("{v:.0}")))
                .collect();
            s.push_str(&bars(
                &format!("tiers-{}", e.pop),
                &format!("{}: chunk lookups by tier ({})", e.pop, e.source),
                &rows,
                None,
            ));
        }
        if !e.sites.is_empty() {
            let rows: Vec<(String, f64, String)> = e
                .sites
                .iter()
                .map(|(name, r)| {
                    (
                        name.clone(),
                        r.hit_ratio_bytes,
                        format!(
                            "{:.1} % of {} ({:.0} requests)",
                            r.hit_ratio_bytes * 100.0,
                            bytes(r.content_bytes),
                            r.requests
                        ),
                    )
                })
                .collect();
            s.push_str(&bars(
                &format!("sites-{}", e.pop),
                &format!("{}: byte hit ratio per site", e.pop),
                &rows,
                Some(1.0),
            ));
        }
        let _ = write!(
                s,
                "<table><tr><th>{}</th><th>value</th></tr><tr><td>bytes served</td><td>{}</td></tr><tr><td>bytes filled from upstream</td><td>{}</td></tr>{}</table>",
                esc(&e.pop),
                bytes(e.bytes_served),
                bytes(e.bytes_filled),
                e.requests
                    .iter()
                    .map(|(k, v)| format!("<tr><td>requests: {}</td><td>{v:.0}</td></tr>", esc(k)))
                    .collect::<String>()
            );
    }
    if let Some(st) = &r.store {
        let _ = write!(
            s,
            "<h2>Storage</h2><p>duplication factor <b>{:.3}</b> (physical over distinct chunk bytes), dedup ratio {:.2}</p>",
            st.duplication_factor, st.dedup_ratio
        );
        let rows = vec![
            (
                "logical".to_owned(),
                st.logical_bytes as f64,
                bytes(st.logical_bytes as f64),
            ),
            (
                "physical".to_owned(),
                st.physical_bytes as f64,
                bytes(st.physical_bytes as f64),
            ),
            (
                "distinct chunks".to_owned(),
                st.unique_chunk_bytes as f64,
                bytes(st.unique_chunk_bytes as f64),
            ),
        ];
        s.push_str(&bars(
            "storage",
            "Bytes: logical, physical, distinct",
            &rows,
            None,
        ));
        for v in &st.volumes {
            let rows: Vec<(String, f64, String)> = v
                .versions
                .iter()
                .map(|x| {
                    (
                        format!("{} v{} ({})", v.name, x.number, x.id),
                        x.new_chunk_bytes as f64,
                        format!(
                            "{} new of {}",
                            bytes(x.new_chunk_bytes as f64),
                            bytes(x.bytes as f64)
                        ),
                    )
                })
                .collect();
            s.push_str(&bars(
                &format!("volume-{}", v.name),
                &format!("{}: new chunk bytes per version", v.name),
                &rows,
                None,
            ));
        }
        let _ = write!(s, "<h2>Delta economy</h2>");
        if st.deltas.is_empty() {
            s.push_str("<p class=\"note\">no deltas in this store</p>");
        } else {
            let rows: Vec<(String, f64, String)> = st
                .deltas
                .iter()
                .map(|d| {
                    (
                        format!("{} ({} deltas)", d.method, d.count),
                        d.saved_bytes_per_cpu_second,
                        format!(
                            "{}/CPU s, ratio {:.1}",
                            bytes(d.saved_bytes_per_cpu_second),
                            d.compression_ratio
                        ),
                    )
                })
                .collect();
            s.push_str(&bars(
                "deltas",
                "Bytes saved over chunks per CPU second",
                &rows,
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_escape_and_scale() {
        let svg = bars(
            "x",
            "a<b",
            &[
                ("<i>".into(), 2.0, "2".into()),
                ("y".into(), 1.0, "1".into()),
            ],
            None,
        );
        assert!(svg.contains("a&lt;b") && svg.contains("&lt;i&gt;") && !svg.contains("<i>"));
        assert!(svg.contains("data-bars=\"2\""));
        assert_eq!(bytes(1536.0), "1.5 KiB");
    }
}
