//! Where tinycdn keeps its objects: a narrow synchronous [`Backend`] trait over a flat key space,
//! the local filesystem backend (the embedded default), an in-memory backend for tests, and the
//! typed [`Store`] that every caller uses, which verifies hashes on every read.

pub mod backend;
pub mod error;
pub mod key;
pub mod local;
pub mod memory;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backend::{check_key, Backend, BufferedWrite, Durability, Lease, PendingWrite};
pub use error::StoreError;
pub use key::{Key, Prefix};
pub use local::LocalBackend;
pub use memory::MemoryBackend;
pub use store::{CheckoutRecord, Store, StoreLock};
