//! The transform workers: a fixed number of threads at a lower CPU priority, a bounded queue in
//! front of them, a deadline per job. Serving from cache runs on the async runtime's threads,
//! which the kernel prefers over these, so transforms never slow cache hits down; a request that
//! finds the queue full is told to come back (503 with `Retry-After`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A job for a worker.
type Job = Box<dyn FnOnce() + Send>;

/// Why a job gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    Busy,
    /// The job did not finish within its deadline.
    Timeout,
}

/// Niceness of the worker threads (Linux: per thread): the lowest priority, so that under
/// contention the kernel gives them about 1.5% of a core against a serving thread (weight 15
/// against 1024), and all of it when nothing else runs.
const NICENESS: i32 = 19;

/// Counters of the pool.
#[derive(Debug, Default)]
pub struct PoolCounters {
    /// Jobs waiting for a worker.
    pub queued: AtomicUsize,
    /// Jobs running.
    pub running: AtomicUsize,
    /// Jobs refused because the queue was full.
    pub busy: AtomicU64,
    /// Jobs whose result came after their deadline.
    pub timeouts: AtomicU64,
}

/// The workers.
#[derive(Debug)]
pub struct Pool {
    tx: SyncSender<Job>,
    workers: usize,
    /// Counters.
    pub counters: Arc<PoolCounters>,
}

fn work(rx: &Mutex<Receiver<Job>>, counters: &PoolCounters) {
    // Lower this thread's priority below the threads that serve (Linux applies it per thread).
    let _ = rustix::process::setpriority_process(None, NICENESS);
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        counters.running.fetch_add(1, Ordering::Relaxed);
        job();
        counters.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// `workers` threads with `queue` places for jobs waiting.
    ///
    /// # Panics
    /// If a thread cannot be spawned at start.
    #[must_use]
    pub fn new(workers: usize, queue: usize) -> Self {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(PoolCounters::default());
        for i in 0..workers.max(1) {
            let (rx, counters) = (rx.clone(), counters.clone());
            std::thread::Builder::new()
                .name(format!("tinycdn-image-{i}"))
                .spawn(move || work(&rx, &counters))
                .unwrap_or_else(|e| panic!("cannot start an image worker thread: {e}"));
        }
        Self {
            tx,
            workers: workers.max(1),
            counters,
        }
    }

    /// Worker threads.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `f` on a worker, giving it the instant it must be done by (`timeout` from now,
    /// queueing included).
    ///
    /// # Errors
    /// [`PoolError::Busy`] at once when the queue is full; [`PoolError::Timeout`] when no result
    /// came in time (the job stops at its next check of the deadline).
    pub async fn run<T: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl FnOnce(Instant) -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let deadline = Instant::now() + timeout;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f(deadline));
        });
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                self.counters.busy.fetch_add(1, Ordering::Relaxed);
                return Err(PoolError::Busy);
            }
        }
        match tokio::time::timeout(timeout, result).await {
            Ok(Ok(v)) => Ok(v),
            _ => {
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(PoolError::Timeout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_slow_job_times_out() {
        let pool = Arc::new(Pool::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        // One job runs (held), one waits in the queue.
        let mut held = Vec::new();
        for _ in 0..2 {
            let (p, h) = (pool.clone(), hold.clone());
            held.push(tokio::spawn(async move {
                p.run(Duration::from_secs(30), move |_| {
                    let _ = h.lock().map(|r| r.recv());
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let refused = pool.run(Duration::from_secs(1), |_| ()).await;
        assert_eq!(refused, Err(PoolError::Busy));
        assert_eq!(pool.counters.busy.load(Ordering::Relaxed), 1);
        release.send(()).ok();
        release.send(()).ok();
        for h in held {
            assert_eq!(h.await.ok(), Some(Ok(())));
        }
        let slow = pool
            .run(Duration::from_millis(50), |_| {
                std::thread::sleep(Duration::from_millis(300))
            })
            .await;
        assert_eq!(slow, Err(PoolError::Timeout));
    }
}
