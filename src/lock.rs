//! `mastflow.lock`: what a run produced, per manifest name, so a later run
//! can tell whether MAST's answers changed. The file is read and checked
//! (JSON, `version`) BEFORE a run starts, and rewritten only after a
//! successful `--update-lock` run, read-modify-write under an advisory lock on
//! `.mastflow.lock.lck` beside it, so concurrent updates keep every entry.

use crate::exec::Outcome;
use crate::output::{Written, encode};
use crate::table::io::Format;
use crate::util::{sha256_hex, write_atomic};
use crate::validate::Manifest;
use serde::Serialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The lock format this mastflow reads and writes.
pub const VERSION: u32 = 1;

/// Errors reading or writing `mastflow.lock`.
#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "{path} is not a valid lock file ({message}); restore it from version control, or run with --update-lock to write a new one (the damaged file is kept as {path}.corrupt)"
    )]
    Corrupt { path: String, message: String },
    #[error(
        "{path} has version {found}, this mastflow reads version {VERSION}; it was written by another mastflow version: use that one, or move the file aside and run with --update-lock"
    )]
    Version { path: String, found: u32 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A lock file as read, and whether it was damaged (then `--update-lock`
/// replaces it, keeping the damaged bytes as `<lock>.corrupt`).
#[derive(Debug)]
pub struct Loaded {
    pub file: LockFile,
    pub corrupt: Option<LockError>,
}

/// `mastflow.lock`: what a run produced, per manifest name, so a later run
/// can tell whether MAST's answers changed.
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct LockFile {
    pub version: u32,
    pub manifests: std::collections::BTreeMap<String, Lock>,
}

/// One manifest's lock.
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq, Clone)]
pub struct Lock {
    pub manifest_sha256: String,
    /// Per step: rows and the SHA-256 of the table (as CSV).
    pub steps: std::collections::BTreeMap<String, LockedStep>,
    /// Per output path: the SHA-256 of the file.
    pub outputs: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq, Clone)]
pub struct LockedStep {
    pub rows: usize,
    pub digest: String,
    /// SHA-256 of the step's canonical Mashup request keys: tells "we asked
    /// differently" (a param changed) from "MAST answered differently".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<String>,
}

/// The lock of a finished run.
pub fn lock_of(m: &Manifest, outcome: &Outcome, written: &[Written]) -> Lock {
    let mut steps = std::collections::BTreeMap::new();
    for (i, t) in outcome.tables.iter().enumerate() {
        let Some(t) = t else { continue };
        let digest = encode(t, Format::Csv, &m.steps[i].name)
            .map(|b| sha256_hex(&b))
            .unwrap_or_default();
        steps.insert(
            m.steps[i].name.clone(),
            LockedStep {
                rows: t.num_rows(),
                digest,
                requests: outcome.reports[i].requests_sha256.clone(),
            },
        );
    }
    let outputs = written
        .iter()
        .map(|w| (w.path.clone(), w.sha256.clone()))
        .collect();
    Lock {
        manifest_sha256: m.sha256.clone(),
        steps,
        outputs,
    }
}

/// What differs between a lock and a run: one line each.
pub fn lock_differences(old: &Lock, new: &Lock) -> Vec<String> {
    let mut out = Vec::new();
    if old.manifest_sha256 != new.manifest_sha256 {
        out.push("the manifest changed since the lock was written".to_string());
    }
    for (name, s) in &new.steps {
        if let (Some(o), Some(n)) = (
            old.steps.get(name).and_then(|o| o.requests.as_ref()),
            s.requests.as_ref(),
        ) {
            if o != n {
                out.push(format!(
                    "step `{name}`: sends different requests to MAST than when the lock was written (a param or an input changed)"
                ));
            }
        }
        match old.steps.get(name) {
            None => out.push(format!("step `{name}` is not in the lock")),
            Some(o) if o.rows != s.rows => out.push(format!(
                "step `{name}`: {} rows, the lock has {}",
                s.rows, o.rows
            )),
            Some(o) if o.digest != s.digest => out.push(format!(
                "step `{name}`: same {} rows, different content",
                s.rows
            )),
            _ => {}
        }
    }
    for name in old.steps.keys().filter(|n| !new.steps.contains_key(*n)) {
        out.push(format!("step `{name}` is in the lock but produced nothing"));
    }
    for (path, sha) in &new.outputs {
        if old.outputs.get(path).is_some_and(|o| o != sha) {
            out.push(format!("output `{path}` differs from the lock"));
        }
    }
    out
}

/// Read and check a lock file (a missing file is an empty lock).
pub fn read_lock(path: &Path) -> Result<Loaded, LockError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                file: LockFile::empty(),
                corrupt: None,
            });
        }
        Err(e) => return Err(io_err(path, e)),
    };
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let corrupt = |message: String| LockError::Corrupt {
        path: path.display().to_string(),
        message,
    };
    match serde_json::from_slice::<Versioned>(&bytes) {
        Ok(v) if v.version != VERSION => {
            return Err(LockError::Version {
                path: path.display().to_string(),
                found: v.version,
            });
        }
        Ok(_) => {}
        Err(e) => {
            return Ok(Loaded {
                file: LockFile::empty(),
                corrupt: Some(corrupt(e.to_string())),
            });
        }
    }
    Ok(match serde_json::from_slice::<LockFile>(&bytes) {
        Ok(file) => Loaded {
            file,
            corrupt: None,
        },
        Err(e) => Loaded {
            file: LockFile::empty(),
            corrupt: Some(corrupt(e.to_string())),
        },
    })
}

fn io_err(path: &Path, source: std::io::Error) -> LockError {
    LockError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Put one manifest's entry into the lock file: under the advisory lock, the
/// file is re-read (another update may have finished meanwhile), a damaged
/// file is kept as `<lock>.corrupt`, and the result written atomically.
pub fn update(path: &Path, name: &str, entry: Lock) -> Result<(), LockError> {
    let guard_path = guard_path(path);
    let guard = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&guard_path)
        .map_err(|e| io_err(&guard_path, e))?;
    match fs4::FileExt::try_lock(&guard) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            eprintln!("waiting for another run updating {}", path.display());
            fs4::FileExt::lock(&guard).map_err(|e| io_err(&guard_path, e))?;
        }
        Err(fs4::TryLockError::Error(e)) => return Err(io_err(&guard_path, e)),
    }
    let mut loaded = read_lock(path)?;
    if loaded.corrupt.is_some() {
        let aside = PathBuf::from(format!("{}.corrupt", path.display()));
        std::fs::rename(path, &aside).map_err(|e| io_err(&aside, e))?;
    }
    loaded.file.version = VERSION;
    loaded.file.manifests.insert(name.to_string(), entry);
    write_lock(path, &loaded.file)
}

/// `.mastflow.lock.lck` beside the lock (never renamed, so it can be locked).
fn guard_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(
        || "mastflow.lock".into(),
        |n| n.to_string_lossy().to_string(),
    );
    path.with_file_name(format!(".{name}.lck"))
}

/// Write a lock file atomically.
fn write_lock(path: &Path, lock: &LockFile) -> Result<(), LockError> {
    let mut text = serde_json::to_vec_pretty(lock).expect("lock serialises");
    text.push(b'\n');
    write_atomic(path, |w| w.write_all(&text)).map_err(|e| io_err(path, e))
}

impl LockFile {
    /// No manifests yet.
    pub fn empty() -> LockFile {
        LockFile {
            version: VERSION,
            ..LockFile::default()
        }
    }
}
