//! Response bodies: small ones in memory, large ones streamed from an object file.

use std::io::SeekFrom;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Empty, Full};
use tinycdn_http::multipart::Segment;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Bytes read from a file per frame.
const FRAME: usize = 256 * 1024;

/// An empty body.
#[must_use]
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body held in memory.
#[must_use]
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body that streams `segments` (literal bytes and ranges of `file`) in order.
#[must_use]
pub fn file_segments(file: PathBuf, segments: Vec<Segment>) -> Body {
    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(4);
    tokio::spawn(async move {
        let mut f = match tokio::fs::File::open(&file).await {
            Ok(f) => f,
            Err(e) => {
                tx.abort(e);
                return;
            }
        };
        let mut buf = vec![0u8; FRAME];
        for segment in segments {
            match segment {
                Segment::Literal(b) => {
                    if tx.send_data(Bytes::from(b)).await.is_err() {
                        return;
                    }
                }
                Segment::Range(r) => {
                    if let Err(e) = f.seek(SeekFrom::Start(r.start)).await {
                        tx.abort(e);
                        return;
                    }
                    let mut left = r.len();
                    while left > 0 {
                        let want = usize::try_from(left).unwrap_or(FRAME).min(FRAME);
                        match f.read(&mut buf[..want]).await {
                            Ok(0) => {
                                tx.abort(std::io::ErrorKind::UnexpectedEof.into());
                                return;
                            }
                            Ok(n) => {
                                left -= n as u64;
                                if tx
                                    .send_data(Bytes::copy_from_slice(&buf[..n]))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            Err(e) => {
                                tx.abort(e);
                                return;
                            }
                        }
                    }
                }
            }
        }
    });
    body.boxed()
}

/// The largest piece [`blocking_segments`] reads at once.
const PIECE: u64 = 1 << 20;

/// `segments` with every range cut into pieces of at most [`PIECE`] bytes.
fn in_pieces(segments: Vec<Segment>) -> Vec<Segment> {
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        match s {
            Segment::Range(r) => {
                let mut start = r.start;
                while start <= r.end {
                    let end = r.end.min(start.saturating_add(PIECE - 1));
                    out.push(Segment::Range(tinycdn_http::range::ByteRange {
                        start,
                        end,
                    }));
                    if end == u64::MAX {
                        break;
                    }
                    start = end + 1;
                }
            }
            literal => out.push(literal),
        }
    }
    out
}

/// A body that sends `segments`, reading each range with a blocking function on the blocking pool
/// (for backends without local files), in pieces of at most 1 MiB: a request for a whole large
/// file never holds more than a few pieces in memory.
pub fn blocking_segments<F>(read: F, segments: Vec<Segment>) -> Body
where
    F: Fn(tinycdn_http::range::ByteRange) -> std::io::Result<Vec<u8>> + Send + Sync + 'static,
{
    let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(4);
    let segments = in_pieces(segments);
    tokio::spawn(async move {
        let read = std::sync::Arc::new(read);
        for segment in segments {
            let bytes = match segment {
                Segment::Literal(b) => Ok(b),
                Segment::Range(r) => {
                    let read = read.clone();
                    match tokio::task::spawn_blocking(move || read(r)).await {
                        Ok(result) => result,
                        Err(e) => Err(std::io::Error::other(e.to_string())),
                    }
                }
            };
            match bytes {
                Ok(b) => {
                    if tx.send_data(Bytes::from(b)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tx.abort(e);
                    return;
                }
            }
        }
    });
    body.boxed()
}

/// A body made of byte buffers already in memory, sent one frame each without copying.
#[must_use]
pub fn parts(parts: Vec<Bytes>) -> Body {
    Parts(parts.into()).boxed()
}

struct Parts(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Parts {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinycdn_http::range::ByteRange;

    #[test]
    fn ranges_are_read_in_bounded_pieces() {
        let pieces = in_pieces(vec![
            Segment::Literal(b"--".to_vec()),
            Segment::Range(ByteRange {
                start: 10,
                end: 10 + 2 * PIECE + 4,
            }),
        ]);
        let ranges: Vec<(u64, u64)> = pieces
            .iter()
            .filter_map(|s| match s {
                Segment::Range(r) => Some((r.start, r.end)),
                Segment::Literal(_) => None,
            })
            .collect();
        assert_eq!(
            ranges,
            vec![
                (10, 9 + PIECE),
                (10 + PIECE, 9 + 2 * PIECE),
                (10 + 2 * PIECE, 14 + 2 * PIECE)
            ]
        );
        assert!(ranges.iter().all(|(s, e)| e - s < PIECE));
        assert!(matches!(pieces[0], Segment::Literal(_)));
    }
}
