//! What a manifest may read: the manifest's own directory (and `--allow-read`
//! directories), never /proc, /sys or /dev, and only regular files. Checked
//! from metadata alone, so a FIFO is refused without being opened.

use std::path::{Path, PathBuf};

/// Trees no manifest may read from, even when allowed.
const FORBIDDEN: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Check that `path` (already resolved against `base`) may be read.
/// `Ok` is the canonical path; `Err` says what is wrong and what to do.
pub fn check(base: &Path, allowed: &[PathBuf], path: &Path) -> Result<PathBuf, String> {
    let real = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if FORBIDDEN.iter().any(|f| real.starts_with(f)) {
        return Err(format!(
            "`{}` is under a system tree (/proc, /sys, /dev), which a manifest may never read",
            path.display()
        ));
    }
    let roots: Vec<PathBuf> = std::iter::once(base)
        .chain(allowed.iter().map(PathBuf::as_path))
        .filter_map(|d| d.canonicalize().ok())
        .collect();
    if !roots.iter().any(|r| real.starts_with(r)) {
        let dir = real.parent().unwrap_or(&real).display().to_string();
        return Err(format!(
            "`{}` is outside the manifest's directory; move it under {} or pass --allow-read {dir}",
            path.display(),
            base.display()
        ));
    }
    regular(&real, path)?;
    Ok(real)
}

/// Refuse anything but a regular file, from metadata (never opens it).
fn regular(real: &Path, shown: &Path) -> Result<(), String> {
    let md = std::fs::metadata(real).map_err(|e| format!("{}: {e}", shown.display()))?;
    if md.is_file() {
        return Ok(());
    }
    let kind = if md.is_dir() {
        "a directory"
    } else {
        "not a regular file (a FIFO, socket or device)"
    };
    Err(format!(
        "`{}` is {kind}; name a regular file",
        shown.display()
    ))
}
