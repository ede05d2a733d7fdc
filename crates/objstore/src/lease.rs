//! The writer lease of a store in an object store: what the lock file is to a local store.
//!
//! Publish, tag, gc, fsck and the other writers take it, so that gc never deletes what a publish
//! on another machine is uploading, and the transparency log gets one appender at a time. It is
//! one small object (`lease`) created with a conditional `PUT` (`If-None-Match: *`), renewed with
//! `If-Match` on its `ETag` every third of its time to live, and deleted when released. A writer
//! that died leaves it to expire; the next writer takes it over with `If-Match`, so of two that
//! saw it expire only one wins. Expiry is judged by the clocks of the machines involved: keep them
//! in sync (NTP) to well within the time to live.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::{PutMode, UpdateVersion};
use serde::{Deserialize, Serialize};
use tinycdn_store::{Lease, StoreError};

use crate::backend::ObjectBackend;

const KEY: &str = "lease";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    holder: String,
    host: String,
    pid: u32,
    since: u64,
    expires: u64,
}

use tinycdn_core::time::unix_now_u64 as now;

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".into())
}

/// A held lease; dropping it stops the renewals and deletes the lease object.
#[derive(Debug)]
pub struct ObjectLease {
    backend: ObjectBackend,
    token: Arc<Mutex<UpdateVersion>>,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
}

fn version(e_tag: Option<String>, version: Option<String>) -> UpdateVersion {
    UpdateVersion { e_tag, version }
}

impl ObjectLease {
    /// Takes the lease, waiting for a live holder up to the configured time.
    ///
    /// # Errors
    /// [`StoreError::Locked`] after waiting; request errors.
    pub fn acquire(backend: &ObjectBackend) -> Result<Self, StoreError> {
        let ttl = backend.options.lease_ttl;
        let mut record = Record {
            holder: random_id(),
            host: host(),
            pid: std::process::id(),
            since: now(),
            expires: 0,
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            record.expires = now() + ttl.as_secs().max(1);
            let bytes = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
            match backend.put(KEY, bytes.clone(), PutMode::Create)? {
                Ok(_) => return Ok(Self::held(backend, &record)),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(backend.err("create", KEY, e)),
            }
            let (held, tok) = match current(backend)? {
                Some(v) => v,
                None => continue,
            };
            let expired = held.as_ref().is_none_or(|h| h.expires < now());
            if expired {
                // Take it over from a holder that died, conditionally on what we saw.
                match backend.put(KEY, bytes, PutMode::Update(tok))? {
                    Ok(_) => return Ok(Self::held(backend, &record)),
                    Err(object_store::Error::Precondition { .. })
                    | Err(object_store::Error::NotFound { .. }) => continue,
                    Err(e) => return Err(backend.err("take over", KEY, e)),
                }
            }
            if started.elapsed() >= backend.options.lease_wait {
                let holder = held.map_or_else(
                    || "an unknown writer".into(),
                    |h| format!("{} pid {} (since unix time {})", h.host, h.pid, h.since),
                );
                return Err(StoreError::Locked {
                    store: tinycdn_store::Backend::describe(backend),
                    holder,
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    fn held(backend: &ObjectBackend, record: &Record) -> Self {
        // The token is read back: a PUT's response need not carry the ETag a later If-Match wants.
        let tok = current(backend)
            .ok()
            .flatten()
            .map_or_else(|| version(None, None), |(_, t)| t);
        let token = Arc::new(Mutex::new(tok));
        let (stop, rx) = mpsc::channel::<()>();
        let renewer = {
            let backend = backend.clone();
            let token = token.clone();
            let mut record = record.clone();
            let every = backend.options.lease_ttl / 3;
            std::thread::Builder::new()
                .name("tinycdn-lease".into())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                        record.expires = now() + backend.options.lease_ttl.as_secs().max(1);
                        let bytes = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
                        let expected = lock(&token).clone();
                        match backend.put(KEY, bytes, PutMode::Update(expected)) {
                            Ok(Ok(t)) => {
                                if let Some(v) = crate::backend::update_version(&t)
                                    .filter(|v| v.e_tag.is_some() || v.version.is_some())
                                    .or_else(|| current(&backend).ok().flatten().map(|(_, v)| v))
                                {
                                    *lock(&token) = v;
                                }
                            }
                            // Lost (taken over after we stalled past the expiry): stop renewing;
                            // the conditional writes of tags and versions still hold.
                            Ok(Err(object_store::Error::Precondition { .. })) => break,
                            // A failed renewal is retried at the next tick.
                            _ => {}
                        }
                    }
                })
                .ok()
        };
        Self {
            backend: backend.clone(),
            token,
            stop: Some(stop),
            renewer,
        }
    }
}

fn lock(m: &Mutex<UpdateVersion>) -> std::sync::MutexGuard<'_, UpdateVersion> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lease object as it is now: its record (`None` if unreadable) and version, or `None` if
/// there is no lease.
fn current(backend: &ObjectBackend) -> Result<Option<(Option<Record>, UpdateVersion)>, StoreError> {
    let path = backend.path(KEY)?;
    let store = backend.store.clone();
    match backend.bridge.run(async move {
        let got = store.get(&path).await?;
        let v = version(got.meta.e_tag.clone(), got.meta.version.clone());
        Ok((got.bytes().await?, v))
    }) {
        Ok((bytes, v)) => Ok(Some((serde_json::from_slice(&bytes).ok(), v))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(backend.err("read", KEY, e)),
    }
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

impl Lease for ObjectLease {}

impl Drop for ObjectLease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        // Delete it only if it is still ours (a holder that took it over after we stalled keeps it).
        let ours = lock(&self.token).clone();
        if let Ok(Some((_, now))) = current(&self.backend) {
            if now == ours {
                let _ = tinycdn_store::Backend::delete(&self.backend, KEY);
            }
        }
    }
}
