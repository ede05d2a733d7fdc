//! Graceful drain: how a server stops without cutting a request.
//!
//! [`Drain`] is shared by the accept loops of one process ([`crate::listen::serve_until`]) and
//! the code that decides to stop (the binary, on SIGTERM). Its steps, in order:
//! 1. (the handler's own, [`crate::Handler::begin_drain`]): readiness turns false (`/readyz`
//!    answers 503) while every listener still accepts, so that load balancers and Kubernetes
//!    endpoints stop sending new clients;
//! 2. [`Drain::stop_accepting`]: listeners close;
//! 3. [`Drain::close_connections`]: each connection finishes the requests it has in flight and
//!    closes: HTTP/1 without keep-alive (`Connection: close`), HTTP/2 with a GOAWAY;
//! 4. [`Drain::idle`] resolves when the last connection is gone (the caller bounds the wait).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

/// The drain of one process's servers. Cheap to clone: clones share it.
#[derive(Debug, Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    accepting: watch::Sender<bool>,
    open: watch::Sender<bool>,
    connections: AtomicUsize,
    gone: Notify,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    /// A drain not begun: accepting, connections open.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                accepting: watch::Sender::new(true),
                open: watch::Sender::new(true),
                connections: AtomicUsize::new(0),
                gone: Notify::new(),
            }),
        }
    }

    /// Step 2: listeners stop accepting.
    pub fn stop_accepting(&self) {
        self.inner.accepting.send_replace(false);
    }

    /// Step 3: connections finish what they have in flight and close.
    pub fn close_connections(&self) {
        self.stop_accepting();
        self.inner.open.send_replace(false);
    }

    /// Connections open now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Resolves when no connection is open.
    pub async fn idle(&self) {
        loop {
            let gone = self.inner.gone.notified();
            if self.connections() == 0 {
                return;
            }
            gone.await;
        }
    }

    /// Resolves when listeners are to stop accepting.
    pub(crate) async fn accepting_stopped(&self) {
        let mut rx = self.inner.accepting.subscribe();
        let _ = rx.wait_for(|accepting| !accepting).await;
    }

    /// Whether connections are to close (step 3 has begun).
    #[must_use]
    pub fn is_closing(&self) -> bool {
        !*self.inner.open.borrow()
    }

    /// Resolves when connections are to close.
    pub(crate) async fn closing(&self) {
        let mut rx = self.inner.open.subscribe();
        let _ = rx.wait_for(|open| !open).await;
    }

    /// Counts a connection open until the guard is dropped.
    pub(crate) fn track(&self) -> Tracked {
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        Tracked(self.clone())
    }
}

/// A connection counted by its [`Drain`].
#[derive(Debug)]
pub(crate) struct Tracked(Drain);

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.inner.connections.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.inner.gone.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_steps_go_in_order_and_idle_waits_for_the_last_connection() {
        let d = Drain::new();
        let a = d.track();
        let b = d.track();
        assert_eq!(d.connections(), 2);
        d.close_connections();
        tokio::time::timeout(Duration::from_millis(100), d.accepting_stopped())
            .await
            .expect("accepting stopped with the close");
        tokio::time::timeout(Duration::from_millis(100), d.closing())
            .await
            .expect("closing");
        drop(a);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), d.idle())
                .await
                .is_err(),
            "one connection still open"
        );
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.idle().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(b);
        tokio::time::timeout(Duration::from_millis(200), waiter)
            .await
            .expect("idle once the last one went")
            .expect("joined");
    }
}
