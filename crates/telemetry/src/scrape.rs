//! Reading a Prometheus or OpenMetrics text exposition back into samples: what `tinycdn report`
//! does with each edge's `/metrics`, and how tests look a sample up by name and labels.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`tinycdn_cache_chunks_total`, `…_bucket`).
    pub name: String,
    /// Its labels, in order.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    #[must_use]
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every sample line; comments, blank lines and lines that do not parse are skipped.
#[must_use]
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name_end, labels, rest) = match line.find('{') {
        Some(open)
            if line[..open]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') =>
        {
            let (labels, used) = parse_labels(&line[open + 1..])?;
            (open, labels, &line[open + 1 + used..])
        }
        _ => {
            let end = line.find(' ')?;
            (end, Vec::new(), &line[end..])
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: line[..name_end].to_owned(),
        labels,
        value,
    })
}

/// Labels up to the closing `}`; returns them and the bytes consumed (including the brace).
fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, usize)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while bytes.get(i) == Some(&b',') || bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        if bytes.get(i) == Some(&b'}') {
            return Some((out, i + 1));
        }
        let eq = i + s[i..].find('=')?;
        let key = s[i..eq].trim().to_owned();
        if bytes.get(eq + 1) != Some(&b'"') {
            return None;
        }
        let mut value = String::new();
        let mut j = eq + 2;
        loop {
            match bytes.get(j)? {
                b'\\' => {
                    match bytes.get(j + 1)? {
                        b'n' => value.push('\n'),
                        b'"' => value.push('"'),
                        b'\\' => value.push('\\'),
                        _ => return None,
                    }
                    j += 2;
                }
                b'"' => break,
                _ => {
                    let ch = s[j..].chars().next()?;
                    value.push(ch);
                    j += ch.len_utf8();
                }
            }
        }
        out.push((key, value));
        i = j + 1;
    }
}

/// The value of the first sample named `name` whose labels include every pair in `labels`.
#[must_use]
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    parse(text)
        .into_iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| s.value)
}

/// The sum over every sample named `name` whose labels include `labels`.
#[must_use]
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    parse(text)
        .into_iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| s.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_openmetrics_lines() {
        let text = "# HELP x_total a\n# TYPE x counter\nx_total{role=\"edge\",pop=\"a\\\"b\",tier=\"memory\"} 12\nplain 3.5\nh_bucket{le=\"+Inf\"} 4\n# EOF\n";
        assert_eq!(value(text, "x_total", &[("tier", "memory")]), Some(12.0));
        assert_eq!(value(text, "x_total", &[("pop", "a\"b")]), Some(12.0));
        assert_eq!(value(text, "plain", &[]), Some(3.5));
        assert_eq!(value(text, "h_bucket", &[("le", "+Inf")]), Some(4.0));
        assert_eq!(value(text, "x_total", &[("tier", "disk")]), None);
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
