//! `mastflow fetch`: execute a download plan.
//!
//! Files download concurrently (bounded per host by the HTTP layer), into
//! `<path>.part`, resumed with HTTP Range from whatever a previous run left,
//! verified by size (and by MD5 or SHA-256 when the plan carries such a
//! checksum), then renamed to their final path. A complete file is skipped,
//! so a killed run is simply run again. `--shard I/N` takes every N-th file
//! of the (path-sorted) plan, so N machines can share one plan.

use super::http::{Http, HttpError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;
use tokio::task::JoinSet;

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("cannot read plan {path}: {message}")]
    Plan { path: String, message: String },
    #[error(
        "plan {path} is version {found}; this mastflow reads version {}",
        crate::services::download::PLAN_VERSION
    )]
    Version { path: String, found: u64 },
    #[error("--shard {0}: write I/N with 1 <= I <= N")]
    Shard(String),
    #[error(
        "another `mastflow fetch` of this plan is running (it holds {0}); wait for it to finish, or stop it, then run again"
    )]
    Locked(String),
}

/// A file of the plan, as `fetch` needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanEntry {
    #[serde(rename = "dataURI", default)]
    pub data_uri: Option<String>,
    pub path: String,
    pub url: String,
    pub size: Option<u64>,
    pub checksum: Option<String>,
    pub access: String,
}

#[derive(Debug, Deserialize)]
struct PlanFile {
    version: u64,
    files: Vec<PlanEntry>,
}

/// Read `plan.json`, refusing unsafe paths.
pub fn read_plan(path: &Path) -> Result<Vec<PlanEntry>, FetchError> {
    let shown = path.display().to_string();
    let bad = |m: String| FetchError::Plan {
        path: shown.clone(),
        message: m,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let plan: PlanFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if plan.version != u64::from(crate::services::download::PLAN_VERSION) {
        return Err(FetchError::Version {
            path: shown,
            found: plan.version,
        });
    }
    let mut seen = std::collections::HashMap::new();
    for f in &plan.files {
        crate::util::check_relative_path(&f.path)
            .map_err(|why| bad(format!("file path `{}` {why}", f.path)))?;
        if let Some(other) = seen.insert(f.path.to_lowercase(), f) {
            return Err(bad(shared_path(other, f)));
        }
    }
    Ok(plan.files)
}

/// Two entries at one path (or paths differing only in case): one would
/// overwrite the other and a rerun would call both complete. Plans written
/// by `download_plan` never have this; a hand-made or older one may.
fn shared_path(a: &PlanEntry, b: &PlanEntry) -> String {
    let uri = |e: &PlanEntry| e.data_uri.clone().unwrap_or_else(|| e.url.clone());
    format!(
        "files `{}` and `{}` share the local path `{}` (letter case aside), so one would overwrite the other; rebuild the plan with `mastflow run` (download_plan refuses such products) or edit one path",
        uri(a),
        uri(b),
        b.path
    )
}

/// `I/N` → (I, N).
pub fn parse_shard(s: &str) -> Result<(usize, usize), FetchError> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| FetchError::Shard(s.into()))?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| FetchError::Shard(s.into()))?,
        n.trim().parse().map_err(|_| FetchError::Shard(s.into()))?,
    );
    if i == 0 || n == 0 || i > n {
        return Err(FetchError::Shard(s.into()));
    }
    Ok((i, n))
}

/// Options of a fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Files in progress at once (each holds an open file and a connection).
    pub jobs: usize,
    pub shard: Option<(usize, usize)>,
    pub only_public: bool,
    /// Verify checksums where the plan has them (sizes are always checked).
    pub verify: bool,
    pub retries: u32,
    /// The byte ceiling of a file whose size the plan does not give.
    pub max_file_bytes: u64,
}

/// `--max-file-bytes` default: 50 GiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 50 << 30;

/// The advisory locks a fetch holds on its plan (released on drop).
pub struct PlanLock {
    _files: Vec<std::fs::File>,
}

/// Lock the plan against other fetches of the same files. A whole-plan
/// fetch holds `<plan>.lock` exclusively. A shard (`--shard I/N`) holds it
/// shared, so the shards of a job array run at once, plus
/// `<plan>.shard-I-of-N.lock` exclusively, so one shard never runs twice.
/// Refuses when another fetch holds what is needed.
pub fn lock_plan(plan: &Path, shard: Option<(usize, usize)>) -> Result<PlanLock, FetchError> {
    let whole = PathBuf::from(format!("{}.lock", plan.display()));
    let mut files = vec![take_lock(&whole, shard.is_some())?];
    if let Some((i, n)) = shard {
        let own = PathBuf::from(format!("{}.shard-{i}-of-{n}.lock", plan.display()));
        files.push(take_lock(&own, false)?);
    }
    Ok(PlanLock { _files: files })
}

fn take_lock(path: &Path, shared: bool) -> Result<std::fs::File, FetchError> {
    let shown = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| FetchError::Plan {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    let taken = if shared {
        fs4::FileExt::try_lock_shared(&file)
    } else {
        fs4::FileExt::try_lock(&file)
    };
    match taken {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(FetchError::Locked(shown)),
        Err(fs4::TryLockError::Error(e)) => Err(FetchError::Plan {
            path: shown,
            message: e.to_string(),
        }),
    }
}

/// The report's file name: `<stem>.fetch-report.json`, or per shard
/// `<stem>.shard-I-of-N.fetch-report.json` (shards never overwrite each
/// other's report).
pub fn report_name(stem: &str, shard: Option<(usize, usize)>) -> String {
    match shard {
        Some((i, n)) => format!("{stem}.shard-{i}-of-{n}.fetch-report.json"),
        None => format!("{stem}.fetch-report.json"),
    }
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// `downloaded`, `resumed`, `complete` (already there), `skipped` (not
    /// this shard's, or exclusive with --only-public), `failed`.
    pub status: &'static str,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole fetch.
#[derive(Debug, Serialize)]
pub struct FetchReport {
    pub files: Vec<FileReport>,
    pub downloaded: usize,
    pub resumed: usize,
    pub complete: usize,
    pub skipped: usize,
    pub failed: usize,
    pub bytes: u64,
}

/// Progress callbacks (bytes as they arrive; a file finished).
pub trait FetchProgress: Send + Sync {
    fn bytes(&self, _n: u64) {}
    fn file_done(&self, _r: &FileReport) {}
}

pub struct NoProgress;
impl FetchProgress for NoProgress {}

/// Fetch `entries` under `root`.
pub async fn fetch(
    http: Arc<Http>,
    entries: Vec<PlanEntry>,
    root: PathBuf,
    opts: FetchOptions,
    progress: Arc<dyn FetchProgress>,
) -> FetchReport {
    let mut set: JoinSet<(usize, FileReport)> = JoinSet::new();
    let mut reports: Vec<Option<FileReport>> = vec![None; entries.len()];
    // At most `jobs` files are touched at once: a 100,000-file plan must not
    // hold 100,000 open files while it waits for connections.
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
    for (i, e) in entries.into_iter().enumerate() {
        let mine = opts.shard.is_none_or(|(k, n)| i % n == k - 1);
        if !mine || (opts.only_public && e.access != "PUBLIC") {
            reports[i] = Some(FileReport {
                path: e.path,
                status: "skipped",
                bytes: 0,
                error: None,
            });
            continue;
        }
        let (http, root, opts, progress) =
            (http.clone(), root.clone(), opts.clone(), progress.clone());
        let slots = slots.clone();
        set.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("slots open");
            let r = fetch_one(&http, &e, &root, &opts, &*progress).await;
            progress.file_done(&r);
            (i, r)
        });
    }
    while let Some(j) = set.join_next().await {
        if let Ok((i, r)) = j {
            reports[i] = Some(r);
        }
    }
    let files: Vec<FileReport> = reports.into_iter().flatten().collect();
    let count = |s: &str| files.iter().filter(|f| f.status == s).count();
    FetchReport {
        downloaded: count("downloaded"),
        resumed: count("resumed"),
        complete: count("complete"),
        skipped: count("skipped"),
        failed: count("failed"),
        bytes: files.iter().map(|f| f.bytes).sum(),
        files,
    }
}

async fn fetch_one(
    http: &Http,
    e: &PlanEntry,
    root: &Path,
    opts: &FetchOptions,
    progress: &dyn FetchProgress,
) -> FileReport {
    let fail = |m: String| FileReport {
        path: e.path.clone(),
        status: "failed",
        bytes: 0,
        // It may quote the server (an HTTP error body): shown and stored safe.
        error: Some(crate::textsafe::sanitise(&m)),
    };
    let target = root.join(&e.path);
    let part = PathBuf::from(format!("{}.part", target.display()));
    if let Ok(meta) = std::fs::metadata(&target) {
        if e.size.is_none_or(|s| s == meta.len()) {
            return FileReport {
                path: e.path.clone(),
                status: "complete",
                bytes: 0,
                error: None,
            };
        }
    }
    if let Some(dir) = target.parent() {
        if let Err(err) = std::fs::create_dir_all(dir) {
            return fail(format!("cannot create {}: {err}", dir.display()));
        }
    }
    let exclusive = e.access != "PUBLIC";
    let cap = e.size.unwrap_or(opts.max_file_bytes);
    // A .part longer than the plan's size can never become the file: restart.
    if std::fs::metadata(&part).is_ok_and(|m| m.len() > cap) {
        let _ = std::fs::remove_file(&part);
    }
    let over = std::sync::atomic::AtomicBool::new(false);
    let start_offset = std::fs::metadata(&part).map_or(0, |m| m.len());
    let got = AtomicU64::new(0);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let offset = std::fs::metadata(&part).map_or(0, |m| m.len());
        if e.size.is_some_and(|s| offset == s) && offset > 0 {
            break;
        }
        let mut file = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
        {
            Ok(f) => f,
            Err(err) => return fail(format!("cannot write {}: {err}", part.display())),
        };
        let result = http
            .download(&e.url, offset, exclusive, |chunk, restart| {
                if restart {
                    // The server ignored the range: start the file again.
                    file.set_len(0)?;
                }
                let have = file.metadata()?.len();
                if have + chunk.len() as u64 > cap {
                    over.store(true, Ordering::Relaxed);
                    return Err(std::io::Error::other("more bytes than the file's bound"));
                }
                file.write_all(chunk)?;
                got.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                progress.bytes(chunk.len() as u64);
                Ok(())
            })
            .await;
        let _ = file.flush();
        if over.load(Ordering::Relaxed) {
            drop(file);
            let _ = std::fs::remove_file(&part);
            let bound = match e.size {
                Some(s) => format!("the plan's size, {s} bytes"),
                None => format!("--max-file-bytes {cap}"),
            };
            return fail(format!(
                "the server sent more than {bound}; the partial file was removed"
            ));
        }
        match result {
            Ok(_) => break,
            // 416: nothing left to send for this range.
            Err(HttpError::Status { status: 416, .. }) => break,
            Err(HttpError::Status { status, body, .. })
                if !matches!(status, 408 | 429 | 500 | 502 | 503 | 504) =>
            {
                let hint = if status == 401 || status == 403 {
                    " (exclusive-access data: set MAST_API_TOKEN to a token with access)"
                } else {
                    ""
                };
                let _ = body;
                return fail(format!("HTTP {status}{hint}"));
            }
            Err(err) if attempt > opts.retries => return fail(err.to_string()),
            Err(_) => tokio::time::sleep(http.backoff(attempt, None)).await,
        }
    }
    let len = std::fs::metadata(&part).map_or(0, |m| m.len());
    if let Some(s) = e.size {
        if len != s {
            return fail(format!(
                "size {len} bytes, plan says {s}; the partial file is kept for the next run"
            ));
        }
    }
    if opts.verify {
        if let Some(sum) = &e.checksum {
            match verify_checksum(&part, sum) {
                Ok(true) => {}
                Ok(false) => {
                    let _ = std::fs::remove_file(&part);
                    return fail(format!(
                        "checksum mismatch (expected {sum}); the file was removed"
                    ));
                }
                Err(m) => return fail(m),
            }
        }
    }
    if let Err(err) = std::fs::rename(&part, &target) {
        return fail(format!(
            "cannot rename {} into place: {err}",
            part.display()
        ));
    }
    FileReport {
        path: e.path.clone(),
        status: if start_offset > 0 {
            "resumed"
        } else {
            "downloaded"
        },
        bytes: got.load(Ordering::Relaxed),
        error: None,
    }
}

/// MD5 (32 hex digits, what MAST's SI-keyword tables give) and SHA-256 (64)
/// checksums are verified, streaming the file; others are reported as unverifiable.
fn verify_checksum(path: &Path, expected: &str) -> Result<bool, String> {
    use md5::Digest as _;
    use std::io::Read;
    let e = expected.trim().to_ascii_lowercase();
    if !e.chars().all(|c| c.is_ascii_hexdigit()) || !(e.len() == 32 || e.len() == 64) {
        return Err(format!(
            "cannot verify checksum `{expected}`: MD5 or SHA-256 hex expected"
        ));
    }
    let mut f = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut md5, mut sha) = (md5::Md5::new(), sha2::Sha256::new());
    loop {
        let n = f.read(&mut buf).map_err(|err| err.to_string())?;
        if n == 0 {
            break;
        }
        if e.len() == 32 {
            md5.update(&buf[..n]);
        } else {
            sha.update(&buf[..n]);
        }
    }
    let got = if e.len() == 32 {
        hex::encode(md5.finalize())
    } else {
        hex::encode(sha.finalize())
    };
    Ok(got == e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert!(verify_checksum(&p, "5d41402abc4b2a76b9719d911017c592").unwrap());
        assert!(
            verify_checksum(
                &p,
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            )
            .unwrap()
        );
        assert!(!verify_checksum(&p, "00000000000000000000000000000000").unwrap());
        assert!(verify_checksum(&p, "crc32:1234").is_err());
    }

    #[test]
    fn shards() {
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert!(parse_shard("x").is_err());
    }
}
