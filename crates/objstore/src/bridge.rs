//! Calling the asynchronous `object_store` API from the store's synchronous [`Backend`] trait.
//!
//! The backend owns a small Tokio runtime. Called from a plain thread (the CLI, rayon's workers)
//! it blocks on the request directly; called from a thread of another runtime (the servers'
//! `spawn_blocking` and `block_in_place` threads, where `block_on` is not allowed) it spawns the
//! request on its own runtime and waits on a channel.
//!
//! [`Backend`]: tinycdn_store::Backend

use std::future::Future;
use std::sync::mpsc;

/// The runtime and the two ways into it.
#[derive(Debug)]
pub struct Bridge {
    rt: Option<tokio::runtime::Runtime>,
}

/// A request started with [`Bridge::spawn`].
pub struct Pending<T> {
    rx: mpsc::Receiver<Result<T, object_store::Error>>,
}

fn stopped() -> object_store::Error {
    object_store::Error::Generic {
        store: "tinycdn",
        source: "the object store client stopped".into(),
    }
}

impl<T> Pending<T> {
    /// Waits for the request's result.
    pub fn wait(self) -> Result<T, object_store::Error> {
        self.rx.recv().unwrap_or_else(|_| Err(stopped()))
    }
}

impl Bridge {
    /// Starts the runtime (two workers: requests are I/O-bound).
    ///
    /// # Errors
    /// The OS refused threads.
    pub fn new() -> Result<Self, std::io::Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tinycdn-objstore")
            .enable_all()
            .build()?;
        Ok(Self { rt: Some(rt) })
    }

    fn rt(&self) -> Option<&tokio::runtime::Runtime> {
        self.rt.as_ref()
    }

    /// Runs a request to completion.
    pub fn run<T, F>(&self, fut: F) -> Result<T, object_store::Error>
    where
        F: Future<Output = Result<T, object_store::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(rt) = self.rt() else {
            return Err(stopped());
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return rt.block_on(fut);
        }
        self.spawn(fut).wait()
    }

    /// Starts a request; [`Pending::wait`] for its result.
    pub fn spawn<T, F>(&self, fut: F) -> Pending<T>
    where
        F: Future<Output = Result<T, object_store::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        if let Some(rt) = self.rt() {
            rt.spawn(async move {
                let _ = tx.send(fut.await);
            });
        }
        Pending { rx }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // A runtime may not be dropped (blocking) inside another runtime; the store can be.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
