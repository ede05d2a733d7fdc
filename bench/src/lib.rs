//! Shared helpers of the measurement tools: walking a tree of files.

use std::path::{Path, PathBuf};

/// Every regular file under `root` (symlinks not followed), with its size, largest first.
///
/// # Errors
/// I/O errors while listing.
pub fn files(root: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push((e.path(), e.metadata()?.len()));
            }
        }
    }
    out.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
    Ok(out)
}
