//! Failures as the gRPC statuses a kubelet understands (CSI spec v1.3.0, "Error Scheme" and
//! the `NodePublishVolume` errors table), without I/O.
//!
//! | what happened | code |
//! |---|---|
//! | a field breaks a rule | `INVALID_ARGUMENT` |
//! | no mirror has the volume or tag | `NOT_FOUND` |
//! | the version fails verification, a rollback, a bad signature, an expired snapshot | `FAILED_PRECONDITION` |
//! | mirrors unreachable, still fetching after the wait | `UNAVAILABLE` |
//! | the target is published as something else | `ALREADY_EXISTS` |
//! | anything else (the node's disk, a mount call) | `INTERNAL` |

use tinycdn_core::error::{Classified, ErrorClass};
use tinycdn_fetch::FetchError;
use tinycdn_sync::PullError;
use tonic::{Code, Status};

use crate::layout::LayoutError;

/// A failure that can be shared by every caller waiting on one pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The gRPC code.
    pub code: Code,
    /// What happened.
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    #[must_use]
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<Failure> for Status {
    fn from(f: Failure) -> Self {
        Status::new(f.code, f.message)
    }
}

impl From<crate::request::Invalid> for Failure {
    fn from(e: crate::request::Invalid) -> Self {
        Self::new(Code::InvalidArgument, e.0)
    }
}

/// A gRPC code as the spec spells it (`NOT_FOUND`).
#[must_use]
pub fn code_name(code: Code) -> String {
    let camel = format!("{code:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The code for a class of error.
fn code_of(class: ErrorClass) -> Code {
    match class {
        ErrorClass::Integrity => Code::FailedPrecondition,
        ErrorClass::Usage => Code::InvalidArgument,
        ErrorClass::Transient => Code::Unavailable,
        _ => Code::Internal,
    }
}

/// A pull's failure for `what` (`VOLUME@REF`).
#[must_use]
pub fn pull_failure(what: &str, e: &PullError) -> Failure {
    let code = match e {
        PullError::Fetch(FetchError::NotFound { .. }) => Code::NotFound,
        // Every mirror failed, timed out or sent bytes that did not verify: a retry may find
        // one that works.
        PullError::Fetch(FetchError::Exhausted { .. }) => Code::Unavailable,
        other => code_of(other.class()),
    };
    let message = match code {
        Code::NotFound => format!("{what}: no mirror has this volume or tag ({e})"),
        Code::FailedPrecondition => format!("{what} failed verification: {e}"),
        _ => format!("{what}: {e}"),
    };
    Failure::new(code, message)
}

/// A failure to show a pulled version in its folder.
#[must_use]
pub fn layout_failure(what: &str, e: &LayoutError) -> Failure {
    let code = match e {
        LayoutError::Reserved(_) => Code::FailedPrecondition,
        LayoutError::Checkout(v) => match v.class() {
            ErrorClass::Integrity => Code::FailedPrecondition,
            _ => Code::Internal,
        },
        _ => Code::Internal,
    };
    Failure::new(code, format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spelt_as_the_spec_does() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
    }

    #[test]
    fn pull_errors_become_the_codes_a_kubelet_acts_on() {
        let nf = PullError::Fetch(FetchError::NotFound {
            path: "/tags/x/y".into(),
        });
        assert_eq!(pull_failure("x@y", &nf).code, Code::NotFound);
        let down = PullError::Fetch(FetchError::Exhausted {
            path: "/tags/x/y".into(),
            last: "connection refused".into(),
            not_found: false,
        });
        assert_eq!(pull_failure("x@y", &down).code, Code::Unavailable);
        let rollback = PullError::Rollback {
            volume: "x".into(),
            tag: "y".into(),
            local: 3,
            offered: 2,
        };
        let f = pull_failure("x@y", &rollback);
        assert_eq!(f.code, Code::FailedPrecondition);
        assert!(f.message.contains("failed verification"), "{}", f.message);
        assert_eq!(
            pull_failure("x@y", &PullError::BadReference("?".into())).code,
            Code::InvalidArgument
        );
        assert_eq!(
            layout_failure("x@y", &LayoutError::Reserved("..data".into())).code,
            Code::FailedPrecondition
        );
    }
}
