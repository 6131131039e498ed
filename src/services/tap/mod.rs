//! The TAP client: ADQL queries sent sync or as UWS 1.1 async jobs, results
//! read as VOTable (or CSV), the service's status decided by the last
//! `QUERY_STATUS`, complete responses cached, async jobs journalled so an
//! interrupted run resumes them. Paging is the caller's (see [`adql`]).
//!
//! Protocol details: `docs/tap.md` and the reference notes it cites.

pub mod adql;
pub mod journal;
pub mod uws;

use super::cache::{Cache, Mode as CacheMode};
use super::http::{Http, HttpError, Request};
use crate::table::Table;
use crate::table::io::votable;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;
use uws::Phase;

/// MAST's TAP collections (`mast-<collection>` aliases).
pub const MAST_COLLECTIONS: &[&str] = &[
    "caom",
    "gaiadr3",
    "hsc",
    "hscv2",
    "ps1dr1",
    "ps1dr2",
    "ps1_dr2",
    "tic",
    "skymapperdr4",
    "missionmast",
    "classy",
    "ullyses",
    "goods",
    "3dhst",
    "candels",
    "deepspace",
    "mast_catalogs",
    "roman_catalogs",
    "registry",
];

/// The base URL of a MAST TAP collection on a MAST server.
pub fn mast_service_url(mast_base: &str, collection: &str) -> String {
    format!(
        "{}/vo-tap/api/v0.1/{collection}",
        mast_base.trim_end_matches('/')
    )
}

/// How a query is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
    /// Sync; a sync request that times out goes async.
    Auto,
}

/// The serialisation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No `RESPONSEFORMAT`: the service's default, as a bare pyvo query
    /// gets it (TABLEDATA on MAST and DaCHS).
    ServiceDefault,
    Binary2,
    TableData,
    Binary,
    Csv,
}

impl Format {
    /// The `RESPONSEFORMAT` value; none for the service's default.
    pub fn mime(self) -> Option<&'static str> {
        match self {
            Format::ServiceDefault => None,
            Format::Binary2 => Some("application/x-votable+xml;serialization=BINARY2"),
            Format::TableData => Some("application/x-votable+xml;serialization=TABLEDATA"),
            Format::Binary => Some("application/x-votable+xml;serialization=BINARY"),
            Format::Csv => Some("text/csv"),
        }
    }
}

/// One query.
#[derive(Debug, Clone)]
pub struct Query {
    /// The service's base URL (parent of `/sync` and `/async`).
    pub service: String,
    /// How the service is named in the manifest (`mast-caom` or the URL):
    /// the host-independent identity of the request.
    pub service_name: String,
    pub adql: String,
    pub maxrec: Option<u64>,
    pub format: Format,
    pub mode: Mode,
    pub sync_timeout: Duration,
    pub deadline: Duration,
}

impl Query {
    /// MAXREC as sent: for CSV, one more row than asked, to detect truncation.
    fn maxrec_sent(&self) -> Option<u64> {
        match self.format {
            Format::Csv => self.maxrec.map(|m| m.saturating_add(1)),
            _ => self.maxrec,
        }
    }

    fn params(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("REQUEST".into(), "doQuery".into()),
            ("LANG".into(), "ADQL".into()),
            ("QUERY".into(), self.adql.clone()),
        ];
        if let Some(mime) = self.format.mime() {
            p.push(("RESPONSEFORMAT".into(), mime.into()));
        }
        if let Some(m) = self.maxrec_sent() {
            p.push(("MAXREC".into(), m.to_string()));
        }
        p
    }

    /// What is asked, independent of host and of sync/async.
    fn identity(&self, with_url: bool) -> serde_json::Value {
        let mut v = serde_json::json!({
            "service": "tap",
            "tap": self.service_name,
            "query": self.adql,
            "format": self.format.mime(),
            "maxrec": self.maxrec,
        });
        if with_url {
            v["url"] = self.service.clone().into();
        }
        v
    }

    /// The request's identity for lock files (no host, no token).
    pub fn ask_key(&self) -> String {
        super::key::ask_key(&self.identity(false))
    }

    /// The response cache's key (with the service URL).
    pub fn cache_key(&self) -> String {
        super::key::request_key(&self.service, &self.identity(true))
    }
}

/// A query's answer.
#[derive(Debug)]
pub struct Answer {
    pub table: Table,
    /// The result was truncated (the last QUERY_STATUS said OVERFLOW, or a
    /// CSV had more rows than MAXREC).
    pub overflow: bool,
    /// HTTP requests sent (0 from the cache).
    pub requests: u64,
    pub cache_hit: bool,
    /// The async job that answered, if any.
    pub job: Option<String>,
    /// The request's ask key.
    pub ask: String,
    /// Things worth telling the user (fallback to async, resumed job...).
    pub notes: Vec<String>,
}

/// Why a query failed.
#[derive(Debug, Error)]
pub enum TapError {
    #[error("TAP service {service} rejected the query: {message}")]
    Query { service: String, message: String },
    #[error("TAP service {service}: {source}")]
    Http {
        service: String,
        #[source]
        source: HttpError,
    },
    #[error(
        "TAP service {service} answered HTTP {status} with something that is not a result ({detail}): {excerpt}"
    )]
    Format {
        service: String,
        status: u16,
        detail: String,
        excerpt: String,
    },
    #[error(
        "TAP service {service}: the sync query got no answer within {}s (use `mode: async` or `auto`, or raise `sync_timeout`)",
        .after.as_secs()
    )]
    SyncTimeout { service: String, after: Duration },
    #[error(
        "TAP job {job} is still {phase} after {}s; aborted it (raise `deadline`)",
        .after.as_secs()
    )]
    Deadline {
        job: String,
        phase: &'static str,
        after: Duration,
    },
    #[error("TAP job {job} was aborted by the service")]
    Aborted { job: String },
    #[error("TAP service {service}: {detail}")]
    Job { service: String, detail: String },
    /// `--offline` and no usable entry: why (damaged), or `None` (missing).
    #[error("--offline: {}", .0.as_deref().unwrap_or("the response to this TAP query is not in the cache (run once without --offline)"))]
    Offline(Option<String>),
}

/// How async jobs are polled: `WAIT` seconds per poll, growing from
/// `first` by `factor` to `max`; a service that ignores WAIT is polled at
/// that pace.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first: Duration,
    pub factor: f64,
    pub max: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            first: Duration::from_secs(1),
            factor: 1.5,
            max: Duration::from_secs(30),
        }
    }
}

/// Where an async job of one step is journalled.
#[derive(Debug, Clone)]
pub struct JobSlot {
    pub journal: Arc<journal::Journal>,
    /// The step (and page): `obs`, `obs#3`.
    pub slot: String,
}

/// The TAP client, sharing the polite HTTP layer.
#[derive(Debug, Clone)]
pub struct Tap {
    http: Arc<Http>,
    cache: Option<Cache>,
    polling: Polling,
}

/// A result body, the job that gave it, and what is worth telling.
struct Fetched {
    status: u16,
    body: Vec<u8>,
    job: Option<String>,
    notes: Vec<String>,
}

impl Tap {
    /// Pages one paged query may take (`--max-pages`).
    pub fn max_pages(&self) -> u64 {
        self.http.config().max_pages
    }

    pub fn new(http: Arc<Http>) -> Self {
        Tap {
            http,
            cache: None,
            polling: Polling::default(),
        }
    }

    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn with_polling(mut self, polling: Polling) -> Self {
        self.polling = polling;
        self
    }

    /// Run a query: from the cache when it holds the answer, else sync,
    /// async or sync-then-async; an async job is journalled in `slot`.
    /// Run one query. BINARY2 is asked for only when the step asks; a
    /// service that refuses it is asked again with TABLEDATA (noted).
    pub async fn query(&self, q: &Query, slot: Option<&JobSlot>) -> Result<Answer, TapError> {
        match self.query_once(q, slot).await {
            Err(e) if q.format == Format::Binary2 && refuses_format(&e) => {
                let plain = Query {
                    format: Format::TableData,
                    ..q.clone()
                };
                let mut a = self.query_once(&plain, slot).await?;
                a.notes.push(format!(
                    "the service refused BINARY2 ({e}); fell back to TABLEDATA"
                ));
                Ok(a)
            }
            other => other,
        }
    }

    async fn query_once(&self, q: &Query, slot: Option<&JobSlot>) -> Result<Answer, TapError> {
        let key = q.cache_key();
        if let Some(body) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            let (table, overflow) = parse_result(q, 200, &body)?;
            let (table, overflow, note) = within_maxrec(q, table, overflow);
            return Ok(Answer {
                table,
                overflow,
                requests: 0,
                cache_hit: true,
                job: None,
                ask: q.ask_key(),
                notes: note.into_iter().collect(),
            });
        }
        if self
            .cache
            .as_ref()
            .is_some_and(|c| c.mode == CacheMode::Offline)
        {
            return Err(TapError::Offline(
                self.cache.as_ref().and_then(|c| c.damaged(&key)),
            ));
        }
        let call = Call {
            http: &self.http,
            q,
            polling: self.polling,
            requests: AtomicU64::new(0),
        };
        let mut fetched = call.fetch(slot).await?;
        let (table, overflow) = parse_result(q, fetched.status, &fetched.body)?;
        if let Some(c) = &self.cache {
            c.put(
                &key,
                &format!("TAP {} {}", q.service_name, q.adql),
                &fetched.body,
            );
        }
        let (table, overflow, note) = within_maxrec(q, table, overflow);
        fetched.notes.extend(note);
        Ok(Answer {
            table,
            overflow,
            requests: call.requests.load(Ordering::Relaxed),
            cache_hit: false,
            job: fetched.job,
            ask: q.ask_key(),
            notes: fetched.notes,
        })
    }
}

/// One query on the wire, counting its own requests.
struct Call<'a> {
    http: &'a Http,
    q: &'a Query,
    polling: Polling,
    requests: AtomicU64,
}

impl Call<'_> {
    async fn send(&self, req: &Request) -> Result<super::http::Response, HttpError> {
        let r = self.http.send(req).await;
        let n = r.as_ref().map_or(1, |r| u64::from(r.attempts));
        self.requests.fetch_add(n, Ordering::Relaxed);
        r
    }

    fn http_error(&self, source: HttpError) -> TapError {
        TapError::Http {
            service: self.q.service.clone(),
            source,
        }
    }

    fn job_error_detail(&self, job: &str, detail: String, body: &[u8]) -> TapError {
        TapError::Job {
            service: self.q.service.clone(),
            detail: format!("job {job}: {detail}: {}", excerpt(body)),
        }
    }

    async fn fetch(&self, slot: Option<&JobSlot>) -> Result<Fetched, TapError> {
        match self.q.mode {
            Mode::Sync => self.sync().await,
            Mode::Async => self.run_async(slot).await,
            Mode::Auto => match self.sync().await {
                Err(TapError::SyncTimeout { after, .. }) => {
                    let mut f = self.run_async(slot).await?;
                    f.notes.insert(
                        0,
                        format!(
                            "the sync query timed out after {}s; ran it as an async job",
                            after.as_secs()
                        ),
                    );
                    Ok(f)
                }
                other => other,
            },
        }
    }

    async fn sync(&self) -> Result<Fetched, TapError> {
        let q = self.q;
        // In `auto` mode a timeout (or the gateway's 504) means "go async",
        // not "try the same again"; in `sync` mode 502/503/504 are retried.
        let req = Request {
            auth: true,
            timeout: Some(q.sync_timeout),
            give_up_on_timeout: q.mode == Mode::Auto,
            ..Request::post_form(format!("{}/sync", q.service), q.params())
        };
        match self.send(&req).await {
            Ok(r) => Ok(Fetched {
                status: r.status,
                body: r.body,
                job: None,
                notes: Vec::new(),
            }),
            Err(HttpError::TimedOut { .. }) | Err(HttpError::Status { status: 504, .. }) => {
                Err(TapError::SyncTimeout {
                    service: q.service.clone(),
                    after: q.sync_timeout,
                })
            }
            // An error status may still carry a VOTable error document.
            Err(HttpError::Status { status, body, .. }) if looks_like_xml(body.as_bytes()) => {
                Ok(Fetched {
                    status,
                    body: body.into_bytes(),
                    job: None,
                    notes: Vec::new(),
                })
            }
            Err(e) => Err(self.http_error(e)),
        }
    }

    /// The journalled job of this query, if the service still runs or holds it.
    async fn resumable(
        &self,
        slot: Option<&JobSlot>,
        key: &str,
        notes: &mut Vec<String>,
    ) -> Option<(String, uws::JobDoc)> {
        let job = slot.and_then(|s| s.journal.find(&s.slot, key))?;
        match self.job_doc(&job).await {
            Ok(doc) if matches!(doc.phase, Phase::Error | Phase::Aborted | Phase::Archived) => {
                notes.push(format!(
                    "the journalled job {job} had ended {}; submitted the query again",
                    doc.phase.as_str()
                ));
                None
            }
            Ok(doc) => {
                notes.push(format!(
                    "resumed job {job} ({}) from an interrupted run",
                    doc.phase.as_str()
                ));
                Some((job, doc))
            }
            Err(_) => {
                notes.push(format!(
                    "the journalled job {job} is gone; submitted the query again"
                ));
                None
            }
        }
    }

    /// Create (or resume) the job, run it, wait, fetch its result, delete it.
    async fn run_async(&self, slot: Option<&JobSlot>) -> Result<Fetched, TapError> {
        let key = self.q.ask_key();
        let mut notes = Vec::new();
        let (job, mut doc) = match self.resumable(slot, &key, &mut notes).await {
            Some(r) => r,
            None => {
                let job = self.create().await?;
                if let Some(s) = slot {
                    s.journal.record(&s.slot, &key, &job);
                }
                let doc = uws::JobDoc {
                    job_id: None,
                    phase: Phase::Pending,
                    error: None,
                    results: Vec::new(),
                };
                (job, doc)
            }
        };
        let outcome = self.drive(&job, &mut doc).await;
        // The job is finished with unless the service could not be reached:
        // then it stays journalled for the next run.
        let finished = !matches!(&outcome, Err(TapError::Http { .. } | TapError::Job { .. }));
        if finished {
            // Polite: the service would keep results for days otherwise.
            if self.delete(&job).await.is_err() {
                notes.push(format!("could not delete job {job}"));
            }
            if let Some(s) = slot {
                s.journal.remove(&s.slot);
            }
        }
        let (status, body) = outcome?;
        Ok(Fetched {
            status,
            body,
            job: Some(job),
            notes,
        })
    }

    /// `POST <service>/async`; the job URL is the `Location` of the 303.
    async fn create(&self) -> Result<String, TapError> {
        let q = self.q;
        let url = format!("{}/async", q.service);
        let req = Request {
            auth: true,
            follow_redirects: false,
            ..Request::post_form(url.clone(), q.params())
        };
        let r = self.send(&req).await.map_err(|e| self.http_error(e))?;
        let loc = r
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|_| (300..400).contains(&r.status));
        let Some(loc) = loc else {
            if let Some(message) = votable::read_document(r.body.as_slice(), &q.service)
                .ok()
                .and_then(|d| error_message(&d))
            {
                return Err(TapError::Query {
                    service: q.service.clone(),
                    message,
                });
            }
            return Err(TapError::Job {
                service: q.service.clone(),
                detail: format!(
                    "creating the async job answered HTTP {} without a Location: {}",
                    r.status,
                    excerpt(&r.body)
                ),
            });
        };
        reqwest::Url::parse(&url)
            .and_then(|base| base.join(loc))
            .map(|u| u.to_string())
            .map_err(|_| TapError::Job {
                service: q.service.clone(),
                detail: format!("bad job Location `{loc}`"),
            })
    }

    async fn post_phase(&self, job: &str, phase: &str) -> Result<(), TapError> {
        let req = Request {
            auth: true,
            follow_redirects: false,
            ..Request::post_form(format!("{job}/phase"), vec![("PHASE".into(), phase.into())])
        };
        self.send(&req)
            .await
            .map(|_| ())
            .map_err(|e| self.http_error(e))
    }

    async fn job_doc(&self, url: &str) -> Result<uws::JobDoc, TapError> {
        self.poll(url, url, Duration::from_secs(60)).await
    }

    /// GET a job document (`url` may carry WAIT and PHASE).
    async fn poll(&self, job: &str, url: &str, timeout: Duration) -> Result<uws::JobDoc, TapError> {
        let req = Request {
            auth: true,
            timeout: Some(timeout),
            ..Request::get(url)
        };
        let r = self.send(&req).await.map_err(|e| self.http_error(e))?;
        uws::parse_job(&r.body).map_err(|d| self.job_error_detail(job, d, &r.body))
    }

    /// Run the job to a final phase and return the result (or the error).
    async fn drive(&self, job: &str, doc: &mut uws::JobDoc) -> Result<(u16, Vec<u8>), TapError> {
        let q = self.q;
        let start = Instant::now();
        let mut wait = self.polling.first;
        if matches!(doc.phase, Phase::Pending | Phase::Held) {
            self.post_phase(job, "RUN").await?;
        }
        while !doc.phase.is_final() {
            let elapsed = start.elapsed();
            if elapsed >= q.deadline {
                let _ = self.post_phase(job, "ABORT").await;
                return Err(TapError::Deadline {
                    job: job.to_string(),
                    phase: doc.phase.as_str(),
                    after: elapsed,
                });
            }
            let w = wait.min(q.deadline - elapsed).max(Duration::from_secs(1));
            let t0 = Instant::now();
            let url = format!("{job}?WAIT={}&PHASE={}", w.as_secs(), doc.phase.as_str());
            let next = self.poll(job, &url, w + Duration::from_secs(60)).await?;
            let changed = next.phase != doc.phase;
            *doc = next;
            if matches!(doc.phase, Phase::Pending | Phase::Held) {
                // Our RUN was lost, or the service held the job: ask again.
                self.post_phase(job, "RUN").await?;
            }
            if !changed {
                // A service that ignores WAIT answers at once: keep the pace.
                if let Some(rest) = w.checked_sub(t0.elapsed()) {
                    tokio::time::sleep(rest).await;
                }
                wait = Duration::from_secs_f64(wait.as_secs_f64() * self.polling.factor)
                    .min(self.polling.max);
            }
        }
        match doc.phase {
            Phase::Completed => self.result(job, doc).await,
            Phase::Error => Err(TapError::Query {
                service: q.service.clone(),
                message: self.job_error(job, doc).await,
            }),
            _ => Err(TapError::Aborted {
                job: job.to_string(),
            }),
        }
    }

    async fn result(&self, job: &str, doc: &uws::JobDoc) -> Result<(u16, Vec<u8>), TapError> {
        let href = doc
            .result_href()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{job}/results/result"));
        let url = reqwest::Url::parse(job)
            .and_then(|b| b.join(&href))
            .map(|u| u.to_string())
            .unwrap_or(href);
        let req = Request {
            auth: true,
            ..Request::get(url)
        };
        match self.send(&req).await {
            Ok(r) => Ok((r.status, r.body)),
            Err(HttpError::Status { status, body, .. }) if looks_like_xml(body.as_bytes()) => {
                Ok((status, body.into_bytes()))
            }
            Err(e) => Err(self.http_error(e)),
        }
    }

    /// The error of a failed job: `GET <job>/error`, else the summary.
    async fn job_error(&self, job: &str, doc: &uws::JobDoc) -> String {
        let req = Request {
            auth: true,
            ..Request::get(format!("{job}/error"))
        };
        let detail = match self.send(&req).await {
            Ok(r) => votable::read_document(r.body.as_slice(), &self.q.service)
                .ok()
                .and_then(|d| error_message(&d))
                .or_else(|| {
                    let t = String::from_utf8_lossy(&r.body).trim().to_string();
                    (!t.is_empty() && !looks_like_xml(t.as_bytes())).then_some(t)
                }),
            Err(_) => None,
        };
        detail
            .or_else(|| doc.error.clone())
            .unwrap_or_else(|| "the job ended in ERROR without a message".into())
    }

    async fn delete(&self, job: &str) -> Result<(), HttpError> {
        let req = Request {
            auth: true,
            follow_redirects: false,
            ..Request::delete(job)
        };
        self.send(&req).await.map(|_| ())
    }
}

fn looks_like_xml(b: &[u8]) -> bool {
    let t = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    t.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|&c| c == b'<')
}

fn excerpt(b: &[u8]) -> String {
    let t = String::from_utf8_lossy(b);
    let t = t.trim();
    let cut: String = t.chars().take(200).collect();
    if cut.len() < t.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// The message of a `QUERY_STATUS=ERROR` document.
fn error_message(doc: &votable::VotableDocument) -> Option<String> {
    let s = doc.query_status.as_ref()?;
    s.value.eq_ignore_ascii_case("ERROR").then(|| {
        s.message
            .clone()
            .unwrap_or_else(|| "QUERY_STATUS=ERROR without a message".into())
    })
}

/// Read a result body: a VOTable decided by its last QUERY_STATUS, or CSV.
fn parse_result(q: &Query, status: u16, body: &[u8]) -> Result<(Table, bool), TapError> {
    if looks_like_xml(body) {
        let doc = votable::read_document(body, &q.service).map_err(|e| TapError::Format {
            service: q.service.clone(),
            status,
            detail: e.to_string(),
            excerpt: excerpt(body),
        })?;
        if let Some(message) = error_message(&doc) {
            return Err(TapError::Query {
                service: q.service.clone(),
                message,
            });
        }
        let overflow = doc
            .query_status
            .as_ref()
            .is_some_and(|s| s.value.eq_ignore_ascii_case("OVERFLOW"));
        let table = doc.read.map(|r| r.table).ok_or_else(|| TapError::Format {
            service: q.service.clone(),
            status,
            detail: "the VOTable holds no results TABLE".into(),
            excerpt: excerpt(body),
        })?;
        return Ok((table, overflow));
    }
    if q.format == Format::Csv && (200..300).contains(&status) {
        let table = crate::table::io::read_bytes(body, crate::table::io::Format::Csv, &q.service)
            .map_err(|e| TapError::Format {
            service: q.service.clone(),
            status,
            detail: e.to_string(),
            excerpt: excerpt(body),
        })?;
        return Ok(csv_overflow(table, q.maxrec));
    }
    Err(TapError::Format {
        service: q.service.clone(),
        status,
        detail: "not a VOTable".into(),
        excerpt: excerpt(body),
    })
}

/// An answer that may mean "not this RESPONSEFORMAT": an error document,
/// or a 4xx that is not a result.
fn refuses_format(e: &TapError) -> bool {
    match e {
        TapError::Query { .. } => true,
        TapError::Format { status, .. } => (400..500).contains(status),
        _ => false,
    }
}

/// At most MAXREC rows: DaCHS's async jobs return MAXREC+1 when they
/// overflow; the extra rows are dropped and the result counts as truncated.
fn within_maxrec(q: &Query, table: Table, overflow: bool) -> (Table, bool, Option<String>) {
    match q.maxrec {
        Some(m) if table.num_rows() as u64 > m && q.format != Format::Csv => {
            let note = format!(
                "the service returned {} rows for MAXREC={m}; kept the first {m}",
                table.num_rows()
            );
            (csv_overflow(table, Some(m)).0, true, Some(note))
        }
        _ => (table, overflow, None),
    }
}

/// CSV has no overflow flag: MAXREC+1 was asked for, so a row beyond MAXREC
/// means truncation; it is dropped (as are rows beyond MAXREC of a service
/// that sends too many).
fn csv_overflow(table: Table, maxrec: Option<u64>) -> (Table, bool) {
    match maxrec {
        Some(m) if table.num_rows() as u64 > m => {
            let idx: Vec<usize> = (0..m as usize).collect();
            (table.take(&idx), true)
        }
        _ => (table, false),
    }
}

#[cfg(test)]
mod tests;
