//! Volume operations over a tinycdn store: publish a directory as a signed volume version, resolve
//! `VOLUME@REF` references, read files, check versions out read-only with an atomic switch, verify
//! (fsck), collect garbage (gc), make binary deltas between versions and account for space and
//! delta cost (stats).

pub mod checkout;
pub mod deltas;
pub mod error;
pub mod fsck;
pub mod gc;
pub mod log;
pub mod progress;
pub mod publish;
pub mod read;
pub mod reference;
pub mod restore;
pub mod snapshot;
pub mod stats;
pub mod trust;

pub use error::VolumeError;
pub use progress::{NoProgress, Progress};
