//! `tinycdn serve`: the store over HTTP as an origin.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ServeArgs;
use crate::context::{open_store, Ctx};
use crate::serving::{run_server, Serving};

/// Runs `tinycdn serve` until SIGTERM or SIGINT (then drains).
pub fn run(_ctx: &Ctx, a: &ServeArgs) -> Result<ExitCode> {
    let store = open_store(&a.store.store)?;
    let what = format!(
        "serving {} as an origin",
        store
            .root()
            .map_or_else(|| "store".into(), |p| p.display().to_string())
    );
    let pop = a.server.pop.clone();
    let serving = Serving::from_args(&a.listen, &a.server);
    run_server(&serving, &what, move || {
        let origin = tinycdn_server::Origin::new(store);
        origin.metrics().set_pop(&pop);
        Ok(origin)
    })?;
    Ok(ExitCode::SUCCESS)
}
