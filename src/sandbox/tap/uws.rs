//! UWS 1.1 jobs of the TAP service: the job store (a mutex map with
//! destruction times), phases and their transitions, blocking `WAIT`, the
//! background run (after an optional `tap-exec` delay, then the query on
//! the blocking pool) and the job / job-list documents.

use super::{Answer, Params, execute, xml};
use crate::sandbox::data::Archive;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// Seconds a job may run (declared; the sandbox's queries are fast).
pub const EXECUTION_DURATION: u64 = 3600;

/// Jobs are destroyed this long after creation unless changed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Longest blocking `WAIT` (also what `WAIT=-1` means).
pub const MAX_WAIT: Duration = Duration::from_secs(30);

pub use crate::wire::uws::Phase;

/// One job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub run_id: Option<String>,
    pub phase: Phase,
    pub params: Params,
    pub created: OffsetDateTime,
    pub started: Option<OffsetDateTime>,
    pub ended: Option<OffsetDateTime>,
    pub execution_duration: u64,
    pub destruction: OffsetDateTime,
    pub result: Option<Arc<Answer>>,
    pub error: Option<String>,
    /// Extra time spent EXECUTING before the query runs (fault `tap-exec`).
    pub exec_delay: Duration,
    /// The sandbox base URL the job was created under (for `access_url`).
    pub base: String,
}

/// The job store.
#[derive(Default)]
pub struct Jobs {
    map: Mutex<HashMap<String, Job>>,
    changed: tokio::sync::Notify,
    counter: AtomicU64,
}

/// UWS time stamps: ISO 8601 UTC with `Z`.
pub fn iso(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}

/// Parse a `DESTRUCTION` value (`2026-12-01T00:00:00Z`, fraction and `Z` optional).
pub fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let base = s.trim_end_matches('Z');
    let base = base.split('.').next().unwrap_or(base);
    time::PrimitiveDateTime::parse(base, &f)
        .ok()
        .map(|p| p.assume_utc())
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop jobs past their destruction time.
    fn purge(&self) {
        let now = OffsetDateTime::now_utc();
        self.lock().retain(|_, j| j.destruction > now);
    }

    /// Create a PENDING job; returns its id.
    pub fn create(&self, params: Params, base: &str, exec_delay: Duration) -> String {
        self.purge();
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let id = format!("{:08x}{:04x}", rand::random::<u32>(), n & 0xffff);
        let now = OffsetDateTime::now_utc();
        let job = Job {
            id: id.clone(),
            run_id: params.get("RUNID").map(|r| r.chars().take(64).collect()),
            phase: Phase::Pending,
            params,
            created: now,
            started: None,
            ended: None,
            execution_duration: EXECUTION_DURATION,
            destruction: now + RETENTION,
            result: None,
            error: None,
            exec_delay,
            base: base.to_string(),
        };
        self.lock().insert(id.clone(), job);
        id
    }

    /// A copy of the job, if it exists.
    pub fn get(&self, id: &str) -> Option<Job> {
        self.purge();
        self.lock().get(id).cloned()
    }

    /// All jobs, oldest first.
    pub fn list(&self) -> Vec<Job> {
        self.purge();
        let mut v: Vec<Job> = self.lock().values().cloned().collect();
        v.sort_by_key(|j| (j.created, j.id.clone()));
        v
    }

    /// Change a job; `false` when it does not exist.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Job)) -> bool {
        let found = match self.lock().get_mut(id) {
            Some(j) => {
                f(j);
                true
            }
            None => false,
        };
        if found {
            self.changed.notify_waiters();
        }
        found
    }

    pub fn delete(&self, id: &str) -> bool {
        let gone = self.lock().remove(id).is_some();
        self.changed.notify_waiters();
        gone
    }

    /// `PHASE=RUN`: queue a PENDING job and run it in the background.
    pub fn run(self: &Arc<Self>, id: &str, archive: Arc<Archive>, delay: Option<Duration>) -> bool {
        let mut start = false;
        let exists = self.update(id, |j| {
            if j.phase == Phase::Pending {
                j.phase = Phase::Queued;
                if let Some(d) = delay {
                    j.exec_delay = d;
                }
                start = true;
            }
        });
        if start {
            let jobs = self.clone();
            let id = id.to_string();
            tokio::spawn(async move { jobs.execute(id, archive).await });
        }
        exists
    }

    async fn execute(self: Arc<Self>, id: String, archive: Arc<Archive>) {
        let mut params = None;
        self.update(&id, |j| {
            if j.phase == Phase::Queued {
                j.phase = Phase::Executing;
                j.started = Some(OffsetDateTime::now_utc());
                params = Some((j.params.clone(), j.base.clone(), j.exec_delay));
            }
        });
        let Some((params, base, delay)) = params else {
            return;
        };
        tokio::time::sleep(delay).await;
        if self.get(&id).is_none_or(|j| j.phase != Phase::Executing) {
            return;
        }
        let answer = tokio::task::spawn_blocking(move || execute(&params, &archive, &base))
            .await
            .unwrap_or_else(|_| Answer::error("Internal error while running the query."));
        self.update(&id, |j| {
            if j.phase != Phase::Executing {
                return;
            }
            j.ended = Some(OffsetDateTime::now_utc());
            j.phase = if answer.error.is_some() {
                Phase::Error
            } else {
                Phase::Completed
            };
            j.error = answer.error.clone();
            j.result = Some(Arc::new(answer));
        });
    }

    /// `PHASE=ABORT`: an unfinished job becomes ABORTED.
    pub fn abort(&self, id: &str) -> bool {
        self.update(id, |j| {
            if j.phase.active() {
                j.phase = Phase::Aborted;
                j.ended = Some(OffsetDateTime::now_utc());
            }
        })
    }

    /// Block until the job leaves `seen` (default: its current phase) or
    /// `wait` passes; only active phases block. Returns the job then.
    pub async fn wait(&self, id: &str, wait: Duration, seen: Option<Phase>) -> Option<Job> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        let first = self.get(id)?;
        let seen = seen.unwrap_or(first.phase);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let job = self.get(id)?;
            if job.phase != seen || !job.phase.active() {
                return Some(job);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Some(job);
            }
        }
    }
}

const NS: &str = "xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"";

fn opt_time(tag: &str, t: Option<OffsetDateTime>) -> String {
    match t {
        Some(t) => format!("<uws:{tag}>{}</uws:{tag}>", iso(t)),
        None => format!("<uws:{tag} xsi:nil=\"true\"/>"),
    }
}

/// `<uws:parameters>` of a job.
pub fn parameters_xml(j: &Job, standalone: bool) -> String {
    let mut s = String::from("<uws:parameters");
    if standalone {
        s.push(' ');
        s.push_str(NS);
    }
    s.push('>');
    for (k, v) in &j.params.0 {
        s.push_str(&format!(
            "<uws:parameter id=\"{}\">{}</uws:parameter>",
            xml(k),
            xml(v)
        ));
    }
    s.push_str("</uws:parameters>");
    s
}

/// `<uws:results>` of a job (`result` once COMPLETED).
pub fn results_xml(j: &Job, job_url: &str, standalone: bool) -> String {
    let ns = if standalone {
        format!(" {NS}")
    } else {
        String::new()
    };
    if j.phase != Phase::Completed {
        return format!("<uws:results{ns}/>");
    }
    format!(
        "<uws:results{ns}><uws:result id=\"result\" xlink:href=\"{}/results/result\"/></uws:results>",
        xml(job_url)
    )
}

/// The job document (UWS 1.1).
pub fn job_xml(j: &Job, job_url: &str) -> String {
    let mut s =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:job version=\"1.1\" {NS}>");
    s.push_str(&format!("<uws:jobId>{}</uws:jobId>", xml(&j.id)));
    if let Some(r) = &j.run_id {
        s.push_str(&format!("<uws:runId>{}</uws:runId>", xml(r)));
    }
    s.push_str("<uws:ownerId xsi:nil=\"true\"/>");
    s.push_str(&format!("<uws:phase>{}</uws:phase>", j.phase.as_str()));
    s.push_str(&format!("<uws:quote>{}</uws:quote>", iso(j.created)));
    s.push_str(&format!(
        "<uws:creationTime>{}</uws:creationTime>",
        iso(j.created)
    ));
    s.push_str(&opt_time("startTime", j.started));
    s.push_str(&opt_time("endTime", j.ended));
    s.push_str(&format!(
        "<uws:executionDuration>{}</uws:executionDuration>",
        j.execution_duration
    ));
    s.push_str(&format!(
        "<uws:destruction>{}</uws:destruction>",
        iso(j.destruction)
    ));
    s.push_str(&parameters_xml(j, false));
    s.push_str(&results_xml(j, job_url, false));
    if let (Phase::Error, Some(e)) = (j.phase, &j.error) {
        s.push_str(&format!(
            "<uws:errorSummary type=\"fatal\" hasDetail=\"true\"><uws:message>{}</uws:message></uws:errorSummary>",
            xml(e)
        ));
    }
    s.push_str("</uws:job>\n");
    s
}

/// The job list, filtered by `PHASE` (repeatable), `AFTER` and `LAST`.
pub fn jobs_xml(jobs: &[Job], async_url: &str, q: &Params) -> String {
    let phases: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == "phase")
            .map(|(_, v)| v.to_ascii_uppercase())
            .collect();
    let after = q.get("AFTER").and_then(parse_iso);
    let mut list: Vec<&Job> = jobs
        .iter()
        .filter(|j| phases.is_empty() || phases.iter().any(|p| p == j.phase.as_str()))
        .filter(|j| after.is_none_or(|a| j.created > a))
        .collect();
    if let Some(n) = q.get("LAST").and_then(|n| n.trim().parse::<usize>().ok()) {
        list.sort_by_key(|j| std::cmp::Reverse(j.created));
        list.truncate(n);
    }
    let mut s =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<uws:jobs version=\"1.1\" {NS}>");
    for j in list {
        s.push_str(&format!(
            "<uws:jobref id=\"{0}\" xlink:href=\"{1}/{0}\"><uws:phase>{2}</uws:phase>",
            xml(&j.id),
            xml(async_url),
            j.phase.as_str()
        ));
        if let Some(r) = &j.run_id {
            s.push_str(&format!("<uws:runId>{}</uws:runId>", xml(r)));
        }
        s.push_str(&format!(
            "<uws:ownerId xsi:nil=\"true\"/><uws:creationTime>{}</uws:creationTime></uws:jobref>",
            iso(j.created)
        ));
    }
    s.push_str("</uws:jobs>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = parse_iso("2026-12-01T10:20:30Z").unwrap();
        assert_eq!(iso(t), "2026-12-01T10:20:30Z");
        assert_eq!(
            iso(parse_iso("2026-12-01T10:20:30.5").unwrap()),
            "2026-12-01T10:20:30Z"
        );
        assert!(parse_iso("tomorrow").is_none());
    }

    #[test]
    fn job_document_has_the_uws_elements() {
        let jobs = Jobs::default();
        let mut p = Params::default();
        p.set("QUERY", "SELECT <1>");
        p.set("RUNID", "r1");
        let id = jobs.create(p, "http://h", Duration::ZERO);
        let j = jobs.get(&id).unwrap();
        let x = job_xml(&j, "http://h/job");
        for part in [
            "<uws:job version=\"1.1\" xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\"",
            &format!("<uws:jobId>{id}</uws:jobId>"),
            "<uws:runId>r1</uws:runId>",
            "<uws:ownerId xsi:nil=\"true\"/>",
            "<uws:phase>PENDING</uws:phase>",
            "<uws:startTime xsi:nil=\"true\"/>",
            "<uws:executionDuration>3600</uws:executionDuration>",
            "<uws:parameter id=\"query\">SELECT &lt;1&gt;</uws:parameter>",
            "<uws:results/>",
        ] {
            assert!(x.contains(part), "{part} in {x}");
        }
        let list = jobs_xml(
            &jobs.list(),
            "http://h/async",
            &Params::from_forms(&[b"PHASE=COMPLETED"]),
        );
        assert!(!list.contains("jobref"), "{list}");
        let list = jobs_xml(
            &jobs.list(),
            "http://h/async",
            &Params::from_forms(&[b"phase=pending"]),
        );
        assert!(
            list.contains(&format!("xlink:href=\"http://h/async/{id}\"")),
            "{list}"
        );
        assert!(jobs.delete(&id) && jobs.get(&id).is_none());
    }
}
