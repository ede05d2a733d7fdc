//! Reading access logs for `audit` and `replay`: plain or gzip, many files in time order (by
//! their first request, so rotated files read as one), the format detected from the first lines
//! or named, malformed lines counted and a few kept as examples, progress by bytes read.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tinycdn_audit::parse::{detect, Format, ParseError, Parser, Request};
use tinycdn_volume::Progress;

use crate::output::Bar;

/// Malformed lines kept as examples.
const SAMPLES: usize = 5;

/// What reading the logs found, besides the requests.
#[derive(Debug, Default)]
pub struct LogRead {
    /// Lines read.
    pub lines: u64,
    /// Lines no parser could read.
    pub malformed: u64,
    /// Comment and header lines (CloudFront's `#`).
    pub comments: u64,
    /// Some malformed lines: file, line number, why.
    pub samples: Vec<(String, u64, String)>,
}

/// Opens a log, through gzip when it starts with gzip's magic.
fn open(path: &Path) -> Result<(Box<dyn BufRead>, u64)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::with_capacity(1 << 20, f);
    let gz = r
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    Ok(if gz {
        (
            Box::new(BufReader::with_capacity(
                1 << 20,
                flate2::bufread::MultiGzDecoder::new(r),
            )),
            len,
        )
    } else {
        (Box::new(r), len)
    })
}

/// Counts the compressed (on-disk) bytes a reader has consumed, for the progress bar.
struct Counted<'a, R> {
    inner: R,
    bar: &'a Bar,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

fn first_lines(path: &Path, n: usize) -> Result<Vec<String>> {
    let (r, _) = open(path)?;
    Ok(r.lines()
        .take(n)
        .map_while(std::result::Result::ok)
        .collect())
}

/// The log's format: the one asked, or detected from the first file's first lines.
pub fn format_of(asked: &str, logs: &[PathBuf]) -> Result<Format> {
    if asked != "auto" {
        return asked.parse().map_err(anyhow::Error::msg);
    }
    let lines = first_lines(&logs[0], 64)?;
    detect(lines.iter().map(String::as_str)).with_context(|| {
        format!(
            "cannot tell the format of {} (nginx, common, json, cloudfront)",
            logs[0].display()
        )
    })
}

/// The files in time order (by their first request), so that many rotated files read as one.
pub fn in_time_order(logs: &[PathBuf], format: Format) -> Result<Vec<PathBuf>> {
    let mut keyed = Vec::new();
    for p in logs {
        let mut parser = Parser::new(format);
        let first = first_lines(p, 64)?
            .iter()
            .find_map(|l| parser.parse(l).ok().map(|r| r.time_ms))
            .unwrap_or(i64::MAX);
        keyed.push((first, p.clone()));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, p)| p).collect())
}

/// Reads every line of `files` (in the order given) as `format`, calling `each` with every
/// request read until it returns `false`.
///
/// # Errors
/// A file cannot be opened or read.
pub fn read(
    files: &[PathBuf],
    format: Format,
    bar: &Bar,
    mut each: impl FnMut(&Request<'_>) -> bool,
) -> Result<LogRead> {
    let total_len: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    bar.start("reading", total_len);
    let mut out = LogRead::default();
    'files: for path in files {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut counted = BufReader::with_capacity(1 << 20, Counted { inner: f, bar });
        let gz = counted
            .fill_buf()
            .map(|b| b.starts_with(&[0x1f, 0x8b]))
            .unwrap_or(false);
        let mut reader: Box<dyn BufRead> = if gz {
            Box::new(BufReader::with_capacity(
                1 << 20,
                flate2::bufread::MultiGzDecoder::new(counted),
            ))
        } else {
            Box::new(counted)
        };
        let mut parser = Parser::new(format);
        let mut buf = Vec::with_capacity(4096);
        let mut number = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            number += 1;
            out.lines += 1;
            let text = String::from_utf8_lossy(&buf);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            match parser.parse(line) {
                Ok(r) => {
                    if !each(&r) {
                        break 'files;
                    }
                }
                Err(ParseError::Comment) => out.comments += 1,
                Err(e) => {
                    out.malformed += 1;
                    if out.samples.len() < SAMPLES {
                        let shown: String = line.chars().take(200).collect();
                        out.samples.push((
                            path.display().to_string(),
                            number,
                            format!("{e}: {shown}"),
                        ));
                    }
                }
            }
        }
    }
    bar.finish();
    Ok(out)
}
