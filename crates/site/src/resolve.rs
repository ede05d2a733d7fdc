//! Which file of a site answers a request path, as Cloudflare Pages answers it: `_redirects`
//! first (they apply whether or not a file exists); then the file itself, `index.html` for a
//! directory (`/docs/`), and clean URLs — `/about` serves `about.html`, while `/about.html`
//! and `/docs/index.html` redirect (308) to `/about` and `/docs/`, and `/docs` to `/docs/` —;
//! a miss serves the nearest `404.html` up the tree with a 404, or, for a single-page app,
//! `/index.html` with a 200 when the path has no file extension (a missing `app.js` stays a 404,
//! never HTML). `_headers` and `_redirects` themselves are never served.
//!
//! Paths here are what the caller decoded and checked (tinycdn-http's volume path rules): `/`
//! and then volume paths; [`Files`] answers whether the volume holds one.

use crate::caching::default_cache_control;
use crate::headers::HeaderRules;
use crate::redirects::{Action, Redirects};

/// Whether the site's volume holds a file (a volume path, no leading `/`).
pub trait Files {
    /// Whether `path` is a file of the volume.
    fn has(&self, path: &str) -> bool;
}

impl<F: Fn(&str) -> bool> Files for F {
    fn has(&self, path: &str) -> bool {
        self(path)
    }
}

/// What answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Serve this volume file with this status (200, or 404 for a not-found page).
    Serve {
        /// The volume path.
        file: String,
        /// 200 or 404.
        status: u16,
    },
    /// Redirect.
    Redirect {
        /// Where to (a path, or a URL when other hosts are allowed).
        location: String,
        /// 301, 302, 303, 307 or 308.
        status: u16,
    },
    /// Nothing answers: a plain 404.
    NotFound,
}

/// A site's rules: its `_redirects`, its `_headers`, and whether it is a single-page app.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// The `_redirects` rules.
    pub redirects: Redirects,
    /// The `_headers` rules.
    pub headers: HeaderRules,
    /// Serve `/index.html` for extension-less paths nothing else answers.
    pub spa: bool,
}

const HIDDEN: [&str; 2] = ["_headers", "_redirects"];

fn visible(files: &impl Files, rel: &str) -> bool {
    !HIDDEN.contains(&rel) && files.has(rel)
}

impl Site {
    /// What answers `path` (decoded, starting with `/`, no query).
    #[must_use]
    pub fn resolve(&self, path: &str, files: &impl Files) -> Outcome {
        // The caller checked the path; a slip there must not become `//host` redirects or `..`.
        if !path.starts_with('/')
            || path.contains("//")
            || path.split('/').any(|s| s == "." || s == "..")
            || path.bytes().any(|b| b.is_ascii_control() || b == b'\\')
        {
            return Outcome::NotFound;
        }
        if let Some(m) = self.redirects.lookup(path) {
            let to = m.to.split(['?', '#']).next().unwrap_or(&m.to).to_owned();
            match m.rule.action {
                Action::Redirect(status) => {
                    return Outcome::Redirect {
                        location: m.to.clone(),
                        status,
                    }
                }
                Action::Rewrite => {
                    if let Some(file) = self.file_for(&to, files) {
                        return Outcome::Serve { file, status: 200 };
                    }
                }
                Action::NotFound => {
                    if let Some(file) = self.file_for(&to, files) {
                        return Outcome::Serve { file, status: 404 };
                    }
                }
            }
            return self.not_found(path, files);
        }
        let rel = path.trim_start_matches('/');
        if path.ends_with('/') {
            let index = format!("{rel}index.html");
            if visible(files, &index) {
                return Outcome::Serve {
                    file: index,
                    status: 200,
                };
            }
            return self.not_found(path, files);
        }
        if visible(files, rel) {
            if let Some(location) = clean_url(path) {
                // Only when the clean URL comes back to this file.
                if self.file_for(&location, files).as_deref() == Some(rel) {
                    return Outcome::Redirect {
                        location,
                        status: 308,
                    };
                }
            }
            return Outcome::Serve {
                file: rel.to_owned(),
                status: 200,
            };
        }
        let html = format!("{rel}.html");
        if visible(files, &html) {
            return Outcome::Serve {
                file: html,
                status: 200,
            };
        }
        if visible(files, &format!("{rel}/index.html")) {
            return Outcome::Redirect {
                location: format!("{path}/"),
                status: 308,
            };
        }
        self.not_found(path, files)
    }

    /// The file a local path names (itself, its `.html`, or its `index.html`), for rewrites.
    fn file_for(&self, path: &str, files: &impl Files) -> Option<String> {
        let rel = path.trim_start_matches('/');
        let candidates = if path.ends_with('/') || rel.is_empty() {
            vec![format!("{rel}index.html")]
        } else {
            vec![
                rel.to_owned(),
                format!("{rel}.html"),
                format!("{rel}/index.html"),
            ]
        };
        candidates.into_iter().find(|c| visible(files, c))
    }

    fn not_found(&self, path: &str, files: &impl Files) -> Outcome {
        let rel = path.trim_start_matches('/');
        let mut dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        loop {
            let page = if dir.is_empty() {
                "404.html".to_owned()
            } else {
                format!("{dir}/404.html")
            };
            if visible(files, &page) {
                return Outcome::Serve {
                    file: page,
                    status: 404,
                };
            }
            if dir.is_empty() {
                break;
            }
            dir = dir.rsplit_once('/').map_or("", |(d, _)| d);
        }
        let last = rel.rsplit('/').next().unwrap_or(rel);
        if self.spa && !last.contains('.') && visible(files, "index.html") {
            return Outcome::Serve {
                file: "index.html".into(),
                status: 200,
            };
        }
        Outcome::NotFound
    }

    /// The response headers for `file` served at `path`: the default `Cache-Control` for the
    /// file, then `_headers` for the path (which may replace it). Names in lower case.
    #[must_use]
    pub fn headers(&self, path: &str, file: &str) -> Vec<(String, String)> {
        let mut out = vec![(
            "cache-control".to_owned(),
            default_cache_control(file).to_owned(),
        )];
        for (name, value) in self.headers.headers_for(path) {
            match out.iter_mut().find(|(n, _)| *n == name) {
                // A site's own Cache-Control replaces the default rather than joining it.
                Some((n, v)) if n == "cache-control" => *v = value,
                Some((_, v)) => {
                    v.push_str(", ");
                    v.push_str(&value);
                }
                None => out.push((name, value)),
            }
        }
        out
    }
}

/// The clean URL of an `.html` path: `/about.html` → `/about`, `/docs/index.html` → `/docs/`.
fn clean_url(path: &str) -> Option<String> {
    if let Some(dir) = path.strip_suffix("index.html") {
        if dir.ends_with('/') {
            return Some(dir.to_owned());
        }
    }
    path.strip_suffix(".html")
        .filter(|p| !p.ends_with('/'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caching::{IMMUTABLE, REVALIDATE};

    const FILES: [&str; 10] = [
        "index.html",
        "about.html",
        "docs/index.html",
        "docs/guide.html",
        "404.html",
        "blog/404.html",
        "assets/app.3f9a1c.js",
        "_headers",
        "_redirects",
        "sw.js",
    ];

    fn files(p: &str) -> bool {
        FILES.contains(&p)
    }

    fn site(redirects: &str, headers: &str, spa: bool) -> Site {
        Site {
            redirects: Redirects::parse(redirects, false).expect("redirects"),
            headers: HeaderRules::parse(headers).expect("headers"),
            spa,
        }
    }

    fn serve(file: &str, status: u16) -> Outcome {
        Outcome::Serve {
            file: file.into(),
            status,
        }
    }

    fn redirect(location: &str, status: u16) -> Outcome {
        Outcome::Redirect {
            location: location.into(),
            status,
        }
    }

    #[test]
    fn indexes_clean_urls_and_not_found_pages() {
        let s = site("", "", false);
        let r = |p| s.resolve(p, &files);
        assert_eq!(r("/"), serve("index.html", 200));
        assert_eq!(r("/about"), serve("about.html", 200));
        assert_eq!(r("/about.html"), redirect("/about", 308));
        assert_eq!(r("/index.html"), redirect("/", 308));
        assert_eq!(r("/docs"), redirect("/docs/", 308));
        assert_eq!(r("/docs/"), serve("docs/index.html", 200));
        assert_eq!(r("/docs/index.html"), redirect("/docs/", 308));
        assert_eq!(r("/docs/guide"), serve("docs/guide.html", 200));
        assert_eq!(
            r("/assets/app.3f9a1c.js"),
            serve("assets/app.3f9a1c.js", 200)
        );
        assert_eq!(
            r("/blog/2026/gone"),
            serve("blog/404.html", 404),
            "the nearest 404.html"
        );
        assert_eq!(r("/nope"), serve("404.html", 404));
        assert_eq!(r("/_headers"), serve("404.html", 404), "never served");
        assert_eq!(r("/_redirects"), serve("404.html", 404));
    }

    #[test]
    fn hostile_paths_answer_nothing() {
        let s = site("", "", true);
        for p in [
            "//docs",
            "/docs/../about",
            "/./about",
            "about",
            "/a\\b",
            "/a\u{0}",
        ] {
            assert_eq!(s.resolve(p, &files), Outcome::NotFound, "{p:?}");
        }
    }

    #[test]
    fn a_single_page_app_falls_back_to_its_shell_but_not_for_files() {
        let s = site("", "", true);
        let only = |p: &str| p == "index.html" || p == "assets/app.3f9a1c.js";
        assert_eq!(
            s.resolve("/settings/profile", &only),
            serve("index.html", 200)
        );
        assert_eq!(s.resolve("/assets/missing.js", &only), Outcome::NotFound);
        // A 404.html wins over the fallback.
        assert_eq!(s.resolve("/settings", &files), serve("404.html", 404));
    }

    #[test]
    fn redirects_come_first_and_rewrites_serve_files() {
        let s = site(
            "/about /team 301\n/old/* /docs/:splat 302\n/app/* /index.html 200\n/x/* /blog/404.html 404\n/missing /nowhere.html 200\n",
            "",
            false,
        );
        assert_eq!(
            s.resolve("/about", &files),
            redirect("/team", 301),
            "even though about.html exists"
        );
        assert_eq!(
            s.resolve("/old/guide", &files),
            redirect("/docs/guide", 302)
        );
        assert_eq!(s.resolve("/app/anything", &files), serve("index.html", 200));
        assert_eq!(s.resolve("/x/y", &files), serve("blog/404.html", 404));
        assert_eq!(
            s.resolve("/missing", &files),
            serve("404.html", 404),
            "a rewrite to nothing is a miss"
        );
    }

    #[test]
    fn default_caching_and_header_overrides() {
        let s = site(
            "",
            "/*\n  X-Frame-Options: DENY\n/sw.js\n  Cache-Control: no-cache\n  Service-Worker-Allowed: /\n",
            false,
        );
        assert_eq!(
            s.headers("/assets/app.3f9a1c.js", "assets/app.3f9a1c.js"),
            vec![
                ("cache-control".to_owned(), IMMUTABLE.to_owned()),
                ("x-frame-options".to_owned(), "DENY".to_owned())
            ]
        );
        assert_eq!(s.headers("/about", "about.html")[0].1, REVALIDATE);
        let sw = s.headers("/sw.js", "sw.js");
        assert_eq!(sw[0], ("cache-control".to_owned(), "no-cache".to_owned()));
        assert!(sw.contains(&("service-worker-allowed".to_owned(), "/".to_owned())));
    }

    proptest::proptest! {
        /// Whatever the path, the answer is a file the volume holds (never a hidden one), a
        /// redirect to a path of this site, or a plain 404.
        #[test]
        fn every_answer_is_a_visible_file_or_a_local_redirect(path in "/[a-z0-9_./-]{0,24}", spa in proptest::bool::ANY) {
            let s = site("/old/* /docs/:splat\n/app/* /index.html 200\n", "", spa);
            match s.resolve(&path, &files) {
                Outcome::Serve { file, status } => {
                    proptest::prop_assert!(files(&file) && !HIDDEN.contains(&file.as_str()));
                    proptest::prop_assert!(status == 200 || status == 404);
                }
                Outcome::Redirect { location, .. } => proptest::prop_assert!(location.starts_with('/') && !location.starts_with("//")),
                Outcome::NotFound => {}
            }
        }
    }
}
