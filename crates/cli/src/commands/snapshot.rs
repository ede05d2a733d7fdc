//! `tinycdn snapshot` and `tinycdn timestamp`: re-sign the store's snapshot of every tag and the
//! timestamp naming it, before they expire.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use tinycdn_core::time::unix_now;
use tinycdn_volume::snapshot::Freshness;

use crate::cli::{SnapshotArgs, TimestampArgs};
use crate::commands::trust::secret_key;
use crate::context::{open_store, Ctx};
use crate::output::{out, print_json};

/// Runs `tinycdn snapshot`.
pub fn snapshot(ctx: &Ctx, a: &SnapshotArgs) -> Result<ExitCode> {
    let key = secret_key(&a.key)?;
    let timestamp_key = a.timestamp_key.as_deref().map(secret_key).transpose()?;
    let freshness = Freshness {
        snapshot_expires: unix_now() + i64::from(a.lifetime_days) * 86_400,
        timestamp_expires: unix_now() + i64::from(a.timestamp_lifetime_hours) * 3_600,
    };
    let (s, t) = tinycdn_volume::snapshot::refresh(
        &open_store(&a.store.store)?,
        &key,
        timestamp_key.as_ref().unwrap_or(&key),
        freshness,
    )?;
    if ctx.json {
        print_json(&json!({
            "version": s.snapshot.version, "expires": s.snapshot.expires,
            "tags": s.snapshot.tags.len(),
            "timestamp": { "version": t.timestamp.version, "expires": t.timestamp.expires },
        }))?;
    } else {
        out!(
            "snapshot version {} of {} tags, valid until {}; timestamp version {}, valid until {}",
            s.snapshot.version,
            s.snapshot.tags.len(),
            crate::output::time(s.snapshot.expires),
            t.timestamp.version,
            crate::output::time(t.timestamp.expires)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `tinycdn timestamp`.
pub fn timestamp(ctx: &Ctx, a: &TimestampArgs) -> Result<ExitCode> {
    let key = secret_key(&a.key)?;
    let expires = unix_now() + i64::from(a.lifetime_hours) * 3_600;
    let t =
        tinycdn_volume::snapshot::refresh_timestamp(&open_store(&a.store.store)?, &key, expires)?;
    if ctx.json {
        print_json(&json!({
            "version": t.timestamp.version, "expires": t.timestamp.expires,
            "snapshot_version": t.timestamp.snapshot_version,
        }))?;
    } else {
        out!(
            "timestamp version {} naming snapshot version {}, valid until {}",
            t.timestamp.version,
            t.timestamp.snapshot_version,
            crate::output::time(t.timestamp.expires)
        );
    }
    Ok(ExitCode::SUCCESS)
}
