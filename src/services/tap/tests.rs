//! The client against a scripted TAP server that behaves as DaCHS does
//! (recorded DaCHS documents; errors with HTTP 200; `PHASE=RUN` in the
//! creating POST ignored; 303 everywhere) plus MAST's gateway 504.

use super::*;
use crate::services::http::HttpConfig;
use axum::extract::{Form, Path as UrlPath, Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Mutex;

const CONE: &str = include_str!("../../../tests/fixtures/tap/cone.td.xml");
const ERROR: &str = include_str!("../../../tests/fixtures/tap/error.xml");
const OVERFLOW: &str = include_str!("../../../tests/fixtures/tap/overflow.xml");

#[derive(Default)]
struct Server {
    base: Mutex<String>,
    /// job id → (phase, query, polls while EXECUTING before completing)
    jobs: Mutex<HashMap<String, (String, String, u32)>>,
    log: Mutex<Vec<String>>,
    created: Mutex<u32>,
    /// Polls a job stays EXECUTING.
    exec_polls: u32,
}

type S = State<Arc<Server>>;

fn log(st: &Server, line: String) {
    st.log.lock().unwrap().push(line);
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to.to_string())],
        "",
    )
        .into_response()
}

fn answer(query: &str, params: &HashMap<String, String>) -> Response {
    if query.contains("nope") {
        xml(ERROR.to_string())
    } else if params.contains_key("MAXREC") && query.contains("overflow") {
        xml(OVERFLOW.to_string())
    } else {
        xml(CONE.to_string())
    }
}

async fn sync(State(st): S, Form(p): Form<HashMap<String, String>>) -> Response {
    let q = p.get("QUERY").cloned().unwrap_or_default();
    log(&st, format!("sync {q}"));
    if q.contains("slow") {
        return (
            StatusCode::GATEWAY_TIMEOUT,
            "<html>504 Gateway Time-out</html>",
        )
            .into_response();
    }
    answer(&q, &p)
}

async fn create(State(st): S, Form(p): Form<HashMap<String, String>>) -> Response {
    let q = p.get("QUERY").cloned().unwrap_or_default();
    let n = {
        let mut c = st.created.lock().unwrap();
        *c += 1;
        *c
    };
    let id = format!("j{n}");
    log(&st, format!("create {id} phase={:?}", p.get("PHASE")));
    // DaCHS ignores PHASE=RUN here: the job stays PENDING.
    st.jobs
        .lock()
        .unwrap()
        .insert(id.clone(), ("PENDING".into(), q, st.exec_polls));
    let base = st.base.lock().unwrap().clone();
    see_other(&format!("{base}/run/async/{id}"))
}

fn job_xml(st: &Server, id: &str, phase: &str) -> String {
    let base = st.base.lock().unwrap().clone();
    let results = if phase == "COMPLETED" {
        format!(
            "<uws:results><uws:result id=\"result\" xlink:href=\"{base}/run/async/{id}/results/result\"/></uws:results>"
        )
    } else {
        "<uws:results/>".into()
    };
    let error = if phase == "ERROR" {
        "<uws:errorSummary type=\"fatal\"><uws:message>Field query: No such field known</uws:message></uws:errorSummary>"
    } else {
        ""
    };
    format!(
        "<uws:job version=\"1.1\" xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"><uws:jobId>{id}</uws:jobId><uws:phase>{phase}</uws:phase>{results}{error}</uws:job>"
    )
}

async fn job(
    State(st): S,
    UrlPath(id): UrlPath<String>,
    UrlQuery(p): UrlQuery<HashMap<String, String>>,
) -> Response {
    log(&st, format!("get {id} wait={:?}", p.get("WAIT")));
    let phase = {
        let mut jobs = st.jobs.lock().unwrap();
        let Some(j) = jobs.get_mut(&id) else {
            return (StatusCode::NOT_FOUND, "unknown job").into_response();
        };
        if j.0 == "EXECUTING" {
            if j.2 == 0 {
                j.0 = if j.1.contains("nope") {
                    "ERROR"
                } else {
                    "COMPLETED"
                }
                .into();
            } else {
                j.2 -= 1;
            }
        }
        j.0.clone()
    };
    xml(job_xml(&st, &id, &phase))
}

async fn phase(
    State(st): S,
    UrlPath(id): UrlPath<String>,
    Form(p): Form<HashMap<String, String>>,
) -> Response {
    let want = p.get("PHASE").cloned().unwrap_or_default();
    log(&st, format!("phase {id} {want}"));
    if let Some(j) = st.jobs.lock().unwrap().get_mut(&id) {
        j.0 = match want.as_str() {
            "RUN" if j.0 == "PENDING" => "EXECUTING".into(),
            "ABORT" => "ABORTED".into(),
            _ => j.0.clone(),
        };
    }
    let base = st.base.lock().unwrap().clone();
    see_other(&format!("{base}/run/async/{id}"))
}

async fn result(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    log(&st, format!("result {id}"));
    let q = st.jobs.lock().unwrap().get(&id).map(|j| j.1.clone());
    answer(&q.unwrap_or_default(), &HashMap::new())
}

async fn error_doc(State(st): S, UrlPath(id): UrlPath<String>) -> Response {
    log(&st, format!("error {id}"));
    xml(ERROR.to_string())
}

async fn delete(State(st): S, UrlPath(id): UrlPath<String>, _h: HeaderMap) -> Response {
    log(&st, format!("delete {id}"));
    st.jobs.lock().unwrap().remove(&id);
    let base = st.base.lock().unwrap().clone();
    see_other(&format!("{base}/run/async"))
}

async fn start(exec_polls: u32) -> (String, Arc<Server>) {
    let st = Arc::new(Server {
        exec_polls,
        ..Server::default()
    });
    let app = axum::Router::new()
        .route("/tap/sync", post(sync))
        .route("/tap/async", post(create))
        .route("/run/async/{id}", get(job).delete(delete))
        .route("/run/async/{id}/phase", post(phase))
        .route("/run/async/{id}/results/result", get(result))
        .route("/run/async/{id}/error", get(error_doc))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *st.base.lock().unwrap() = base.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, st)
}

fn client() -> Tap {
    let http = Http::new(
        HttpConfig {
            retries: 1,
            backoff: Duration::from_millis(10),
            ..HttpConfig::default()
        },
        None,
    )
    .unwrap();
    Tap::new(Arc::new(http)).with_polling(Polling {
        first: Duration::from_secs(1),
        factor: 1.5,
        max: Duration::from_secs(2),
    })
}

fn query(base: &str, adql: &str, mode: Mode) -> Query {
    Query {
        service: format!("{base}/tap"),
        service_name: format!("{base}/tap"),
        adql: adql.into(),
        maxrec: None,
        format: Format::TableData,
        mode,
        sync_timeout: Duration::from_secs(30),
        deadline: Duration::from_secs(60),
    }
}

fn lines(st: &Server) -> Vec<String> {
    st.log.lock().unwrap().clone()
}

#[tokio::test]
async fn sync_reads_rows_and_an_error_served_with_200() {
    let (base, st) = start(0).await;
    let a = client()
        .query(&query(&base, "SELECT obs_id FROM t", Mode::Sync), None)
        .await
        .unwrap();
    assert!(a.table.num_rows() > 0 && !a.overflow && a.job.is_none());
    assert_eq!(a.requests, 1);
    let e = client()
        .query(&query(&base, "SELECT nope FROM t", Mode::Sync), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TapError::Query { message, .. } if message.contains("No such field known")),
        "{e}"
    );
    let mut q = query(&base, "SELECT overflow FROM t", Mode::Sync);
    q.maxrec = Some(5);
    let a = client().query(&q, None).await.unwrap();
    assert!(a.overflow, "the trailing OVERFLOW wins over the leading OK");
    assert_eq!(lines(&st).len(), 3);
}

#[tokio::test]
async fn async_creates_runs_at_phase_waits_fetches_and_deletes() {
    let (base, st) = start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(journal::Journal::open(&dir.path().join("run.jobs.json")));
    let slot = JobSlot {
        journal: journal.clone(),
        slot: "obs".into(),
    };
    let a = client()
        .query(
            &query(&base, "SELECT obs_id FROM t", Mode::Async),
            Some(&slot),
        )
        .await
        .unwrap();
    assert!(a.table.num_rows() > 0);
    assert!(a.job.as_deref().unwrap().ends_with("/run/async/j1"));
    let log = lines(&st);
    assert_eq!(log[0], "create j1 phase=None", "{log:?}");
    assert_eq!(log[1], "phase j1 RUN", "RUN goes to <job>/phase: {log:?}");
    assert!(
        log.iter().any(|l| l.starts_with("get j1 wait=Some")),
        "{log:?}"
    );
    assert_eq!(log[log.len() - 2], "result j1");
    assert_eq!(log[log.len() - 1], "delete j1");
    assert!(
        journal.entries().is_empty(),
        "a finished job leaves the journal"
    );
}

#[tokio::test]
async fn a_failed_job_reports_the_services_message() {
    let (base, st) = start(0).await;
    let e = client()
        .query(&query(&base, "SELECT nope FROM t", Mode::Async), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, TapError::Query { message, .. } if message.contains("No such field known")),
        "{e}"
    );
    let log = lines(&st);
    assert!(
        log.contains(&"error j1".to_string()) && log.contains(&"delete j1".to_string()),
        "{log:?}"
    );
}

#[tokio::test]
async fn auto_goes_async_after_a_gateway_timeout() {
    let (base, st) = start(0).await;
    let a = client()
        .query(&query(&base, "SELECT slow FROM t", Mode::Auto), None)
        .await
        .unwrap();
    assert!(a.job.is_some());
    assert!(a.notes[0].contains("timed out"), "{:?}", a.notes);
    let log = lines(&st);
    assert_eq!(
        log.iter().filter(|l| l.starts_with("sync")).count(),
        1,
        "a 504 is not retried in auto mode: {log:?}"
    );
    // In sync mode the 504 is retried (here once), then it is the answer.
    let before = lines(&st).len();
    let e = client()
        .query(&query(&base, "SELECT slow FROM t", Mode::Sync), None)
        .await
        .unwrap_err();
    assert!(matches!(e, TapError::SyncTimeout { .. }), "{e}");
    assert_eq!(lines(&st).len() - before, 2, "one retry of the 504");
}

#[tokio::test]
async fn a_journalled_job_is_resumed_not_resubmitted() {
    let (base, st) = start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jobs.json");
    let q = query(&base, "SELECT obs_id FROM t", Mode::Async);
    // An earlier run created and started the job, then was killed.
    let job = format!("{base}/run/async/j7");
    st.jobs
        .lock()
        .unwrap()
        .insert("j7".into(), ("EXECUTING".into(), q.adql.clone(), 1));
    journal::Journal::open(&path).record("obs", &q.ask_key(), &job);
    let slot = JobSlot {
        journal: Arc::new(journal::Journal::open(&path)),
        slot: "obs".into(),
    };
    let a = client().query(&q, Some(&slot)).await.unwrap();
    assert_eq!(a.job.as_deref(), Some(job.as_str()));
    assert!(
        a.notes.iter().any(|n| n.contains("resumed job")),
        "{:?}",
        a.notes
    );
    let log = lines(&st);
    assert!(!log.iter().any(|l| l.starts_with("create")), "{log:?}");
    assert!(!path.exists());
    // A journalled job the server forgot is submitted again.
    journal::Journal::open(&path).record("obs", &q.ask_key(), &format!("{base}/run/async/gone"));
    let slot = JobSlot {
        journal: Arc::new(journal::Journal::open(&path)),
        slot: "obs".into(),
    };
    let a = client().query(&q, Some(&slot)).await.unwrap();
    assert!(
        a.notes.iter().any(|n| n.contains("is gone")),
        "{:?}",
        a.notes
    );
    assert!(lines(&st).iter().any(|l| l.starts_with("create")));
}

#[tokio::test]
async fn a_job_past_its_deadline_is_aborted() {
    let (base, st) = start(1000).await;
    let mut q = query(&base, "SELECT obs_id FROM t", Mode::Async);
    q.deadline = Duration::from_secs(2);
    let e = client().query(&q, None).await.unwrap_err();
    assert!(matches!(e, TapError::Deadline { .. }), "{e}");
    let log = lines(&st);
    assert!(log.contains(&"phase j1 ABORT".to_string()), "{log:?}");
    assert!(log.contains(&"delete j1".to_string()), "{log:?}");
}

#[test]
fn csv_detects_truncation_with_one_row_more() {
    let q = Query {
        format: Format::Csv,
        maxrec: Some(2),
        ..query("http://x", "SELECT a FROM t", Mode::Sync)
    };
    assert_eq!(q.maxrec_sent(), Some(3));
    let (t, over) = parse_result(&q, 200, b"a\n1\n2\n3\n").unwrap();
    assert!(over);
    assert_eq!(t.num_rows(), 2);
    let (t, over) = parse_result(&q, 200, b"a\n1\n2\n").unwrap();
    assert!(!over && t.num_rows() == 2);
}

#[test]
fn a_body_that_is_not_a_result_is_quoted_with_its_status() {
    let q = query("http://x", "SELECT a FROM t", Mode::Sync);
    let e = parse_result(&q, 502, b"<html><body>Bad Gateway</body></html>").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("HTTP 502") && text.contains("Bad Gateway"),
        "{text}"
    );
    let e = parse_result(&q, 200, b"File does not appear to be a VOTABLE").unwrap_err();
    assert!(e.to_string().contains("not a VOTable"), "{e}");
}

#[test]
fn keys_ignore_the_host_for_locks_but_not_for_the_cache() {
    let a = query("http://one", "SELECT a FROM t", Mode::Sync);
    let mut b = query("http://two", "SELECT a FROM t", Mode::Async);
    b.service_name = a.service_name.clone();
    assert_eq!(
        a.ask_key(),
        b.ask_key(),
        "mode and host do not change the question"
    );
    assert_ne!(a.cache_key(), b.cache_key());
    let c = query("http://one", "SELECT b FROM t", Mode::Sync);
    assert_ne!(a.ask_key(), c.ask_key());
}

#[test]
fn never_more_than_maxrec_rows() {
    let t =
        crate::table::io::read_bytes(b"a\n1\n2\n3\n", crate::table::io::Format::Csv, "t").unwrap();
    let mut q = query("http://x", "SELECT a FROM t", Mode::Async);
    q.maxrec = Some(2);
    let (t2, over, note) = within_maxrec(&q, t.clone(), false);
    assert_eq!((t2.num_rows(), over), (2, true));
    assert!(note.unwrap().contains("returned 3 rows for MAXREC=2"));
    q.maxrec = Some(3);
    let (t3, over, note) = within_maxrec(&q, t, false);
    assert_eq!((t3.num_rows(), over, note), (3, false, None));
}
