//! What every command is given: the output mode (`--json`, `--quiet`), the progress bar, and
//! the means to open a store, a verified version, or the async runtime.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use tinycdn_store::Store;
use tinycdn_volume::reference::Reference;
use tinycdn_volume::trust::{OpenedVersion, Trust};

use crate::output::Bar;

/// The global flags, as every command sees them.
pub struct Ctx {
    /// `--json`: one JSON document on stdout instead of text.
    pub json: bool,
    /// `--quiet`: no progress bars, fewer notes.
    pub quiet: bool,
    /// The progress bar (drawn only on a terminal, never with `--json` or `--quiet`).
    pub bar: Bar,
}

impl Ctx {
    /// The context of a run with these global flags.
    pub fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            quiet,
            bar: Bar::new(!json && !quiet),
        }
    }
}

/// Opens a store (local or object storage), refusing locations that are not one.
pub fn open_store(location: &tinycdn_objstore::Location) -> Result<Store> {
    Ok(tinycdn_objstore::open(location)?)
}

/// Opens the store and the version a reference names, verified against the trusted keys.
pub fn open_version(
    store: &tinycdn_objstore::Location,
    trust: &[PathBuf],
    reference: &str,
) -> Result<(Store, Reference, OpenedVersion)> {
    let store = open_store(store)?;
    let trust = Trust::load(trust)?.followed_in(&store)?;
    let reference: Reference = reference.parse()?;
    let version = reference.open(&store, &trust)?;
    Ok((store, reference, version))
}

/// The multi-threaded async runtime the servers and `pull` run on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
