//! The response cache: COMPLETE Mashup responses stored content-addressed
//! under their canonical request key (service, params, page, URL — never the
//! token), with a time-to-live. `--offline` answers from the cache alone;
//! `--refresh` bypasses it (and refills it).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How the cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read fresh entries, write new responses.
    Normal,
    /// Only read; a missing entry is an error.
    Offline,
    /// Do not read; write new responses.
    Refresh,
}

/// A directory of `<key>.json` files.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dir: PathBuf,
    pub ttl: Duration,
    pub mode: Mode,
}

impl Cache {
    /// `$XDG_CACHE_HOME/mastflow/responses` or `~/.cache/mastflow/responses`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("mastflow")
            .join("responses")
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(&key[..2.min(key.len())])
            .join(format!("{key}.json"))
    }

    /// A cached response, if present and fresh (any age when offline).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        if self.mode == Mode::Refresh {
            return None;
        }
        let p = self.path(key);
        let meta = std::fs::metadata(&p).ok()?;
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if self.mode == Mode::Normal && age > self.ttl {
            return None;
        }
        std::fs::read(&p).ok()
    }

    /// Store a COMPLETE response (atomically; errors are ignored: a cache
    /// that cannot be written only costs a refetch).
    pub fn put(&self, key: &str, body: &[u8]) {
        if self.mode == Mode::Offline {
            return;
        }
        let _ = crate::util::write_atomic(&self.path(key), |w| w.write_all(body));
    }
}

/// Entries of a cache directory: (key, bytes, age).
pub fn list(dir: &Path) -> Vec<(String, u64, Duration)> {
    let mut out = Vec::new();
    let Ok(subdirs) = std::fs::read_dir(dir) else {
        return out;
    };
    for sd in subdirs.flatten() {
        let Ok(files) = std::fs::read_dir(sd.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            let Some(key) = p
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|_| p.extension().is_some_and(|e| e == "json"))
            else {
                continue;
            };
            let Ok(meta) = f.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            out.push((key.to_string(), meta.len(), age));
        }
    }
    out.sort();
    out
}

/// Remove entries older than `older_than`; returns how many were removed.
pub fn prune(dir: &Path, older_than: Duration) -> usize {
    let mut n = 0;
    for (key, _, age) in list(dir) {
        if age > older_than {
            let p = dir
                .join(&key[..2.min(key.len())])
                .join(format!("{key}.json"));
            if std::fs::remove_file(p).is_ok() {
                n += 1;
            }
        }
    }
    n
}
