//! A fill: one origin exchange that any number of requests for the same key wait on (request
//! collapsing). The task talking to the origin publishes the outcome of the response head, then
//! the body frame by frame; every reader streams the frames at its own pace from the start.
//!
//! While a response may be stored, its frames are kept until the fill ends (so that a request
//! arriving half-way still gets the whole body, and slow readers never slow the fill down; the
//! body is bounded by `--max-object-size`). When it ends stored, the frames and their share of
//! the memory budget are let go at once: a reader that has not taken them all reads the rest of
//! the stored response from the chunk cache ([`Step::Stored`]), so that a client that stops
//! reading pins nothing. A response that may not be stored or is too large is streamed instead:
//! frames every reader has taken are dropped, and the fill waits while more than
//! [`STREAM_WINDOW`] bytes are unread — or, once fills being stored and streaming fills together
//! hold their one budget (`--memory`), more than [`MIN_STREAM_WINDOW`] — so memory stays bounded
//! whatever the body's length and however many streams are read slowly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::HeaderMap;
use http::StatusCode;
use tinycdn_cache_policy::key::Vary;
use tinycdn_cache_policy::Exchange;
use tokio::sync::{watch, Notify};

use super::store::Entry;

/// Unread bytes a streaming fill may hold before it waits for its readers.
pub const STREAM_WINDOW: u64 = 4 << 20;
/// Unread bytes a streaming fill may hold whatever the others hold.
pub const MIN_STREAM_WINDOW: u64 = 64 << 10;

/// The bytes all fills being stored may hold in memory at once. A fill that would go past it
/// streams its body instead of storing it.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    /// Unread bytes streaming fills hold.
    streaming: AtomicU64,
    max: u64,
}

impl Budget {
    /// A budget of `max` bytes of bodies held in memory by fills being stored.
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicU64::new(0),
            streaming: AtomicU64::new(0),
            max,
        })
    }

    /// Bytes held now by fills being stored.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Unread bytes held now by streaming fills.
    pub fn streaming(&self) -> u64 {
        self.streaming.load(Ordering::Relaxed)
    }
}

/// What a fill learned from the response head.
#[derive(Debug)]
pub struct Head {
    /// Status.
    pub status: StatusCode,
    /// Fields as the requester who started the fill gets them (hop-by-hop removed).
    pub sent: HeaderMap,
    /// Fields as stored and as other requests get them (qualified `no-cache`/`private` fields
    /// removed too).
    pub stored: HeaderMap,
    /// Whether requests other than the first may use it (storable by the RFC's rules).
    pub shareable: bool,
    /// Why it will not be stored, if it will not.
    pub not_stored: Option<&'static str>,
    /// `Content-Length`, when the origin sent one.
    pub len: Option<u64>,
    /// Its `Vary`.
    pub vary: Vary,
    /// The first request's secondary key under that `Vary`.
    pub variant: Option<Vec<(String, Option<String>)>>,
    /// When it was requested and received.
    pub exchange: Exchange,
}

impl Head {
    /// Whether a request with these fields may take this response.
    pub fn selected_by(&self, request: &HeaderMap) -> bool {
        self.shareable && self.variant.is_some() && self.vary.secondary_key(request) == self.variant
    }
}

/// How the exchange went, as far as the response head.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A response; its body follows.
    Head(Arc<Head>),
    /// A validation answered 304: the stored response, freshened.
    Refreshed(Arc<Entry>),
    /// No usable response (connection, timeout, protocol), with the reply status and text.
    Failed(StatusCode, String),
}

#[derive(Debug, Default)]
struct State {
    outcome: Option<Outcome>,
    frames: VecDeque<Bytes>,
    /// Index of `frames[0]` among all frames pushed.
    first: usize,
    pushed: usize,
    /// Bytes in `frames`.
    held: u64,
    /// Streaming: frames every reader took are dropped.
    streaming: bool,
    readers: Vec<Arc<AtomicUsize>>,
    end: Option<Result<(), String>>,
    /// The stored response, once the body is complete and stored.
    entry: Option<Arc<Entry>>,
}

/// One origin exchange shared by collapsed requests.
#[derive(Debug)]
pub struct Fill {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    progress: Notify,
    budget: Arc<Budget>,
    /// Bytes this fill took from the budget, given back when it is dropped.
    charged: AtomicU64,
}

impl Drop for Fill {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(*self.charged.get_mut(), Ordering::Relaxed);
        let s = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if s.streaming {
            self.budget.streaming.fetch_sub(s.held, Ordering::Relaxed);
        }
    }
}

impl Fill {
    /// A fill charging what it holds to `budget`.
    pub fn new(budget: Arc<Budget>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
            progress: Notify::new(),
            budget,
            charged: AtomicU64::new(0),
        })
    }

    /// Takes `n` bytes from the budget for frames kept to be stored; `false` when they do not
    /// fit.
    pub fn charge(&self, n: u64) -> bool {
        let b = &self.budget;
        // Stored and streaming fills share one budget (`--memory`).
        let streaming = b.streaming();
        let ok = b
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                (u.saturating_add(n).saturating_add(streaming) <= b.max).then_some(u + n)
            })
            .is_ok();
        if ok {
            self.charged.fetch_add(n, Ordering::Relaxed);
        }
        ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Publishes the outcome of the response head.
    pub fn set_outcome(&self, outcome: Outcome) {
        self.lock().outcome = Some(outcome);
        self.bump();
    }

    /// Switches to streaming (frames dropped once read, bounded memory).
    pub fn stream(&self) {
        let mut s = self.lock();
        if !s.streaming {
            s.streaming = true;
            // What it held so far was charged to the stored fills' budget, and stays so.
            self.budget.streaming.fetch_add(s.held, Ordering::Relaxed);
        }
        self.trim(&mut s);
    }

    fn trim(&self, s: &mut State) {
        if !s.streaming {
            return;
        }
        let min = s
            .readers
            .iter()
            .map(|r| r.load(Ordering::Acquire))
            .min()
            .unwrap_or(s.pushed);
        while s.first < min {
            let Some(f) = s.frames.pop_front() else { break };
            s.held -= f.len() as u64;
            self.budget
                .streaming
                .fetch_sub(f.len() as u64, Ordering::Relaxed);
            s.first += 1;
        }
    }

    /// Appends a body frame; while streaming, first waits until readers have taken all but
    /// [`STREAM_WINDOW`] bytes. Returns `false` when a streaming fill has no reader left.
    pub async fn push(&self, frame: Bytes) -> bool {
        loop {
            let wait = self.progress.notified();
            {
                let mut s = self.lock();
                self.trim(&mut s);
                if s.streaming && s.readers.is_empty() {
                    return false;
                }
                let held_by_all = self.budget.streaming().saturating_add(self.budget.used());
                let room = !s.streaming
                    || s.held < MIN_STREAM_WINDOW
                    || (s.held < STREAM_WINDOW && held_by_all < self.budget.max);
                if room {
                    let n = frame.len() as u64;
                    s.held += n;
                    if s.streaming {
                        self.budget.streaming.fetch_add(n, Ordering::Relaxed);
                    }
                    s.frames.push_back(frame);
                    s.pushed += 1;
                    break;
                }
            }
            wait.await;
        }
        self.bump();
        true
    }

    /// Ends the body: complete (with the stored entry, if stored) or failed. A stored body's
    /// frames and their share of the budget go at once: readers behind take the rest from the
    /// stored entry.
    pub fn finish(&self, result: Result<(), String>, entry: Option<Arc<Entry>>) {
        {
            let mut s = self.lock();
            if entry.is_some() && !s.streaming {
                s.frames.clear();
                s.first = s.pushed;
                s.held = 0;
                let n = self.charged.swap(0, Ordering::Relaxed);
                self.budget.used.fetch_sub(n, Ordering::Relaxed);
            }
            s.end = Some(result);
            s.entry = entry;
        }
        self.bump();
    }

    /// Whether the body has ended in an error (a fill not to join: its task may not have
    /// unregistered it yet).
    pub fn failed(&self) -> bool {
        matches!(self.lock().end, Some(Err(_)))
    }

    /// The outcome of the response head, once known.
    pub async fn outcome(&self) -> Outcome {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(o) = self.lock().outcome.clone() {
                return o;
            }
            if rx.changed().await.is_err() {
                return Outcome::Failed(StatusCode::BAD_GATEWAY, "the fill ended\n".into());
            }
        }
    }

    /// Waits for the end of the body; returns the stored entry if it was stored.
    pub async fn done(&self) -> Option<Arc<Entry>> {
        let mut rx = self.changed.subscribe();
        loop {
            {
                let s = self.lock();
                if s.end.is_some() {
                    return s.entry.clone();
                }
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// A reader from the first frame, unless streaming has already dropped it (a fill that
    /// ended stored is read from its entry).
    pub fn reader(self: &Arc<Self>) -> Option<Reader> {
        let mut s = self.lock();
        if s.first != 0 && s.entry.is_none() {
            return None;
        }
        let pos = Arc::new(AtomicUsize::new(0));
        s.readers.push(pos.clone());
        Some(Reader {
            fill: self.clone(),
            pos,
            rx: self.changed.subscribe(),
        })
    }
}

/// One request's position in a fill's body.
pub struct Reader {
    fill: Arc<Fill>,
    pos: Arc<AtomicUsize>,
    rx: watch::Receiver<u64>,
}

/// What a reader takes next.
#[derive(Debug)]
pub enum Step {
    /// A frame.
    Frame(Bytes),
    /// The fill ended stored and let its frames go: the rest is the stored entry's, from the
    /// byte offset this reader has reached.
    Stored(Arc<Entry>),
    /// The end.
    End,
    /// The body failed.
    Failed(String),
}

impl Reader {
    /// What comes next: a frame, the stored entry, the end, or a failure.
    pub async fn step(&mut self) -> Step {
        loop {
            self.rx.borrow_and_update();
            {
                let s = self.fill.lock();
                let at = self.pos.load(Ordering::Acquire);
                if at < s.pushed {
                    let frame = at
                        .checked_sub(s.first)
                        .and_then(|i| s.frames.get(i))
                        .cloned();
                    if let (None, Some(e)) = (&frame, &s.entry) {
                        return Step::Stored(e.clone());
                    }
                    drop(s);
                    self.pos.store(at + 1, Ordering::Release);
                    self.fill.progress.notify_one();
                    return frame.map_or_else(
                        || Step::Failed("the fill dropped a frame".to_owned()),
                        Step::Frame,
                    );
                }
                match &s.end {
                    Some(Ok(())) => return Step::End,
                    Some(Err(e)) => return Step::Failed(e.clone()),
                    None => {}
                }
            }
            if self.rx.changed().await.is_err() {
                return Step::Failed("the fill ended early".into());
            }
        }
    }

    /// [`Reader::step`] as frames (the tests' view; a stored rest reads as its entry's length).
    #[cfg(test)]
    pub async fn next(&mut self) -> Option<Result<Bytes, String>> {
        match self.step().await {
            Step::Frame(f) => Some(Ok(f)),
            Step::Stored(e) => Some(Err(format!("stored: {} bytes", e.record.body_len))),
            Step::End => None,
            Step::Failed(e) => Some(Err(e)),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut s = self.fill.lock();
        s.readers.retain(|r| !Arc::ptr_eq(r, &self.pos));
        self.fill.trim(&mut s);
        drop(s);
        self.fill.progress.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_joining_late_get_every_frame_while_stored() {
        let fill = Fill::new(Budget::new(u64::MAX));
        let mut early = fill.reader().expect("reader");
        assert!(fill.push(Bytes::from_static(b"ab")).await);
        assert_eq!(early.next().await, Some(Ok(Bytes::from_static(b"ab"))));
        let mut late = fill.reader().expect("still from the start");
        assert!(fill.push(Bytes::from_static(b"cd")).await);
        fill.finish(Ok(()), None);
        assert_eq!(early.next().await, Some(Ok(Bytes::from_static(b"cd"))));
        assert_eq!(early.next().await, None);
        assert_eq!(late.next().await, Some(Ok(Bytes::from_static(b"ab"))));
        assert_eq!(late.next().await, Some(Ok(Bytes::from_static(b"cd"))));
        assert_eq!(late.next().await, None);
        assert!(!fill.failed(), "a complete fill may still be joined");
    }

    #[tokio::test]
    async fn a_failed_fill_says_so_and_is_not_to_be_joined() {
        let fill = Fill::new(Budget::new(u64::MAX));
        assert!(fill.push(Bytes::from_static(b"ab")).await);
        assert!(!fill.failed(), "still running");
        fill.finish(Err("the origin stalled".into()), None);
        assert!(fill.failed());
    }

    #[tokio::test]
    async fn streaming_drops_read_frames_and_waits_for_slow_readers() {
        let fill = Fill::new(Budget::new(u64::MAX));
        let mut r = fill.reader().expect("reader");
        fill.stream();
        let big = Bytes::from(vec![7u8; (STREAM_WINDOW / 2) as usize]);
        assert!(fill.push(big.clone()).await);
        assert!(fill.push(big.clone()).await);
        // The window is full: the third push waits until the reader takes a frame.
        let f2 = fill.clone();
        let pusher = tokio::spawn(async move { f2.push(Bytes::from_static(b"x")).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!pusher.is_finished());
        assert_eq!(
            r.next().await.map(|f| f.map(|b| b.len())),
            Some(Ok(big.len()))
        );
        assert!(pusher.await.expect("join"));
        assert!(fill.reader().is_none(), "the first frame is gone");
        fill.finish(Err("cut".into()), None);
        assert!(r.next().await.is_some_and(|f| f.is_ok()));
        assert!(r.next().await.is_some_and(|f| f.is_ok()));
        assert_eq!(r.next().await, Some(Err("cut".into())));
        drop(r);
        // No reader left: a streaming fill stops.
        assert!(!fill.push(Bytes::from_static(b"y")).await);
    }

    #[tokio::test]
    async fn stored_and_streaming_fills_share_one_budget() {
        let budget = Budget::new(100 << 10);
        let streaming = Fill::new(budget.clone());
        let slow = streaming.reader().expect("reader");
        streaming.stream();
        // A reader that takes nothing: the stream holds what it may.
        assert!(streaming.push(Bytes::from(vec![0u8; 60 << 10])).await);
        assert_eq!(budget.streaming(), 60 << 10);
        let stored = Fill::new(budget.clone());
        assert!(
            !stored.charge(50 << 10),
            "60 KiB streaming + 50 KiB is past 100 KiB"
        );
        assert!(stored.charge(40 << 10));
        drop((slow, streaming));
        assert_eq!(budget.streaming(), 0, "given back when the stream goes");
        assert!(stored.charge(50 << 10));
    }

    #[test]
    fn the_budget_bounds_what_fills_hold_and_comes_back_when_they_go() {
        let budget = Budget::new(100);
        let a = Fill::new(budget.clone());
        let b = Fill::new(budget.clone());
        assert!(a.charge(60));
        assert!(!b.charge(50), "60 + 50 is past 100");
        assert!(b.charge(40));
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(b.charge(60));
        drop(b);
        assert_eq!(budget.used(), 0);
    }
}
