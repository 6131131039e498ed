//! Progress display: live bars on a terminal (indicatif), plain lines
//! otherwise, JSON lines with `--log-format json`, nothing with `--quiet`.

use crate::exec::{Observer, Status, StepReport};
use crate::services::http::Retry;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Plain text lines on stderr.
pub struct Lines;

impl Observer for Lines {
    fn step_started(&self, name: &str, kind: &str) {
        eprintln!("[start] {name} ({kind})");
    }

    fn step_finished(&self, r: &StepReport) {
        eprintln!("{}", summary_line(r));
    }

    fn retrying(&self, r: &Retry) {
        eprintln!("{}", retry_line(r));
    }
}

/// `[retry] https://…: HTTP 503; attempt 2 of 6 in 1.2 s`, sanitised (the
/// reason may be server text).
pub fn retry_line(r: &Retry) -> String {
    format!("[retry] {}", crate::textsafe::sanitise(&r.to_string()))
}

/// One JSON object per event on stderr.
pub struct JsonLines;

impl Observer for JsonLines {
    fn step_started(&self, name: &str, kind: &str) {
        let line = serde_json::json!({"event": "step_started", "step": name, "kind": kind});
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    fn step_progress(&self, name: &str, rows: usize, requests: u64) {
        let line = serde_json::json!({"event": "step_progress", "step": name, "rows": rows, "requests": requests});
        let _ = writeln!(std::io::stderr(), "{line}");
    }

    fn step_finished(&self, r: &StepReport) {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("event".into(), "step_finished".into());
        }
        let _ = writeln!(std::io::stderr(), "{v}");
    }

    fn retrying(&self, r: &Retry) {
        let line = serde_json::json!({
            "event": "retry",
            "url": r.url,
            "attempt": r.attempt + 1,
            "attempts": r.attempts,
            "why": crate::textsafe::sanitise(&r.why),
            "wait_s": r.wait.as_secs_f64(),
            "retry_after_s": r.retry_after.map(|d| d.as_secs_f64()),
        });
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// Live bars: one spinner line per running step with rows and requests.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Bars {
    fn step_started(&self, name: &str, kind: &str) {
        let pb = self.multi.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<24} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix(format!("{name} ({kind})"));
        pb.enable_steady_tick(Duration::from_millis(100));
        self.bars
            .lock()
            .expect("bars lock")
            .insert(name.to_string(), pb);
    }

    fn step_progress(&self, name: &str, rows: usize, requests: u64) {
        if let Some(pb) = self.bars.lock().expect("bars lock").get(name) {
            pb.set_message(format!("{rows} rows, {requests} requests"));
        }
    }

    fn step_finished(&self, r: &StepReport) {
        if let Some(pb) = self.bars.lock().expect("bars lock").remove(&r.name) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        let _ = self.multi.println(summary_line(r));
    }

    fn retrying(&self, r: &Retry) {
        let _ = self.multi.println(retry_line(r));
    }
}

/// `✔ name (kind): 12 rows in 3 ms` and friends.
pub fn summary_line(r: &StepReport) -> String {
    let mark = match r.status {
        Status::Succeeded => "ok",
        Status::AssertionFailed => "ASSERT",
        Status::Failed => "FAILED",
        Status::Skipped => "skipped",
        Status::Cancelled => "cancelled",
        Status::TimedOut => "TIMED OUT",
        Status::NotSelected => "not selected",
        Status::Planned => "planned",
    };
    let rows = r
        .rows_out
        .map(|n| format!(", {n} rows"))
        .unwrap_or_default();
    let reqs = if r.requests > 0 {
        format!(", {} requests ({} cached)", r.requests, r.cache_hits)
    } else {
        String::new()
    };
    let notes = if r.notes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", r.notes.join("; "))
    };
    let err = r
        .error
        .as_ref()
        .map(|e| format!(": {}", preview(e)))
        .unwrap_or_default();
    format!(
        "[{mark}] {} ({}){rows}{reqs} in {} ms{notes}{err}",
        r.name, r.kind, r.duration_ms
    )
}

/// Characters of a step error the progress line shows: the full message
/// (sanitised and capped by `exec`, see `crate::textsafe`) follows in the
/// step's diagnostic, so a long one is printed once, not twice.
pub const PREVIEW: usize = 200;

/// `e` cut to [`PREVIEW`] characters, sanitised (it already is when it
/// comes from `exec`; this keeps the line safe whatever the caller).
fn preview(e: &str) -> String {
    let clean = crate::textsafe::sanitise(e);
    match clean.char_indices().nth(PREVIEW) {
        Some((i, _)) => format!("{} … (full message below)", &clean[..i]),
        None => clean,
    }
}
