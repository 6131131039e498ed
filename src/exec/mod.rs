//! The async scheduler: runs a [`Plan`] on tokio.
//!
//! A step starts as soon as every step it depends on has succeeded, so
//! independent branches run at once, bounded by `--jobs`. (Requests to a host
//! are further bounded by the per-host limit of the service clients.) When a
//! step fails, its dependants are skipped; without `--keep-going` nothing new
//! starts and running steps are cancelled, with it independent branches
//! finish. Ctrl-C cancels everything; since outputs are only ever written by
//! rename, no half-written file is left.

pub mod local;
pub mod remote;
mod tap;
mod upload;

pub use remote::Services;

use crate::plan::Plan;
use crate::table::{Table, TableError};
use crate::template::Context;
use crate::textsafe;
use crate::validate::{Manifest, StepId};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::task::JoinSet;

/// Why a step failed.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Io(#[from] crate::table::io::IoError),
    #[error("template: {0}")]
    Template(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Service(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The step outlived its bound (its `deadline`, else `--step-timeout`),
    /// retries included.
    #[error(
        "did not finish within {} ({bound}){}; {requests} request{} sent; raise {raise}, narrow the query, or try again later",
        crate::services::http::human_duration(*.after),
        last_retry.as_ref().map(|w| format!(", still retrying after {w}")).unwrap_or_default(),
        if *.requests == 1 { "" } else { "s" }
    )]
    TimedOut {
        after: Duration,
        /// Where the bound comes from: `its deadline` or `--step-timeout`.
        bound: &'static str,
        raise: &'static str,
        requests: u64,
        last_retry: Option<String>,
    },
}

/// Final state of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Succeeded,
    /// Ran, and an `assert` check failed.
    AssertionFailed,
    Failed,
    /// Not run because an upstream step failed.
    Skipped,
    /// Stopped by Ctrl-C or by another step's failure.
    Cancelled,
    /// Cut off by the run timeout (`--run-timeout`, `timeouts.run`).
    TimedOut,
    /// Not part of `--select`.
    NotSelected,
    /// `--dry-run`.
    Planned,
}

/// What happened to one step, for the run record and the progress display.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: String,
    pub kind: &'static str,
    pub status: Status,
    /// Row counts of the step's inputs.
    pub rows_in: Vec<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_out: Option<usize>,
    /// Requests sent, each attempt counted (also when the step failed).
    pub requests: u64,
    /// Of those, requests sent again after a failure (a reset, a 503, ...).
    pub retries: u64,
    pub cache_hits: u64,
    /// SHA-256 of the canonical Mashup request keys (remote steps only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_sha256: Option<String>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Async TAP jobs: those that answered, or, for a step that did not
    /// finish, those left running for the next run to resume.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<String>,
}

/// Progress events; the CLI renders them (bars, lines or JSON).
pub trait Observer: Send + Sync {
    fn step_started(&self, _name: &str, _kind: &str) {}
    fn step_progress(&self, _name: &str, _rows: usize, _requests: u64) {}
    fn step_finished(&self, _report: &StepReport) {}
    /// A request is about to be sent again (the wait is not silent).
    fn retrying(&self, _retry: &crate::services::http::Retry) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Run options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    pub keep_going: bool,
    pub dry_run: bool,
    /// Bound of an archive step without a `deadline`, retries included.
    pub step_timeout: Option<Duration>,
    /// Bound of the whole run: running steps are cut off (`timed_out`),
    /// finished ones keep their outputs.
    pub run_timeout: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            jobs: 4,
            keep_going: false,
            dry_run: false,
            step_timeout: None,
            run_timeout: None,
        }
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Outcome {
    pub reports: Vec<StepReport>,
    pub tables: Vec<Option<Arc<Table>>>,
    pub interrupted: bool,
    /// The run timeout passed (steps were cut off).
    pub timed_out: bool,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        self.reports.iter().any(|r| {
            matches!(
                r.status,
                Status::Failed
                    | Status::AssertionFailed
                    | Status::Skipped
                    | Status::Cancelled
                    | Status::TimedOut
            )
        })
    }
}

/// The template context of a manifest (params and allowed env).
pub fn base_context(m: &Manifest) -> Context {
    m.template_context()
}

struct Done {
    id: StepId,
    result: Result<local::LocalResult, StepError>,
    requests: u64,
    retries: u64,
    cache_hits: u64,
    requests_sha256: Option<String>,
    jobs: Vec<String>,
    elapsed: Duration,
}

/// Run an archive step within its bound (its `deadline`, else
/// `step_timeout`), counting its requests and retries even when it fails.
async fn remote_step(
    id: StepId,
    m: Arc<Manifest>,
    inputs: Vec<Arc<Table>>,
    ctx: Context,
    services: Arc<Services>,
    obs: Arc<dyn Observer>,
    step_timeout: Option<Duration>,
) -> Done {
    let start = Instant::now();
    let step = &m.steps[id];
    let scope = Arc::new(crate::services::http::Scope::default());
    let work = crate::services::http::in_scope(
        Some(scope.clone()),
        remote::run(&step.name, &step.op, &inputs, &ctx, &services, &obs),
    );
    let bound = match (step.deadline, step_timeout) {
        (Some(d), _) => Some((d, "its `deadline`", "the step's `deadline`")),
        (None, Some(t)) => Some((t, "--step-timeout", "--step-timeout (or `timeouts.step`)")),
        (None, None) => None,
    };
    let r = match bound {
        None => work.await,
        Some((after, bound, raise)) => match tokio::time::timeout(after, work).await {
            Ok(r) => r,
            Err(_) => Err(StepError::TimedOut {
                after,
                bound,
                raise,
                requests: scope.requests(),
                last_retry: scope.last_retry(),
            }),
        },
    };
    let (result, requests, cache_hits, requests_sha256, jobs) = match r {
        Ok(r) => (
            Ok(r.local),
            r.requests.max(scope.requests()),
            r.cache_hits,
            r.requests_sha256,
            r.jobs,
        ),
        Err(e) => (Err(e), scope.requests(), 0, None, Vec::new()),
    };
    Done {
        id,
        result,
        requests,
        retries: scope.retries(),
        cache_hits,
        requests_sha256,
        jobs,
        elapsed: start.elapsed(),
    }
}

/// Run the plan. `interrupt` resolves when the user asks to stop (Ctrl-C).
pub async fn run<F>(
    m: Arc<Manifest>,
    plan: Arc<Plan>,
    opts: RunOptions,
    services: Arc<Services>,
    obs: Arc<dyn Observer>,
    interrupt: F,
) -> Outcome
where
    F: std::future::Future<Output = ()>,
{
    let n = m.steps.len();
    let mut reports: Vec<StepReport> = m
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepReport {
            name: s.name.clone(),
            kind: s.kind,
            status: if plan.selected[i] {
                Status::Planned
            } else {
                Status::NotSelected
            },
            rows_in: Vec::new(),
            rows_out: None,
            requests: 0,
            retries: 0,
            cache_hits: 0,
            requests_sha256: None,
            duration_ms: 0,
            error: None,
            notes: Vec::new(),
            jobs: Vec::new(),
        })
        .collect();
    let mut tables: Vec<Option<Arc<Table>>> = vec![None; n];
    if opts.dry_run {
        return Outcome {
            reports,
            tables,
            interrupted: false,
            timed_out: false,
        };
    }
    let mut waiting: Vec<usize> = m.steps.iter().map(|s| s.deps.len()).collect();
    let mut children: Vec<Vec<StepId>> = vec![Vec::new(); n];
    for (i, s) in m.steps.iter().enumerate() {
        for &d in &s.deps {
            children[d].push(i);
        }
    }
    let mut ready: BTreeSet<(usize, StepId)> = BTreeSet::new();
    let order_pos: Vec<usize> = {
        let mut p = vec![0; n];
        for (pos, &i) in plan.order.iter().enumerate() {
            p[i] = pos;
        }
        p
    };
    for i in 0..n {
        if plan.selected[i] && waiting[i] == 0 {
            ready.insert((order_pos[i], i));
        }
    }
    let base = base_context(&m);
    let mut running: JoinSet<Done> = JoinSet::new();
    let mut running_ids: BTreeSet<StepId> = BTreeSet::new();
    let mut stopping = false;
    let mut interrupted = false;
    let mut timed_out = false;
    let run_timeout = opts.run_timeout;
    let run_deadline = tokio::time::sleep(run_timeout.unwrap_or(Duration::MAX / 4));
    tokio::pin!(interrupt);
    tokio::pin!(run_deadline);
    loop {
        while !stopping && !ready.is_empty() {
            // Start a step only when a slot is free, so a failure is seen
            // before more work starts. A slot is freed when its step's result
            // has been handled here (a finished task stays in `running` until
            // joined), never by the task alone: a step that fails at once
            // must stop the run before the next one starts.
            if running.len() >= opts.jobs.max(1) {
                break;
            }
            let Some((_, i)) = ready.pop_first() else {
                break;
            };
            let inputs: Vec<Arc<Table>> = m.steps[i]
                .inputs
                .iter()
                .filter_map(|&d| tables[d].clone())
                .collect();
            reports[i].rows_in = inputs.iter().map(|t| t.num_rows()).collect();
            let steps_ctx: Vec<(String, Arc<Table>)> = m.steps[i]
                .template_deps
                .iter()
                .filter_map(|&d| tables[d].clone().map(|t| (m.steps[d].name.clone(), t)))
                .collect();
            let ctx = base.with_steps(&steps_ctx);
            let m2 = m.clone();
            obs.step_started(&m.steps[i].name, m.steps[i].kind);
            running_ids.insert(i);
            let (services, obs2) = (services.clone(), obs.clone());
            let step_timeout = opts.step_timeout;
            running.spawn(async move {
                let start = Instant::now();
                if m2.steps[i].op.is_remote() {
                    return remote_step(i, m2, inputs, ctx, services, obs2, step_timeout).await;
                }
                let m3 = m2.clone();
                let result = tokio::task::spawn_blocking(move || {
                    local::run(&m3, &m3.steps[i].op, &inputs, &ctx)
                })
                .await
                .unwrap_or_else(|e| Err(StepError::Internal(format!("step panicked: {e}"))));
                Done {
                    id: i,
                    result,
                    requests: 0,
                    retries: 0,
                    cache_hits: 0,
                    requests_sha256: None,
                    jobs: Vec::new(),
                    elapsed: start.elapsed(),
                }
            });
        }
        if running.is_empty() {
            break;
        }
        let done = tokio::select! {
            d = running.join_next() => d,
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                stopping = true;
                running.abort_all();
                for &i in &running_ids {
                    reports[i].status = Status::Cancelled;
                    reports[i].error = Some("interrupted".into());
                }
                None
            }
            _ = &mut run_deadline, if run_timeout.is_some() && !timed_out && !interrupted => {
                timed_out = true;
                stopping = true;
                running.abort_all();
                let after = crate::services::http::human_duration(run_timeout.unwrap_or_default());
                for &i in &running_ids {
                    reports[i].status = Status::TimedOut;
                    reports[i].error = Some(format!(
                        "cut off by the run timeout ({after}); raise --run-timeout (or `timeouts.run`)"
                    ));
                }
                None
            }
        };
        let Some(joined) = done else {
            if interrupted || timed_out {
                while running.join_next().await.is_some() {}
                break;
            }
            continue;
        };
        let Ok(d) = joined else { continue };
        running_ids.remove(&d.id);
        let r = &mut reports[d.id];
        r.duration_ms = d.elapsed.as_millis() as u64;
        r.requests = d.requests;
        r.retries = d.retries;
        r.cache_hits = d.cache_hits;
        r.requests_sha256 = d.requests_sha256;
        r.jobs = d.jobs;
        let ok = match d.result {
            Ok(res) => {
                r.rows_out = Some(res.table.num_rows());
                r.notes = res.notes.iter().map(|n| textsafe::sanitise(n)).collect();
                let known = m.steps[d.id].columns.as_deref();
                tables[d.id] = Some(keep_schema(res.table, known));
                match res.assertion {
                    Some(msg) => {
                        r.status = Status::AssertionFailed;
                        r.error = Some(textsafe::sanitise(&msg));
                        // Dependants may still read an asserted table.
                        true
                    }
                    None => {
                        r.status = Status::Succeeded;
                        true
                    }
                }
            }
            Err(e) => {
                r.status = Status::Failed;
                // Server text (Mashup `msg`, TAP and UWS errors) is in it.
                r.error = Some(textsafe::sanitise(&e.to_string()));
                false
            }
        };
        obs.step_finished(&reports[d.id]);
        if ok {
            for &dep in &children[d.id] {
                waiting[dep] -= 1;
                if waiting[dep] == 0 && plan.selected[dep] {
                    ready.insert((order_pos[dep], dep));
                }
            }
        } else {
            let name = m.steps[d.id].name.clone();
            for j in plan.dependants(d.id) {
                if plan.selected[j] && reports[j].status == Status::Planned {
                    reports[j].status = Status::Skipped;
                    reports[j].error = Some(format!("upstream step `{name}` failed"));
                    ready.retain(|(_, x)| *x != j);
                }
            }
            if !opts.keep_going {
                stopping = true;
                running.abort_all();
                for &i in &running_ids {
                    reports[i].status = Status::Cancelled;
                    reports[i].error = Some(format!(
                        "cancelled after `{name}` failed (use --keep-going to finish independent steps)"
                    ));
                }
            }
        }
    }
    // Steps never started because the run stopped early.
    for r in reports.iter_mut().filter(|r| r.status == Status::Planned) {
        r.status = Status::Cancelled;
        r.error.get_or_insert_with(|| {
            if interrupted {
                "interrupted".into()
            } else if timed_out {
                "not started: the run timeout passed".into()
            } else {
                "not started: the run stopped early".into()
            }
        });
    }
    note_unfinished_jobs(&mut reports, &services);
    Outcome {
        reports,
        tables,
        interrupted,
        timed_out,
    }
}

/// Steps that did not finish but left async TAP jobs in the journal: the run
/// record names the jobs the next run will resume.
/// A result with no rows and no columns (a server that answers an empty
/// search without column info) gets the columns validation inferred for the
/// step, so empty results keep their schema through every later step.
fn keep_schema(table: Arc<Table>, known: Option<&[String]>) -> Arc<Table> {
    match known {
        Some(cols) if table.num_rows() == 0 && table.num_columns() == 0 && !cols.is_empty() => {
            let schema: Vec<_> = cols.iter().map(|c| (c.clone(), known_type(c))).collect();
            Arc::new(Table::with_schema(&schema))
        }
        _ => table,
    }
}

/// The type MAST gives a column, so empty columns still aggregate (`sum(size)`).
fn known_type(name: &str) -> crate::table::DataType {
    use crate::table::DataType;
    match name {
        "size" | "calib_level" => return DataType::Int,
        _ => {}
    }
    match crate::services::caom::field(name).map(|f| f.mast_type) {
        Some("int") => DataType::Int,
        Some("float") => DataType::Float,
        Some("boolean") => DataType::Bool,
        _ => DataType::String,
    }
}

fn note_unfinished_jobs(reports: &mut [StepReport], services: &Services) {
    let Some(journal) = &services.journal else {
        return;
    };
    for (slot, entry) in journal.entries() {
        let step = slot.split('#').next().unwrap_or(&slot);
        if let Some(r) = reports
            .iter_mut()
            .find(|r| r.name == step && r.status != Status::Succeeded)
        {
            r.jobs.push(entry.job.clone());
            r.notes.push(textsafe::sanitise(&format!(
                "async job {} left running; the next run resumes it",
                entry.job
            )));
        }
    }
}
