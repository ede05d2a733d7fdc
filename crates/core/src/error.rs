//! Errors of the core model.
//!
//! Rules for errors across tinycdn:
//! - Library crates return `#[non_exhaustive]` `thiserror` enums; only the binary uses `anyhow`.
//! - A message quotes the offending input (a name, a path, a field) so the user can find it.
//! - A message says what was expected, not only what went wrong.

use thiserror::Error;

/// A name (volume, tag or path) broke a naming rule.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("the {kind} is empty")]
    Empty {
        /// What kind of name it was.
        kind: &'static str,
    },
    /// The name is longer than allowed.
    #[error("the {kind} {name:?} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// What kind of name it was.
        kind: &'static str,
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name is not in Unicode normalization form C.
    #[error("the {kind} {name:?} is not in Unicode NFC form (it would be {nfc:?})")]
    NotNfc {
        /// What kind of name it was.
        kind: &'static str,
        /// The name.
        name: String,
        /// Its NFC form.
        nfc: String,
    },
    /// The name contains a character that is not allowed.
    #[error("the {kind} {name:?} contains {what} {ch}")]
    BadChar {
        /// What kind of name it was.
        kind: &'static str,
        /// The name.
        name: String,
        /// The character, as `U+XXXX 'c'`.
        ch: String,
        /// Why it is refused ("a control character", "an invisible character", ...).
        what: &'static str,
    },
    /// A path is absolute, has an empty, `.` or `..` component.
    #[error("the path {path:?} {why}")]
    BadPath {
        /// The path.
        path: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// The name mixes scripts that are not used together.
    #[error("the {kind} {name:?} mixes scripts ({scripts}); use characters of one script")]
    MixedScript {
        /// What kind of name it was.
        kind: &'static str,
        /// The name.
        name: String,
        /// The characters outside the first script, as `U+XXXX 'c'` lists.
        scripts: String,
    },
    /// The name looks like another existing name (same UTS #39 skeleton).
    #[error(
        "the {kind} {name:?} can be confused with the existing {existing:?} (characters {chars})"
    )]
    Confusable {
        /// What kind of name it was.
        kind: &'static str,
        /// The new name.
        name: String,
        /// The existing name it collides with.
        existing: String,
        /// The characters that differ, as `U+XXXX 'c'`.
        chars: String,
    },
}

/// Bytes could not be decoded as a canonical tinycdn structure.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The magic bytes are not the expected ones.
    #[error("not a tinycdn {what}: bad magic bytes")]
    BadMagic {
        /// What was being decoded.
        what: &'static str,
    },
    /// The format version is not one this build understands.
    #[error(
        "{what} format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// What was being decoded.
        what: &'static str,
        /// The version found.
        found: u16,
        /// The version supported.
        supported: u16,
    },
    /// The input ended in the middle of a field.
    #[error("{what} is truncated: {field} needs {needed} more bytes")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// The field being read.
        field: &'static str,
        /// Bytes that were missing.
        needed: usize,
    },
    /// Bytes remain after the structure ended.
    #[error("{what} has {extra} trailing bytes")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes remained.
        extra: usize,
    },
    /// A field holds a value the format forbids.
    #[error("{what}: invalid {field}: {why}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// Why it is invalid.
        why: String,
    },
    /// A name inside the structure broke a naming rule.
    #[error("{what}: {source}")]
    Name {
        /// What was being decoded.
        what: &'static str,
        /// The rule that was broken.
        source: Box<NameError>,
    },
}

/// A key or signature could not be parsed or did not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// A key file is not in the expected format.
    #[error("not a tinycdn {what} key: {why}")]
    BadKey {
        /// "public" or "secret".
        what: &'static str,
        /// Why.
        why: String,
    },
    /// No signature was made by any trusted key.
    #[error("no signature by a trusted key (signed by {signers}; trusted: {trusted})")]
    Untrusted {
        /// Key ids that signed.
        signers: String,
        /// Key ids that are trusted.
        trusted: String,
    },
    /// A trusted key's signature did not verify: the data or the signature was altered.
    #[error("the signature by key {key} does not verify: the {what} was altered")]
    Invalid {
        /// The key id.
        key: String,
        /// What was signed.
        what: &'static str,
    },
    /// There is no signature at all.
    #[error("the {what} is not signed")]
    Unsigned {
        /// What should have been signed.
        what: &'static str,
    },
    /// Fewer distinct trusted keys signed than the threshold requires.
    #[error("the {what} is signed by {got} trusted key(s) ({signers}) but {need} are required")]
    BelowThreshold {
        /// What was signed.
        what: &'static str,
        /// Signatures required.
        need: usize,
        /// Valid signatures by distinct trusted keys.
        got: usize,
        /// Key ids of those signers.
        signers: String,
    },
}

/// What kind of failure an error is. Every library error says which (exhaustively, so a new
/// variant must choose); the binary maps classes to exit codes and a service to retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Data failed verification or the trust state forbids it: a bad or missing signature,
    /// corrupt bytes, a rollback, an expired or forked snapshot, root or log (exit 3).
    Integrity,
    /// What was asked is malformed: a bad name, reference, URL, flag value or configuration
    /// (exit 2).
    Usage,
    /// May succeed when tried again: unreachable mirrors, a lease held by another writer, a
    /// concurrent write (exit 1).
    Transient,
    /// Any other failure: I/O, something that does not exist, a full disk (exit 1).
    Failure,
}

/// An error that knows its [`ErrorClass`] and, where the next step is not obvious, a hint.
pub trait Classified: std::error::Error {
    /// The class of this error.
    fn class(&self) -> ErrorClass;
    /// One line on what to do next, printed after the error as `hint: …`.
    fn hint(&self) -> Option<&'static str> {
        None
    }
}

impl Classified for NameError {
    fn class(&self) -> ErrorClass {
        // Names come from flags and from the files of a tree alike: refused input (exit 1, as
        // documented), not a malformed command line.
        ErrorClass::Failure
    }
}

impl Classified for DecodeError {
    fn class(&self) -> ErrorClass {
        // Also what building a manifest from a tree says when the tree breaks a rule (two names
        // differing only in case): refused input. Stored bytes that do not decode are the
        // store's `Decode`, an integrity problem.
        ErrorClass::Failure
    }
}

impl Classified for SignatureError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Integrity
    }
    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Untrusted { .. } | Self::Unsigned { .. } | Self::BelowThreshold { .. } => {
                Some("check that --trust names the publisher's .pub file or the current trust root")
            }
            Self::BadKey { .. } | Self::Invalid { .. } => None,
        }
    }
}

impl Classified for crate::chunking::ChunkParamsError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Usage
    }
}

impl Classified for crate::root::RootError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Integrity
    }
}
