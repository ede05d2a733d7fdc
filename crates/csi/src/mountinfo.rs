//! `/proc/self/mountinfo`, parsed without I/O: which paths are mount points, of what, with
//! which options. The plugin rebuilds its view of what it published from this at start and
//! checks a mount before it answers a republish.
//!
//! The format (proc(5), "/proc/pid/mountinfo"): one mount per line,
//! `ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER-OPTIONS`,
//! where paths escape space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.

use std::path::PathBuf;

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount's id.
    pub id: u64,
    /// The folder of the source filesystem this mount shows.
    pub root: PathBuf,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Per-mount options (`ro`, `nosuid`, `nodev`, `noexec`, …).
    pub options: Vec<String>,
    /// The filesystem type.
    pub fstype: String,
}

impl Mount {
    /// Whether the per-mount options include `option`.
    #[must_use]
    pub fn has(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }
}

/// A line that is not `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {why}")]
pub struct MountinfoError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Parses the whole text.
///
/// # Errors
/// The first line that is not a mount.
pub fn parse(text: &str) -> Result<Vec<Mount>, MountinfoError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| parse_line(l).map_err(|why| MountinfoError { line: i + 1, why }))
        .collect()
}

fn parse_line(line: &str) -> Result<Mount, &'static str> {
    let mut fields = line.split(' ');
    let id = fields
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or("no mount id")?;
    let _parent = fields.next().ok_or("no parent id")?;
    let _device = fields.next().ok_or("no device")?;
    let root = unescape(fields.next().ok_or("no root")?)?;
    let mount_point = unescape(fields.next().ok_or("no mount point")?)?;
    let options = fields
        .next()
        .ok_or("no options")?
        .split(',')
        .map(str::to_owned)
        .collect();
    // Optional fields (`shared:1`, `master:2`, …) up to the separator.
    loop {
        match fields.next() {
            Some("-") => break,
            Some(_) => {}
            None => return Err("no '-' separator"),
        }
    }
    let fstype = fields.next().ok_or("no filesystem type")?.to_owned();
    Ok(Mount {
        id,
        root: PathBuf::from(root),
        mount_point: PathBuf::from(mount_point),
        options,
        fstype,
    })
}

/// Undoes the kernel's octal escapes (`\040` → space).
fn unescape(field: &str) -> Result<String, &'static str> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = bytes.get(i + 1..i + 4).ok_or("a cut-off escape")?;
            if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                return Err("an escape that is not three octal digits");
            }
            let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(value).map_err(|_| "an escape above \\377")?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a path that is not UTF-8")
}

/// Escapes a path as the kernel does (for tests and round trips).
#[must_use]
pub fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The mount at `path`, when one is there (the last one mounted over it wins, as the kernel
/// shows it).
#[must_use]
pub fn at<'a>(mounts: &'a [Mount], path: &std::path::Path) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 8:1 /var/lib/tinycdn/csi/volumes/site-media@stable /var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/media/mount ro,nosuid,nodev,relatime shared:1 - ext4 /dev/sda1 rw
37 22 0:5 / /mnt/with\\040space rw master:3 propagate_from:2 - tmpfs tmpfs rw
";

    #[test]
    fn a_real_table_parses() {
        let m = parse(SAMPLE).expect("parses");
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].id, 36);
        assert_eq!(
            m[1].root,
            PathBuf::from("/var/lib/tinycdn/csi/volumes/site-media@stable")
        );
        assert!(m[1].has("ro") && m[1].has("nosuid") && m[1].has("nodev"));
        assert!(!m[1].has("rw"));
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(m[2].fstype, "tmpfs");
        assert_eq!(
            at(&m, std::path::Path::new("/mnt/with space")).map(|m| m.id),
            Some(37)
        );
        assert!(at(&m, std::path::Path::new("/mnt")).is_none());
    }

    #[test]
    fn broken_lines_are_named() {
        for (text, why) in [
            ("x 1 8:1 / / rw - ext4 a rw", "no mount id"),
            ("1 1 8:1 / / rw shared:1", "no '-' separator"),
            ("1 1 8:1 /a\\04 / rw - ext4 a rw", "escape"),
            ("1 1 8:1 /a\\999 / rw - ext4 a rw", "octal"),
            ("1 1 8:1 / / rw -", "no filesystem type"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.why.contains(why), "{text}: {e}");
            assert_eq!(e.line, 1);
        }
    }

    #[test]
    fn this_process_table_parses() {
        // The kernel's own output, whatever mounts this machine has.
        let text = std::fs::read_to_string("/proc/self/mountinfo").expect("linux");
        let m = parse(&text).expect("parses");
        assert!(m.iter().any(|m| m.mount_point == std::path::Path::new("/")));
    }

    proptest::proptest! {
        #[test]
        fn escaped_paths_round_trip(path in "/\\PC{0,60}") {
            let line = format!("1 0 0:1 / {} rw - tmpfs none rw", escape(&path));
            let m = parse(&line).expect("parses");
            proptest::prop_assert_eq!(m[0].mount_point.to_str(), Some(path.as_str()));
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }
    }
}
