//! Who is in the region: members named by URL with a weight, from `--peer` values, a peers file
//! or the A records of a DNS name, and this edge among them by its advertised URL.

use thiserror::Error;

/// The most members a region may have (a peers file or DNS answer beyond it is refused).
pub const MAX_MEMBERS: usize = 1024;
/// The largest weight.
pub const MAX_WEIGHT: u32 = 1000;

/// One edge of the region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    /// Its base URL (`http://10.0.0.7:8080`), as every member writes it: the name hashed.
    pub url: String,
    /// Its share of the chunks relative to the others (1 by default).
    pub weight: u32,
}

/// A member specification or list that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberError {
    /// Not an `http://HOST:PORT` URL.
    #[error("peer {spec:?}: {why} (expected http://HOST:PORT, optionally followed by ,weight=N)")]
    Bad {
        /// What was given.
        spec: String,
        /// What is wrong.
        why: &'static str,
    },
    /// Too many members.
    #[error("{count} peers; at most {MAX_MEMBERS} are allowed")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// `--peers-dns` that is not `NAME:PORT`.
    #[error("--peers-dns {spec:?}: expected NAME:PORT (a Kubernetes headless Service, say edges.media.svc.cluster.local:8080)")]
    BadDns {
        /// What was given.
        spec: String,
    },
}

/// Normalises a base URL: lower-case scheme and host, no trailing slash, no path.
fn normalise_url(spec: &str, url: &str) -> Result<String, MemberError> {
    let bad = |why| MemberError::Bad {
        spec: spec.to_owned(),
        why,
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("HTTP://"))
        .ok_or_else(|| bad("only http:// peers are supported"))?;
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() || host_port.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad("a peer is a base URL: no path, query, user or spaces"));
    }
    let (host, port) = host_port
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty() && (!h.contains(':') || h.starts_with('[')))
        .ok_or_else(|| bad("needs an explicit port"))?;
    let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok(format!("http://{}:{port}", host.to_ascii_lowercase()))
}

impl Member {
    /// Parses `http://HOST:PORT` or `http://HOST:PORT,weight=N`.
    ///
    /// # Errors
    /// [`MemberError::Bad`].
    pub fn parse(spec: &str) -> Result<Self, MemberError> {
        let spec_t = spec.trim();
        let (url, weight) = match spec_t.split_once(",weight=") {
            Some((url, w)) => {
                let w: u32 = w.parse().map_err(|_| MemberError::Bad {
                    spec: spec.to_owned(),
                    why: "the weight is not a number",
                })?;
                if w == 0 || w > MAX_WEIGHT {
                    return Err(MemberError::Bad {
                        spec: spec.to_owned(),
                        why: "the weight must be 1 to 1000",
                    });
                }
                (url, w)
            }
            None => (spec_t, 1),
        };
        Ok(Self {
            url: normalise_url(spec, url)?,
            weight,
        })
    }

    /// Normalises an advertised URL the way members are, so that an edge finds itself.
    ///
    /// # Errors
    /// [`MemberError::Bad`].
    pub fn normalise(url: &str) -> Result<String, MemberError> {
        normalise_url(url, url.trim())
    }
}

/// Parses `NAME:PORT` for `--peers-dns`.
///
/// # Errors
/// [`MemberError::BadDns`].
pub fn parse_dns_target(spec: &str) -> Result<(String, u16), MemberError> {
    let bad = || MemberError::BadDns {
        spec: spec.to_owned(),
    };
    let (name, port) = spec.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let ok_name = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok_name || port == 0 {
        return Err(bad());
    }
    Ok((name.to_ascii_lowercase(), port))
}

/// The region as this edge sees it: every member (itself included) in a canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Members {
    members: Vec<Member>,
}

impl Members {
    /// A set from members in any order; duplicates (same URL) keep the larger weight.
    ///
    /// # Errors
    /// [`MemberError::TooMany`].
    pub fn new(mut members: Vec<Member>) -> Result<Self, MemberError> {
        members.sort_by(|a, b| a.url.cmp(&b.url).then(b.weight.cmp(&a.weight)));
        members.dedup_by(|a, b| a.url == b.url);
        if members.len() > MAX_MEMBERS {
            return Err(MemberError::TooMany {
                count: members.len(),
            });
        }
        Ok(Self { members })
    }

    /// Parses a peers file: one member per line, `#` comments and blank lines ignored.
    ///
    /// # Errors
    /// The first line that does not parse, with its number.
    pub fn parse_file(text: &str) -> Result<Self, (usize, MemberError)> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            out.push(Member::parse(line).map_err(|e| (i + 1, e))?);
        }
        Self::new(out).map_err(|e| (0, e))
    }

    /// The members for the addresses a DNS name resolved to, all on `port`, weight 1.
    ///
    /// # Errors
    /// [`MemberError::TooMany`].
    pub fn from_addresses(addrs: &[std::net::IpAddr], port: u16) -> Result<Self, MemberError> {
        Self::new(
            addrs
                .iter()
                .map(|ip| Member {
                    url: match ip {
                        std::net::IpAddr::V4(v4) => format!("http://{v4}:{port}"),
                        std::net::IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
                    },
                    weight: 1,
                })
                .collect(),
        )
    }

    /// Every member, sorted by URL.
    #[must_use]
    pub fn as_slice(&self) -> &[Member] {
        &self.members
    }

    /// Whether `url` (normalised) is a member.
    #[must_use]
    pub fn contains(&self, url: &str) -> bool {
        self.members.iter().any(|m| m.url == url)
    }

    /// How many members joined and left from `self` to `next`.
    #[must_use]
    pub fn changes_to(&self, next: &Self) -> usize {
        let joined = next.members.iter().filter(|m| !self.contains(&m.url));
        let left = self.members.iter().filter(|m| !next.contains(&m.url));
        joined.count() + left.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn member_specs() {
        assert_eq!(
            Member::parse("http://EDGE-1:8080/").expect("ok"),
            Member {
                url: "http://edge-1:8080".into(),
                weight: 1
            }
        );
        assert_eq!(
            Member::parse("http://10.0.0.2:80,weight=3")
                .expect("ok")
                .weight,
            3
        );
        assert_eq!(
            Member::parse("http://[::1]:9000").expect("v6").url,
            "http://[::1]:9000"
        );
        for bad in [
            "https://a:1",
            "http://a",
            "http://a:0",
            "http://a:1/path",
            "http://u@a:1",
            "http://a:1,weight=0",
            "http://a:1,weight=x",
            "a:1",
            "http://::1:80",
        ] {
            assert!(Member::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_targets() {
        assert_eq!(
            parse_dns_target("Edges.media.svc.cluster.local:8080").expect("ok"),
            ("edges.media.svc.cluster.local".into(), 8080)
        );
        for bad in [
            "edges", "edges:", "edges:0", ":80", "a..b:80", "a_b:80", "a b:80",
        ] {
            assert!(parse_dns_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn files_and_changes() {
        let a = Members::parse_file(
            "# region eu\nhttp://a:1\n\nhttp://b:1 # big\nhttp://a:1,weight=2\n",
        )
        .expect("file");
        assert_eq!(a.as_slice().len(), 2);
        assert_eq!(
            a.as_slice()[0].weight,
            2,
            "the larger weight of a duplicate"
        );
        assert_eq!(
            Members::parse_file("http://a:1\nnope\n").map(|_| ()),
            Err((
                2,
                MemberError::Bad {
                    spec: "nope".into(),
                    why: "only http:// peers are supported"
                }
            ))
        );
        let b = Members::from_addresses(
            &[
                "127.0.0.3".parse().expect("ip"),
                "127.0.0.2".parse().expect("ip"),
            ],
            7000,
        )
        .expect("dns");
        assert_eq!(b.as_slice()[0].url, "http://127.0.0.2:7000");
        let c = Members::from_addresses(
            &[
                "127.0.0.2".parse().expect("ip"),
                "127.0.0.4".parse().expect("ip"),
            ],
            7000,
        )
        .expect("dns");
        assert_eq!(b.changes_to(&c), 2);
        assert_eq!(b.changes_to(&b), 0);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,60}") {
            let _ = Member::parse(&s);
            let _ = parse_dns_target(&s);
            let _ = Members::parse_file(&s);
        }

        #[test]
        fn parsed_urls_reparse_to_themselves(host in "[a-z0-9.-]{1,20}", port in 1u16.., w in 1u32..=1000) {
            let spec = format!("http://{host}:{port},weight={w}");
            let m = Member::parse(&spec).expect("valid");
            let again = Member::parse(&format!("{},weight={}", m.url, m.weight)).expect("valid");
            prop_assert_eq!(m, again);
        }
    }
}
