//! Publishing a run's output set as a whole into `--out`.
//!
//! A run holds an advisory lock on `--out` itself (flock on the directory;
//! a second run waits), writes every output and `run.json` into `--out/.mastflow-staging/`,
//! then commits by writing the journal `.mastflow-staging/publish.json` (the
//! list of files, `run.json` last) and fsyncing. After the commit the old
//! `run.json` is removed, each staged file is renamed into place, the
//! directories are fsynced and the staging directory is removed.
//!
//! Whoever opens `--out` next (under the lock, before anything else) rolls an
//! interrupted publish FORWARD when the journal exists (every staged file is
//! complete and fsynced) and BACK otherwise (the staging directory is
//! deleted). So a kill -9 at any point leaves, once the directory is next
//! opened, either the old set or the new one. A journal was chosen over a
//! generation directory and a swapped symlink because it keeps outputs at the
//! paths users and scripts already read (`--out/obs.csv`, not a symlink) and
//! works on any POSIX filesystem. While the journal exists `run.json` is
//! absent, so a reader never sees an old record beside new files.

use std::fs::File;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The staging directory inside `--out`.
pub const STAGING: &str = ".mastflow-staging";
/// The advisory lock file inside `--out` where a directory cannot be locked.
#[cfg(not(unix))]
pub const LOCK: &str = ".mastflow-out.lck";
const JOURNAL: &str = "publish.json";

/// Errors opening or publishing into an output directory.
#[derive(Debug, Error)]
pub enum PublishError {
    #[error("output directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// An output directory held by this process (the lock is released on drop).
#[derive(Debug)]
pub struct OutDir {
    root: PathBuf,
    _lock: File,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Journal {
    files: Vec<String>,
}

impl OutDir {
    /// Create and lock `root` (waiting for another run, with a note on
    /// stderr), finish or undo an interrupted publish, and remove temporary
    /// files left by killed runs.
    pub fn open(root: &Path) -> Result<OutDir, PublishError> {
        std::fs::create_dir_all(root).map_err(io(root))?;
        let lock_path = root.to_path_buf();
        let lock = lock_handle(root).map_err(io(root))?;
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for another mastflow run writing into {} to finish",
                    root.display()
                );
                fs4::FileExt::lock(&lock).map_err(io(&lock_path))?;
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let out = OutDir {
            root: root.to_path_buf(),
            _lock: lock,
        };
        out.recover()?;
        remove_stale_temps(root);
        crash_point("opened");
        Ok(out)
    }

    /// A fresh, empty staging directory to write the new set into.
    pub fn stage(&self) -> Result<PathBuf, PublishError> {
        let s = self.root.join(STAGING);
        if s.exists() {
            std::fs::remove_dir_all(&s).map_err(io(&s))?;
        }
        std::fs::create_dir_all(&s).map_err(io(&s))?;
        Ok(s)
    }

    /// Publish the staged `files` (relative paths; `run.json` is moved last).
    pub fn publish(&self, files: &[String]) -> Result<(), PublishError> {
        let staging = self.root.join(STAGING);
        let mut list: Vec<String> = files.iter().filter(|f| *f != "run.json").cloned().collect();
        if files.iter().any(|f| f == "run.json") {
            list.push("run.json".into());
        }
        crash_point("publish");
        let text = serde_json::to_vec(&Journal { files: list }).expect("journal serialises");
        let journal = staging.join(JOURNAL);
        crate::util::write_atomic(&journal, |w| w.write_all(&text)).map_err(io(&journal))?;
        sync_dir(&staging)?;
        crash_point("publish");
        self.roll_forward()
    }

    /// Move every staged file of the journal into place, then drop staging.
    fn roll_forward(&self) -> Result<(), PublishError> {
        let staging = self.root.join(STAGING);
        let journal = staging.join(JOURNAL);
        let bytes = std::fs::read(&journal).map_err(io(&journal))?;
        let Ok(j) = serde_json::from_slice::<Journal>(&bytes) else {
            // Not committed (cannot happen with atomic writes): roll back.
            return std::fs::remove_dir_all(&staging).map_err(io(&staging));
        };
        let record = self.root.join("run.json");
        if record.exists() && staging.join("run.json").exists() {
            std::fs::remove_file(&record).map_err(io(&record))?;
            sync_dir(&self.root)?;
            crash_point("publish");
        }
        for rel in &j.files {
            let from = staging.join(rel);
            if !from.exists() {
                continue; // moved before an interruption
            }
            let to = self.root.join(rel);
            let parent = to.parent().unwrap_or(&self.root);
            std::fs::create_dir_all(parent).map_err(io(parent))?;
            std::fs::rename(&from, &to).map_err(io(&to))?;
            sync_dir(parent)?;
            crash_point("publish");
        }
        std::fs::remove_file(&journal).map_err(io(&journal))?;
        crash_point("publish");
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        sync_dir(&self.root)
    }

    /// Finish (journal present) or undo (no journal) an interrupted publish.
    fn recover(&self) -> Result<(), PublishError> {
        let staging = self.root.join(STAGING);
        if staging.join(JOURNAL).is_file() {
            self.roll_forward()
        } else if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))
        } else {
            Ok(())
        }
    }
}

/// What is locked: the directory itself on Unix (flock on a directory
/// descriptor leaves no file behind), a lock file elsewhere.
fn lock_handle(root: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    return File::open(root);
    #[cfg(not(unix))]
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(LOCK))
}

fn sync_dir(dir: &Path) -> Result<(), PublishError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Remove `.mastflow-*.tmp` files (from killed writes) under `root`, not
/// following symlinks; the caller holds the directory's lock.
fn remove_stale_temps(root: &Path) {
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if t.is_dir() {
                dirs.push(e.path());
            } else if t.is_file() && name.starts_with(".mastflow-") && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Test hook (debug builds only): `MASTFLOW_TEST_KILL_AT=publish:K` kills the
/// process with SIGKILL at the K-th publish step; `opened` right after `--out`
/// is opened and recovered.
#[cfg(debug_assertions)]
pub fn crash_point(name: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let Ok(want) = std::env::var("MASTFLOW_TEST_KILL_AT") else {
        return;
    };
    let (what, k) = want.split_once(':').unwrap_or((want.as_str(), "1"));
    if what != name {
        return;
    }
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if k.parse::<u32>().is_ok_and(|k| k == n) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::process::abort();
    }
}

/// Release builds: no hook.
#[cfg(not(debug_assertions))]
pub fn crash_point(_name: &str) {}
