//! Line charts as inline SVG: several series over a shared x axis (linear or log), with axes,
//! ticks, a legend, and every point carrying its values as a tooltip.

use std::fmt::Write as _;

use crate::html::esc;

/// One line: a name and its points, x ascending.
#[derive(Debug, Clone)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// How an axis is scaled and labelled.
#[derive(Debug, Clone, Copy)]
pub struct Axis<'a> {
    /// Its title.
    pub title: &'a str,
    /// Logarithmic (base 10) instead of linear.
    pub log: bool,
    /// Formats a tick value.
    pub format: fn(f64) -> String,
}

const COLOURS: [&str; 10] = [
    "#3b6fd8", "#d8553b", "#2f9e59", "#9b59b6", "#e0a100", "#17a2b8", "#6c757d", "#c2185b",
    "#1d2430", "#8d6e63",
];

fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if log {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        return (a..=b)
            .map(|e| 10f64.powi(e))
            .filter(|t| *t >= lo * 0.999 && *t <= hi * 1.001)
            .collect();
    }
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(mag * 10.0);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 12 {
        out.push(t);
        t += step;
    }
    out
}

/// A line chart of `series`; `id` names the SVG element (tests and scripts find it by it).
#[must_use]
pub fn lines(id: &str, title: &str, series: &[Series], x: Axis<'_>, y: Axis<'_>) -> String {
    let (w, h) = (820.0, 360.0);
    let (left, right, top, bottom) = (64.0, 170.0, 16.0, 48.0);
    let all = || series.iter().flat_map(|s| s.points.iter());
    let usable = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    let xs: Vec<f64> = all().map(|p| p.0).filter(|v| usable(*v, x.log)).collect();
    let ys: Vec<f64> = all().map(|p| p.1).filter(|v| usable(*v, y.log)).collect();
    let range = |v: &[f64], log: bool| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        match (lo.is_finite(), log) {
            (false, _) => (1.0, 10.0),
            (true, true) if hi <= lo => (lo / 2.0, hi * 2.0),
            (true, false) if hi <= lo => (lo - 1.0, hi + 1.0),
            _ => (lo, hi),
        }
    };
    let (x0, x1) = range(&xs, x.log);
    let (y0, y1) = if y.log {
        range(&ys, true)
    } else {
        (0.0f64.min(range(&ys, false).0), range(&ys, false).1)
    };
    let scale = |v: f64, lo: f64, hi: f64, log: bool| {
        if log {
            (v.log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            (v - lo) / (hi - lo)
        }
    };
    let px = |v: f64| left + scale(v, x0, x1, x.log) * (w - left - right);
    let py = |v: f64| h - bottom - scale(v, y0, y1, y.log) * (h - top - bottom);
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg id=\"{}\" class=\"chart\" data-series=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(id),
        series.len(),
        esc(title)
    );
    // On a log axis with few distinct values (cache sizes simulated), tick at the values.
    let mut distinct: Vec<f64> = xs.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let xticks = if x.log && distinct.len() <= 12 {
        distinct
    } else {
        ticks(x0, x1, x.log)
    };
    for t in xticks {
        let cx = px(t);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{cx:.1}\" y1=\"{top}\" x2=\"{cx:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            h - bottom,
            h - bottom + 16.0,
            esc(&(x.format)(t))
        );
    }
    for t in ticks(y0, y1, y.log) {
        let cy = py(t);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{left}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            cy + 4.0,
            esc(&(y.format)(t))
        );
    }
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/><line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text class=\"tick\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        left + (w - left - right) / 2.0,
        h - 8.0,
        esc(x.title),
        top + (h - top - bottom) / 2.0,
        esc(y.title)
    );
    for (i, ser) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<(f64, f64)> = ser
            .points
            .iter()
            .copied()
            .filter(|&(a, b)| usable(a, x.log) && usable(b, y.log))
            .collect();
        let path: Vec<String> = pts
            .iter()
            .map(|&(a, b)| format!("{:.1},{:.1}", px(a), py(b)))
            .collect();
        let _ = write!(
            s,
            "<polyline class=\"line\" data-name=\"{}\" stroke=\"{colour}\" points=\"{}\"/>",
            esc(&ser.name),
            path.join(" ")
        );
        for &(a, b) in &pts {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\"><title>{}: {} → {}</title></circle>",
                px(a),
                py(b),
                esc(&ser.name),
                esc(&(x.format)(a)),
                esc(&(y.format)(b))
            );
        }
        let ly = top + 10.0 + i as f64 * 18.0;
        let _ = write!(
            s,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/><text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            w - right + 12.0,
            w - right + 32.0,
            w - right + 38.0,
            ly + 4.0,
            esc(&ser.name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_line_per_series_and_a_point_per_value() {
        let series = [
            Series {
                name: "lru".into(),
                points: vec![(1e3, 0.5), (1e4, 0.3), (1e5, 0.1)],
            },
            Series {
                name: "a<b".into(),
                points: vec![(1e3, 0.4), (0.0, 0.2), (1e5, f64::NAN)],
            },
        ];
        let f: fn(f64) -> String = |v| format!("{v}");
        let svg = lines(
            "c",
            "t",
            &series,
            Axis {
                title: "size",
                log: true,
                format: f,
            },
            Axis {
                title: "miss",
                log: false,
                format: f,
            },
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(
            svg.matches("<circle").count(),
            4,
            "0 on a log axis and NaN are left out"
        );
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(1.0, 1000.0, true), vec![1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(ticks(0.0, 1.0, false).len(), 6);
    }
}
