//! How long operations report progress without depending on a terminal library.

/// Receives progress of a long operation (publish, checkout, fsck, gc).
pub trait Progress: Sync {
    /// Announces the total amount of work, in bytes (or items where bytes make no sense).
    fn start(&self, what: &str, total: u64);
    /// Reports `n` more units done.
    fn advance(&self, n: u64);
    /// The operation finished.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
