//! Log lines to requests. Every parser is total: a line it cannot read is an error naming why,
//! never a panic, and the caller counts it and goes on.

use std::borrow::Cow;

mod clf;
mod cloudfront;
mod json;
mod time;

pub use cloudfront::Fields as CloudFrontFields;
pub use time::{days_from_civil, parse_clf_time, parse_rfc3339};

/// One request as a log line tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    /// When, in milliseconds since the Unix epoch (the line's own time; formats log the end or
    /// the start of a request, to the second or the millisecond).
    pub time_ms: i64,
    /// The method.
    pub method: Cow<'a, str>,
    /// The `Host`, when the format has it.
    pub host: Option<Cow<'a, str>>,
    /// The path, as logged (undecoded).
    pub path: Cow<'a, str>,
    /// The query without `?`, if any.
    pub query: Option<Cow<'a, str>>,
    /// The status code.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Request received to the last byte sent, in seconds.
    pub request_time: Option<f64>,
    /// Time the upstream took, in seconds (summed over the upstreams tried).
    pub upstream_time: Option<f64>,
    /// The response's content type, when logged.
    pub content_type: Option<Cow<'a, str>>,
    /// The cache's verdict (`hit`, `miss`, ...), when logged.
    pub cache: Option<Cow<'a, str>>,
}

/// The log formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// nginx `combined`, optionally followed by `$request_time` and `$upstream_response_time`.
    Nginx,
    /// Apache/NCSA common log format.
    Common,
    /// tinycdn's JSON access log.
    Json,
    /// CloudFront standard (W3C extended, tab-separated) logs.
    CloudFront,
}

impl Format {
    /// The name used on the command line and in output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Common => "common",
            Self::Json => "json",
            Self::CloudFront => "cloudfront",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "nginx" | "combined" => Self::Nginx,
            "common" => Self::Common,
            "json" => Self::Json,
            "cloudfront" => Self::CloudFront,
            other => {
                return Err(format!(
                    "unknown log format {other:?} (nginx, common, json, cloudfront)"
                ))
            }
        })
    }
}

/// Why a line is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A field is missing or malformed.
    #[error("{0}")]
    Malformed(&'static str),
    /// The line is not JSON of the schema.
    #[error("not a JSON access log line: {0}")]
    Json(String),
    /// A directive or comment (`#Fields:`), not a request.
    #[error("a comment line")]
    Comment,
}

/// Reads lines of one format; CloudFront's keeps the field order its `#Fields:` line gives.
#[derive(Debug, Clone)]
pub struct Parser {
    format: Format,
    fields: CloudFrontFields,
}

impl Parser {
    /// A parser for `format`.
    #[must_use]
    pub fn new(format: Format) -> Self {
        Self {
            format,
            fields: CloudFrontFields::default(),
        }
    }

    /// The format read.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// One line (without its newline).
    ///
    /// # Errors
    /// The line is not a request of this format ([`ParseError::Comment`] for directives).
    pub fn parse<'a>(&mut self, line: &'a str) -> Result<Request<'a>, ParseError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match self.format {
            Format::Nginx | Format::Common => clf::parse(line),
            Format::Json => json::parse(line),
            Format::CloudFront => {
                if let Some(rest) = line.strip_prefix('#') {
                    if let Some(f) = rest.strip_prefix("Fields:") {
                        self.fields = CloudFrontFields::from_header(f);
                    }
                    return Err(ParseError::Comment);
                }
                cloudfront::parse(line, &self.fields)
            }
        }
    }
}

/// The format of a log from its first lines: the one that reads the most of them (`None` when
/// none reads any).
#[must_use]
pub fn detect<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Format> {
    let lines: Vec<&str> = lines.into_iter().take(64).collect();
    if lines
        .iter()
        .any(|l| l.starts_with("#Version:") || l.starts_with("#Fields: date"))
    {
        return Some(Format::CloudFront);
    }
    let mut best = None;
    let mut best_n = 0;
    for f in [
        Format::Json,
        Format::Nginx,
        Format::Common,
        Format::CloudFront,
    ] {
        let mut p = Parser::new(f);
        let n = lines
            .iter()
            .filter(|l| match p.parse(l) {
                // A common line parses as nginx without referer and agent: tell them apart.
                Ok(_) if f == Format::Nginx => clf::has_agent(l),
                Ok(_) => true,
                Err(_) => false,
            })
            .count();
        if n > best_n {
            best_n = n;
            best = Some(f);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        let nginx = r#"10.0.0.1 - - [01/Dec/2026:20:01:17 +0000] "GET /a.jpg HTTP/1.1" 200 512 "-" "curl/8" 0.004 0.003"#;
        let common = r#"10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        let json = r#"{"time":"2026-12-01T20:01:17.123Z","pop":"fra1","client":"127.0.0.1:5000","method":"GET","host":"h","path":"/a","query":null,"status":200,"bytes":4,"duration_ms":1.5,"ttfb_ms":0.9,"cache":"hit","upstream":null,"trace_id":null,"route":"proxy","user_agent":null,"referer":null}"#;
        let cf = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status";
        assert_eq!(detect([nginx]), Some(Format::Nginx));
        assert_eq!(detect([common]), Some(Format::Common));
        assert_eq!(detect([json]), Some(Format::Json));
        assert_eq!(detect(cf.lines()), Some(Format::CloudFront));
        assert_eq!(detect(["hello", "world"]), None);
    }
}
