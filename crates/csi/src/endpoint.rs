//! `--csi-endpoint` and `--endpoint` values, parsed without I/O: `unix:///PATH` (as the
//! kubelet's registrar and CSI sidecars spell it), `unix:PATH`, or a bare absolute path.

use std::path::PathBuf;

/// An endpoint that is not a Unix socket path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CSI endpoint: use unix:///PATH (an absolute socket path)")]
pub struct EndpointError(pub String);

/// The socket path of an endpoint.
///
/// # Errors
/// [`EndpointError`] for other schemes (`tcp://`), relative or empty paths.
pub fn parse(endpoint: &str) -> Result<PathBuf, EndpointError> {
    let path = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.strip_prefix("unix:"))
        .unwrap_or(endpoint);
    if !path.starts_with('/') || path.len() < 2 || path.contains('\0') || path.len() > 107 {
        // 107: the longest path a sockaddr_un holds.
        return Err(EndpointError(endpoint.to_owned()));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spellings_kubernetes_uses() {
        for e in [
            "unix:///csi/csi.sock",
            "unix:/csi/csi.sock",
            "/csi/csi.sock",
        ] {
            assert_eq!(parse(e), Ok(PathBuf::from("/csi/csi.sock")), "{e}");
        }
        for e in [
            "tcp://127.0.0.1:10000",
            "unix://csi.sock",
            "",
            "unix://",
            "csi.sock",
        ] {
            assert!(parse(e).is_err(), "{e}");
        }
        assert!(parse(&format!("/{}", "a".repeat(200))).is_err());
    }
}
