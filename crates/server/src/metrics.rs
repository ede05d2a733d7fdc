//! Prometheus counters of the server, rendered in the text exposition format.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    by_status: [AtomicU64; 6],
    bytes_sent: AtomicU64,
    verification_failures: AtomicU64,
    objects_verified: AtomicU64,
}

impl Metrics {
    /// Counts one response.
    pub fn response(&self, status: u16, body_bytes: u64) {
        let class = usize::from(status / 100).min(5);
        self.by_status[class].fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(body_bytes, Ordering::Relaxed);
    }

    /// Counts an object that failed verification.
    pub fn verification_failure(&self) {
        self.verification_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an object verified on first use.
    pub fn object_verified(&self) {
        self.objects_verified.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP tinycdn_responses_total Responses sent, by status class.\n# TYPE tinycdn_responses_total counter\n",
        );
        for (class, n) in self.by_status.iter().enumerate().skip(1) {
            out.push_str(&format!(
                "tinycdn_responses_total{{role=\"origin\",status=\"{class}xx\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP tinycdn_body_bytes_sent_total Body bytes announced in responses.\n# TYPE tinycdn_body_bytes_sent_total counter\ntinycdn_body_bytes_sent_total{{role=\"origin\"}} {}\n",
            self.bytes_sent.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP tinycdn_objects_verified_total Objects hashed on first use.\n# TYPE tinycdn_objects_verified_total counter\ntinycdn_objects_verified_total{{role=\"origin\"}} {}\n",
            self.objects_verified.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP tinycdn_verification_failures_total Objects whose bytes did not match their hash.\n# TYPE tinycdn_verification_failures_total counter\ntinycdn_verification_failures_total{{role=\"origin\"}} {}\n",
            self.verification_failures.load(Ordering::Relaxed)
        ));
        out
    }
}
