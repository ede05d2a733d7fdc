//! What every fetch of a pull, a metadata walk, a repair and a vault sync shares: running a
//! store call on the runtime's worker, and saying why metadata no mirror would vouch for failed.

use bytes::Bytes;
use tinycdn_fetch::{FetchError, Upstreams};

use crate::error::PullError;

/// Runs a blocking store call without stalling the runtime's other tasks.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// When no mirror sent metadata that verifies, fetches it once more without the check to report
/// *why* (a signature below the threshold, an untrusted signer) rather than only that it failed.
pub(crate) async fn explain(
    upstreams: &Upstreams,
    path: &str,
    limit: u64,
    fetched: Result<Bytes, FetchError>,
    check: impl Fn(&[u8]) -> Result<(), PullError>,
) -> Result<Bytes, PullError> {
    match fetched {
        Err(e @ FetchError::Exhausted { .. }) => {
            let Ok(bytes) = upstreams.fetch(path, None, limit, |_| true).await else {
                return Err(e.into());
            };
            check(&bytes)?;
            Ok(bytes)
        }
        other => Ok(other?),
    }
}
