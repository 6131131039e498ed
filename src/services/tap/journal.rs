//! The run journal of async TAP jobs (`<out>/run.jobs.json`): each job's URL
//! is written the moment the job exists, so a run that is interrupted (even
//! by SIGKILL) leaves a record the next run resumes from instead of
//! submitting the query again. An entry is removed once its result is read
//! (or its error reported); the file is removed when it holds none.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One job that was submitted and not yet finished with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEntry {
    /// The job URL the server gave (`Location` of the creating POST).
    pub job: String,
    /// The request key of the query (service, query, MAXREC, format).
    pub key: String,
    /// When the job was created (ISO-8601 UTC).
    pub created: String,
}

/// A journal file and its entries, keyed by step name (and page, for paged
/// steps: `step#page`).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, JobEntry>>,
}

impl Journal {
    /// Open the journal at `path` (a missing or unreadable file is an empty
    /// journal: the worst case is one resubmitted query).
    pub fn open(path: &Path) -> Journal {
        let entries = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Journal {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
        }
    }

    /// The job recorded for `slot`, if it was for the same request.
    pub fn find(&self, slot: &str, key: &str) -> Option<String> {
        let e = self.entries.lock().expect("journal lock");
        e.get(slot).filter(|j| j.key == key).map(|j| j.job.clone())
    }

    /// Record a new job (written to disk before this returns).
    pub fn record(&self, slot: &str, key: &str, job: &str) {
        let mut e = self.entries.lock().expect("journal lock");
        e.insert(
            slot.to_string(),
            JobEntry {
                job: job.to_string(),
                key: key.to_string(),
                created: now_iso(),
            },
        );
        self.save(&e);
    }

    /// Forget a job (done, failed, or gone from the server).
    pub fn remove(&self, slot: &str) {
        let mut e = self.entries.lock().expect("journal lock");
        if e.remove(slot).is_some() {
            self.save(&e);
        }
    }

    /// Every recorded job.
    pub fn entries(&self) -> BTreeMap<String, JobEntry> {
        self.entries.lock().expect("journal lock").clone()
    }

    fn save(&self, e: &BTreeMap<String, JobEntry>) {
        if e.is_empty() {
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        let mut text = serde_json::to_vec_pretty(e).expect("journal serialises");
        text.push(b'\n');
        // A journal that cannot be written costs a resubmission, not the run.
        let _ = crate::util::write_atomic(&self.path, |w| w.write_all(&text));
    }
}

fn now_iso() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_restart_and_forgets_finished_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jobs.json");
        let j = Journal::open(&path);
        j.record("obs", "k1", "http://h/async/1");
        j.record("big#2", "k2", "http://h/async/2");
        let again = Journal::open(&path);
        assert_eq!(again.find("obs", "k1").as_deref(), Some("http://h/async/1"));
        assert_eq!(again.find("obs", "other-key"), None);
        again.remove("obs");
        again.remove("big#2");
        assert!(!path.exists(), "an empty journal leaves no file");
        std::fs::write(&path, "not json").unwrap();
        assert!(Journal::open(&path).entries().is_empty());
    }
}
