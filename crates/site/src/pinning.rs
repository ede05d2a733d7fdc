//! Version consistency across an atomic switch: a page keeps the version it started on.
//!
//! The tag of a site moves atomically, but a browser that loaded version A's HTML goes on asking
//! for A's assets after the switch to B. So:
//! - a **navigation** (an HTML document, or the service worker script) is always answered from
//!   the current version, and its response sets the [`COOKIE`] naming that version;
//! - **other requests** carrying the cookie are answered from the version it names while that
//!   version is current or was superseded less than the grace period ago; else from the current;
//! - a file the chosen version lacks is looked up in the versions superseded within the grace
//!   period, newest first (a page of A asking for `app.3f9a1c.js`, gone from B, still gets it).
//!
//! [`History`] remembers which versions were current and when each stopped being so.

/// The cookie naming the version a browser's pages started on.
pub const COOKIE: &str = "tinycdn-site";

/// Superseded versions remembered at most.
pub const MAX_SUPERSEDED: usize = 8;

/// The versions of one site: the current one and those it replaced, with when (seconds on the
/// caller's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History<V> {
    current: Option<V>,
    /// Newest first: (version, when it stopped being current).
    superseded: Vec<(V, u64)>,
}

impl<V> Default for History<V> {
    fn default() -> Self {
        Self {
            current: None,
            superseded: Vec::new(),
        }
    }
}

impl<V: Copy + PartialEq> History<V> {
    /// Records that `id` is current at `now`; returns whether that is a switch.
    pub fn observe(&mut self, id: V, now: u64) -> bool {
        match self.current {
            Some(c) if c == id => false,
            previous => {
                self.superseded.retain(|(v, _)| *v != id);
                if let Some(p) = previous {
                    self.superseded.insert(0, (p, now));
                    self.superseded.truncate(MAX_SUPERSEDED);
                }
                self.current = Some(id);
                true
            }
        }
    }

    /// The current version.
    #[must_use]
    pub fn current(&self) -> Option<V> {
        self.current
    }

    /// Whether a request may still be answered from `id` at `now`: it is current, or was
    /// superseded less than `grace` seconds ago.
    #[must_use]
    pub fn accepts(&self, id: V, now: u64, grace: u64) -> bool {
        self.current == Some(id)
            || self
                .superseded
                .iter()
                .any(|(v, at)| *v == id && now.saturating_sub(*at) < grace)
    }

    /// The superseded versions still within the grace period at `now`, newest first.
    #[must_use]
    pub fn in_grace(&self, now: u64, grace: u64) -> Vec<V> {
        self.superseded
            .iter()
            .filter(|(_, at)| now.saturating_sub(*at) < grace)
            .map(|(v, _)| *v)
            .collect()
    }
}

/// The value of [`COOKIE`] in a `Cookie` header (`a=1; tinycdn-site=…`), if any; the first
/// wins, as RFC 6265 section 5.4 orders them.
#[must_use]
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name.trim() == COOKIE).then(|| value.trim().trim_matches('"'))
    })
}

/// The `Set-Cookie` value pinning `version` (hex) for the whole site, for the session.
#[must_use]
pub fn set_cookie(version: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={version}; Path=/; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a request is a navigation, by its Fetch metadata (`Sec-Fetch-Dest`) or, from clients
/// that send none, by the file answering it being HTML; a service worker script (`Service-Worker:
/// script`) counts, so a browser always learns of the current version's worker.
#[must_use]
pub fn is_navigation(sec_fetch_dest: Option<&str>, service_worker: bool, html: bool) -> bool {
    if service_worker {
        return true;
    }
    match sec_fetch_dest {
        Some(d) => matches!(d, "document" | "iframe" | "frame"),
        None => html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_keep_the_previous_version_for_the_grace_period() {
        let mut h = History::default();
        assert!(h.observe(1, 100));
        assert!(!h.observe(1, 150));
        assert!(h.accepts(1, 150, 60));
        assert!(!h.accepts(2, 150, 60));
        assert!(h.observe(2, 200));
        assert_eq!(h.current(), Some(2));
        assert!(h.accepts(1, 259, 60));
        assert!(!h.accepts(1, 260, 60));
        assert_eq!(h.in_grace(259, 60), vec![1]);
        assert!(h.observe(3, 230));
        assert_eq!(h.in_grace(250, 60), vec![2, 1]);
        // Rolling back to 1 makes it current and no longer superseded.
        assert!(h.observe(1, 240));
        assert_eq!(h.in_grace(250, 60), vec![3, 2]);
        for v in 10..30 {
            h.observe(v, 300);
        }
        assert_eq!(h.in_grace(300, 60).len(), MAX_SUPERSEDED);
    }

    #[test]
    fn cookies_parse() {
        assert_eq!(cookie_value("a=1; tinycdn-site=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("tinycdn-site=\"abc\""), Some("abc"));
        assert_eq!(cookie_value("tinycdn-site=x; tinycdn-site=y"), Some("x"));
        assert_eq!(cookie_value("tinycdn-sites=abc"), None);
        assert_eq!(cookie_value(""), None);
        assert_eq!(
            set_cookie("ab", true),
            "tinycdn-site=ab; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn navigations() {
        assert!(is_navigation(Some("document"), false, false));
        assert!(!is_navigation(Some("script"), false, true));
        assert!(!is_navigation(Some("empty"), false, true));
        assert!(is_navigation(None, false, true));
        assert!(!is_navigation(None, false, false));
        assert!(is_navigation(Some("serviceworker"), true, false));
    }
}
