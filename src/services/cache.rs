//! The response cache: COMPLETE Mashup responses stored content-addressed
//! under their canonical request key (service, params, page, URL — never the
//! token), with a time-to-live. `--offline` answers from the cache alone;
//! `--refresh` bypasses it (and refills it).
//!
//! Each entry is `mastflow-cache 2 <sha256 of body> <body bytes>\n<key>\n<body>`:
//! an entry whose header, key, length or checksum does not match (torn,
//! edited by hand, left by an older mastflow) is never used as data; it is
//! refetched, or under `--offline` reported as damaged. An entry dated in the
//! future has no known age and counts as expired.

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

    /// A cached response, if present, whole and fresh (any age when offline).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        if self.mode == Mode::Refresh {
            return None;
        }
        let p = self.path(key);
        let meta = std::fs::metadata(&p).ok()?;
        if self.mode == Mode::Normal && age(&meta) > self.ttl {
            return None;
        }
        verified(&std::fs::read(&p).ok()?, key)
    }

    /// Under `--offline`, when the entry for `key` exists but is damaged:
    /// what to say (the entry, and the command that clears it).
    pub fn damaged(&self, key: &str) -> Option<String> {
        let p = self.path(key);
        let b = std::fs::read(&p).ok()?;
        verified(&b, key).is_none().then(|| {
            format!(
                "the cached response {} is damaged (it does not match its recorded key and checksum) and is not used; remove damaged entries with `mastflow cache prune --cache-dir {}`, or run without --offline to refetch it",
                p.display(),
                self.dir.display()
            )
        })
    }

    /// Store a COMPLETE response (atomically; errors are ignored: a cache
    /// that cannot be written only costs a refetch), with `what` it answers
    /// (service and parameters, one line, for `mastflow cache ls`) beside it
    /// in `<key>.what`. The description is never data: a missing or stale one
    /// only changes what `ls` shows.
    pub fn put(&self, key: &str, what: &str, body: &[u8]) {
        if self.mode == Mode::Offline {
            return;
        }
        let path = self.path(key);
        let _ = crate::util::write_atomic(&path, |w| {
            w.write_all(header(key, body).as_bytes())?;
            w.write_all(body)
        });
        let line = crate::textsafe::sanitise_to(what, WHAT_CAP);
        let _ = crate::util::write_atomic(&path.with_extension("what"), |w| {
            w.write_all(line.as_bytes())
        });
    }
}

const MAGIC: &str = "mastflow-cache 2";
/// Characters of an entry's description (long obsid lists are cut).
const WHAT_CAP: usize = 300;

fn header(key: &str, body: &[u8]) -> String {
    format!(
        "{MAGIC} {} {}\n{key}\n",
        crate::util::sha256_hex(body),
        body.len()
    )
}

/// The body of an entry, if it is whole and recorded under `key`.
fn verified(entry: &[u8], key: &str) -> Option<Vec<u8>> {
    let nl = entry.iter().position(|&b| b == b'\n')?;
    let first = std::str::from_utf8(&entry[..nl]).ok()?;
    let mut parts = first.strip_prefix(MAGIC)?.split_whitespace();
    let (sum, len) = (parts.next()?, parts.next()?.parse::<usize>().ok()?);
    let rest = &entry[nl + 1..];
    let body = rest.strip_prefix(key.as_bytes())?.strip_prefix(b"\n")?;
    (body.len() == len && crate::util::sha256_hex(body) == sum).then(|| body.to_vec())
}

/// An entry's age; one dated in the future has none we can trust (expired).
fn age(meta: &std::fs::Metadata) -> Duration {
    meta.modified().ok().map_or(Duration::MAX, |m| {
        SystemTime::now().duration_since(m).unwrap_or(Duration::MAX)
    })
}

/// Whether the entry file for `key` is whole.
fn whole(path: &Path, key: &str) -> bool {
    std::fs::read(path).is_ok_and(|b| verified(&b, key).is_some())
}

/// One cache entry, as `mastflow cache ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub key: String,
    pub bytes: u64,
    pub age: Duration,
    /// Service and parameters (`Mast.Caom.Filtered {...} page 1`), when
    /// recorded.
    pub what: Option<String>,
}

/// Entries of a cache directory, with their descriptions.
pub fn list_described(dir: &Path) -> Vec<Listed> {
    list(dir)
        .into_iter()
        .map(|(key, bytes, age)| {
            let what = std::fs::read_to_string(entry_path(dir, &key).with_extension("what"))
                .ok()
                .map(|w| crate::textsafe::sanitise_to(w.trim(), WHAT_CAP));
            Listed {
                key,
                bytes,
                age,
                what,
            }
        })
        .collect()
}

fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(&key[..2.min(key.len())])
        .join(format!("{key}.json"))
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
            out.push((key.to_string(), meta.len(), age(&meta)));
        }
    }
    out.sort();
    out
}

/// Remove entries older than `older_than`, dated in the future, or damaged;
/// returns how many were removed.
pub fn prune(dir: &Path, older_than: Duration) -> usize {
    let mut n = 0;
    for (key, _, age) in list(dir) {
        let p = entry_path(dir, &key);
        if (age > older_than || !whole(&p, &key)) && std::fs::remove_file(&p).is_ok() {
            let _ = std::fs::remove_file(p.with_extension("what"));
            n += 1;
        }
    }
    n
}
