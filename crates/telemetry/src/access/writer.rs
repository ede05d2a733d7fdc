//! The running log, as nginx does it (`access_log ... buffer=`): each request's thread formats
//! its line into a buffer of its own (one of a few slots, an uncontended lock), and one writer
//! thread takes the filled buffers every [`DRAIN_EVERY`] and writes them out. Nothing crosses
//! threads per request — no queue entry, no record freed on another thread — and a slow or
//! failing disk never delays a request: a slot past its share of the line budget drops the line
//! and counts it.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use super::Record;

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The JSON schema in the module's documentation.
    Json,
    /// nginx `combined`.
    Combined,
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, appended to, reopened on [`AccessLog::reopen`].
    File(PathBuf),
}

/// Counters of the log itself.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Lines written.
    pub written: AtomicU64,
    /// Lines dropped because their buffer was full (the writer behind).
    pub dropped: AtomicU64,
    /// Lines lost to writes or opens that failed.
    pub errors: AtomicU64,
}

/// How long the writer sleeps between drains (so a line reaches the file within about this).
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// Lines formatted and not yet taken by the writer.
#[derive(Debug, Default)]
struct Buffer {
    text: String,
    lines: u64,
}

/// One slot, alone on its cache lines so that threads logging into neighbouring slots do not
/// contend.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot(Mutex<Buffer>);

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug)]
struct Shared {
    slots: Box<[Slot]>,
    format: Format,
    /// Lines a slot may hold before it drops them.
    per_slot: u64,
    reopen: AtomicBool,
    counters: Arc<LogCounters>,
    /// Lines taken into a buffer (written, failed or waiting).
    accepted: AtomicU64,
}

/// A running access log.
#[derive(Debug)]
pub struct AccessLog {
    /// The node's point of presence, for every line.
    pub pop: Arc<str>,
    shared: Arc<Shared>,
    /// What it has done.
    pub counters: Arc<LogCounters>,
}

static GLOBAL: OnceLock<Arc<AccessLog>> = OnceLock::new();

/// Hands out slots to threads, round robin.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
}

impl AccessLog {
    /// Starts the writer thread; `capacity` lines may wait for it in all (shared among the
    /// slots).
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn start(
        target: Target,
        format: Format,
        capacity: usize,
        pop: &str,
    ) -> std::io::Result<Arc<Self>> {
        let n = std::thread::available_parallelism()
            .map_or(4, std::num::NonZero::get)
            .clamp(1, 32)
            * 2;
        let counters = Arc::new(LogCounters::default());
        let shared = Arc::new(Shared {
            slots: (0..n).map(|_| Slot::default()).collect(),
            format,
            per_slot: (capacity.max(1) as u64).div_ceil(n as u64),
            reopen: AtomicBool::new(false),
            counters: counters.clone(),
            accepted: AtomicU64::new(0),
        });
        let sink = Sink::open(&target)?;
        let s = shared.clone();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer(&s, sink, &target))?;
        Ok(Arc::new(Self {
            pop: pop.into(),
            shared,
            counters,
        }))
    }

    /// Formats a line into this thread's buffer; never blocks on the writer (a full buffer
    /// drops the line and counts it).
    pub fn log(&self, record: &Record) {
        let s = &self.shared;
        let slot = &s.slots[MY_SLOT.with(|i| *i) % s.slots.len()];
        let mut b = slot.lock();
        if b.lines >= s.per_slot {
            drop(b);
            s.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match s.format {
            Format::Json => record.write_json(&mut b.text),
            Format::Combined => record.write_combined(&mut b.text),
        }
        b.text.push('\n');
        b.lines += 1;
        s.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits, at most `wait`, until the writer has written (or failed to write) every line
    /// logged so far; `false` if some were still waiting (at exit: a drained server's last
    /// requests are in the log).
    pub fn flush(&self, wait: Duration) -> bool {
        let s = &self.shared;
        let end = std::time::Instant::now() + wait;
        loop {
            let done = s.counters.written.load(Ordering::Relaxed)
                + s.counters.errors.load(Ordering::Relaxed);
            if done >= s.accepted.load(Ordering::Relaxed) {
                return true;
            }
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Reopens the file before the next write (after a rotation moved it away).
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Relaxed);
    }

    /// Makes this the process's access log (its counters go into every exposition).
    pub fn install(self: &Arc<Self>) {
        let _ = GLOBAL.set(self.clone());
    }

    /// The process's access log, if one was installed.
    #[must_use]
    pub fn global() -> Option<&'static Arc<AccessLog>> {
        GLOBAL.get()
    }
}

enum Sink {
    Stdout(std::io::Stdout),
    File(std::fs::File),
}

impl Sink {
    fn open(target: &Target) -> std::io::Result<Self> {
        Ok(match target {
            Target::Stdout => Self::Stdout(std::io::stdout()),
            Target::File(p) => Self::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        })
    }

    /// Whole lines in one write (`O_APPEND`: lines of several processes never interleave
    /// below `PIPE_BUF`-sized pieces).
    fn write(&mut self, text: &str) -> std::io::Result<()> {
        match self {
            Self::Stdout(s) => {
                let mut l = s.lock();
                l.write_all(text.as_bytes())?;
                l.flush()
            }
            Self::File(f) => f.write_all(text.as_bytes()),
        }
    }
}

fn writer(shared: &Arc<Shared>, mut sink: Sink, target: &Target) {
    let mut broken = false;
    // The buffer swapped into a slot when its lines are taken: allocations go round between a
    // slot and the writer, and are reused.
    let mut spare = Buffer::default();
    loop {
        // The writer is the last holder only when every `AccessLog` is gone: it drains once more
        // and ends.
        let alive = Arc::strong_count(shared) > 1;
        // A rotation (SIGHUP), or a file that failed: open it again (a vanished directory keeps
        // failing, counted, until it is back).
        if shared.reopen.swap(false, Ordering::Relaxed) || broken {
            match Sink::open(target) {
                Ok(s) => {
                    sink = s;
                    broken = false;
                }
                Err(_) => broken = true,
            }
        }
        for slot in &shared.slots {
            {
                let mut b = slot.lock();
                if b.lines == 0 {
                    continue;
                }
                std::mem::swap(&mut *b, &mut spare);
            }
            let c = &shared.counters;
            if broken {
                c.errors.fetch_add(spare.lines, Ordering::Relaxed);
            } else if sink.write(&spare.text).is_ok() {
                c.written.fetch_add(spare.lines, Ordering::Relaxed);
            } else {
                c.errors.fetch_add(spare.lines, Ordering::Relaxed);
                broken = true;
            }
            spare.text.clear();
            spare.lines = 0;
        }
        if !alive {
            break;
        }
        std::thread::sleep(DRAIN_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;

    fn wait_for(what: impl Fn() -> bool) {
        for _ in 0..500 {
            if what() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("timed out");
    }

    #[test]
    fn flush_returns_once_every_line_logged_is_in_the_file() {
        let dir = std::env::temp_dir().join(format!("tinycdn-flush-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("a.log");
        let log =
            AccessLog::start(Target::File(path.clone()), Format::Json, 4096, "t").expect("log");
        for _ in 0..200 {
            log.log(&record());
        }
        assert!(log.flush(Duration::from_secs(5)));
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert_eq!(lines, 200, "nothing still waiting in a buffer");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lines_reach_the_file_and_a_full_buffer_drops_and_counts() {
        let dir = std::env::temp_dir().join(format!("tinycdn-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("a.log");
        let log = AccessLog::start(Target::File(path.clone()), Format::Json, 1, "t").expect("log");
        let c = log.counters.clone();
        // Room for one line per slot: a burst on one thread overflows it.
        for _ in 0..1000 {
            log.log(&record());
        }
        wait_for(|| c.written.load(Ordering::Relaxed) + c.dropped.load(Ordering::Relaxed) == 1000);
        assert!(
            c.dropped.load(Ordering::Relaxed) > 0,
            "the burst was bounded"
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text.lines().count() as u64,
            c.written.load(Ordering::Relaxed)
        );
        assert!(text.lines().all(|l| l == record().to_json()));
        // A rotation: the file moves away, the log reopens its name.
        std::fs::rename(&path, dir.join("a.log.1")).expect("rotate");
        log.reopen();
        let before = c.written.load(Ordering::Relaxed);
        wait_for(|| {
            log.log(&record());
            c.written.load(Ordering::Relaxed) > before + 2
        });
        assert!(
            std::fs::read_to_string(&path)
                .expect("reopened")
                .lines()
                .count()
                > 0
        );
        // The writer drains what is left when the log goes, then ends.
        drop(log);
        wait_for(|| Arc::strong_count(&c) == 1);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
