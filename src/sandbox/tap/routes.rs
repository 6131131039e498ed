//! HTTP handlers of the TAP service under [`BASE_PATH`]: `sync` (GET, POST),
//! `async` (UWS job list, job creation, every job resource) and the VOSI
//! documents. Faults apply as on every sandbox route (routes `tap-sync`,
//! `tap-async`, `tap-vosi`); requests are counted by `sandbox::http`.

use super::uws::{self, Job, Phase, job_xml, jobs_xml, parameters_xml, results_xml};
use super::{Answer, BASE_PATH, Params, catalog, execute, output, vosi};
use crate::sandbox::faults::FaultSpec;
use crate::sandbox::http::{AppState, Payload, base_url, deliver, prelude};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;

type S = State<Arc<AppState>>;

/// The `Server` header of TAP responses.
const SERVER: &str = concat!("mastflow-sandbox/", env!("CARGO_PKG_VERSION"));

/// The TAP routes (merged into the sandbox router).
pub fn router() -> Router<Arc<AppState>> {
    let p = |leaf: &str| format!("{BASE_PATH}{leaf}");
    Router::new()
        .route(&p("/sync"), get(sync).post(sync))
        .route(&p("/async"), get(job_list).post(create))
        .route(
            &p("/async/{id}"),
            get(job).post(job_post).delete(job_delete),
        )
        .route(&p("/async/{id}/results/result"), get(result))
        .route(&p("/async/{id}/{leaf}"), get(job_leaf).post(job_leaf_post))
        .route(&p("/capabilities"), get(capabilities))
        .route(&p("/tables"), get(tables))
        .route(&p("/availability"), get(availability))
}

fn service_url(headers: &HeaderMap) -> String {
    format!("{}{BASE_PATH}", base_url(headers))
}

fn job_url(headers: &HeaderMap, id: &str) -> String {
    format!("{}/async/{id}", service_url(headers))
}

fn params(q: Option<&str>, body: &[u8]) -> Params {
    Params::from_forms(&[q.unwrap_or("").as_bytes(), body])
}

/// A response of `status` with `content_type`, through the fault layer.
fn reply(spec: &FaultSpec, status: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    let ct = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain"));
    r.headers_mut().insert(header::CONTENT_TYPE, ct);
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static(SERVER));
    deliver(spec, Payload::Bytes(body), r)
}

fn xml_reply(spec: &FaultSpec, body: String) -> Response {
    reply(
        spec,
        StatusCode::OK,
        "text/xml; charset=utf-8",
        body.into_bytes(),
    )
}

fn text(spec: &FaultSpec, body: impl Into<String>) -> Response {
    reply(
        spec,
        StatusCode::OK,
        "text/plain; charset=utf-8",
        body.into().into_bytes(),
    )
}

fn see_other(url: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static(SERVER));
    if let Ok(v) = HeaderValue::from_str(url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// An HTTP error with a VOTable error document (unknown job, bad request).
fn http_error(spec: &FaultSpec, status: StatusCode, message: &str) -> Response {
    reply(spec, status, "text/xml", output::error_doc(message))
}

fn no_job(spec: &FaultSpec, id: &str) -> Response {
    http_error(spec, StatusCode::NOT_FOUND, &format!("No such job: {id}"))
}

// ---------------------------------------------------------------- sync

/// `GET|POST sync`: the result document, or an error document (HTTP 200).
async fn sync(State(st): S, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let spec = match prelude(&st, "tap-sync", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let answer = match &spec.error {
        Some(msg) => Answer::error(msg),
        None => {
            let p = params(q.as_deref(), &body);
            let archive = st.archive.clone();
            let base = base_url(&headers);
            tokio::task::spawn_blocking(move || execute(&p, &archive, &base))
                .await
                .unwrap_or_else(|_| Answer::error("Internal error while running the query."))
        }
    };
    reply(&spec, StatusCode::OK, &answer.content_type, answer.body)
}

// ---------------------------------------------------------------- async

async fn job_list(State(st): S, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = params(q.as_deref(), b"");
    let url = format!("{}/async", service_url(&headers));
    xml_reply(&spec, jobs_xml(&st.tap.jobs.list(), &url, &q))
}

fn exec_delay(spec: &FaultSpec) -> Option<Duration> {
    spec.tap_exec_ms.map(Duration::from_millis)
}

/// `POST async`: a PENDING job (RUN at once with `PHASE=RUN`), 303 to it.
async fn create(State(st): S, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut p = params(q.as_deref(), &body);
    let run = p
        .get("PHASE")
        .is_some_and(|v| v.eq_ignore_ascii_case("RUN"));
    p.0.retain(|(k, _)| k != "phase");
    let delay = exec_delay(&spec).unwrap_or_default();
    let id = st.tap.jobs.create(p, &base_url(&headers), delay);
    if run {
        st.tap.jobs.run(&id, st.archive.clone(), None);
    }
    see_other(&job_url(&headers, &id))
}

/// `GET <job>[?WAIT=s[&PHASE=p]]`: the job document, after blocking.
async fn job(
    State(st): S,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = params(q.as_deref(), b"");
    let wait = q.get("WAIT").and_then(|w| w.trim().parse::<i64>().ok());
    let seen = q.get("PHASE").and_then(Phase::parse);
    let found = match wait {
        Some(w) if w != 0 => {
            let d = if w < 0 {
                uws::MAX_WAIT
            } else {
                Duration::from_secs(w as u64)
            };
            st.tap.jobs.wait(&id, d, seen).await
        }
        _ => st.tap.jobs.get(&id),
    };
    match found {
        Some(j) => xml_reply(&spec, job_xml(&j, &job_url(&headers, &id))),
        None => no_job(&spec, &id),
    }
}

/// `POST <job>` with `ACTION=DELETE`.
async fn job_post(
    State(st): S,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let p = params(q.as_deref(), &body);
    if !p
        .get("ACTION")
        .is_some_and(|a| a.eq_ignore_ascii_case("DELETE"))
    {
        return http_error(
            &spec,
            StatusCode::BAD_REQUEST,
            "POST to a job needs ACTION=DELETE (parameters go to <job>/parameters)",
        );
    }
    delete_reply(&st, &spec, &headers, &id)
}

fn delete_reply(st: &AppState, spec: &FaultSpec, headers: &HeaderMap, id: &str) -> Response {
    if !st.tap.jobs.delete(id) {
        return no_job(spec, id);
    }
    see_other(&format!("{}/async", service_url(headers)))
}

async fn job_delete(State(st): S, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    delete_reply(&st, &spec, &headers, &id)
}

/// `GET <job>/results/result`: the result (or error) document once finished.
async fn result(State(st): S, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(j) = st.tap.jobs.get(&id) else {
        return no_job(&spec, &id);
    };
    match (&j.result, j.phase) {
        (Some(a), Phase::Completed) => {
            reply(&spec, StatusCode::OK, &a.content_type, a.body.clone())
        }
        _ => http_error(
            &spec,
            StatusCode::NOT_FOUND,
            &format!("Job {id} has no result (phase {})", j.phase.as_str()),
        ),
    }
}

/// `GET <job>/{phase,parameters,results,error,executionduration,destruction,quote,owner}`.
async fn job_leaf(
    State(st): S,
    Path((id, leaf)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(j) = st.tap.jobs.get(&id) else {
        return no_job(&spec, &id);
    };
    match leaf.as_str() {
        "phase" => text(&spec, j.phase.as_str()),
        "parameters" => xml_reply(&spec, parameters_xml(&j, true)),
        "results" => xml_reply(&spec, results_xml(&j, &job_url(&headers, &id), true)),
        "error" => error_leaf(&spec, &j),
        "executionduration" => text(&spec, j.execution_duration.to_string()),
        "destruction" => text(&spec, uws::iso(j.destruction)),
        "quote" => text(&spec, uws::iso(j.created)),
        "owner" => text(&spec, ""),
        other => http_error(
            &spec,
            StatusCode::NOT_FOUND,
            &format!("No job resource '{other}'"),
        ),
    }
}

fn error_leaf(spec: &FaultSpec, j: &Job) -> Response {
    match (j.phase, &j.result) {
        (Phase::Error, Some(a)) => reply(spec, StatusCode::OK, &a.content_type, a.body.clone()),
        (Phase::Aborted, _) => reply(
            spec,
            StatusCode::OK,
            "text/xml",
            output::error_doc("The job was aborted"),
        ),
        _ => http_error(
            spec,
            StatusCode::NOT_FOUND,
            &format!("Job {} has no error (phase {})", j.id, j.phase.as_str()),
        ),
    }
}

/// `POST <job>/{phase,parameters,executionduration,destruction}`: 303 to the job.
async fn job_leaf_post(
    State(st): S,
    Path((id, leaf)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match prelude(&st, "tap-async", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let p = params(q.as_deref(), &body);
    let Some(j) = st.tap.jobs.get(&id) else {
        return no_job(&spec, &id);
    };
    let outcome = match leaf.as_str() {
        "phase" => post_phase(&st, &spec, &j, &p),
        "parameters" => post_parameters(&st, &j, &p),
        "executionduration" => post_number(&st, &j, &p),
        "destruction" => post_destruction(&st, &j, &p),
        other => Err(format!("No job resource '{other}' accepts POST")),
    };
    match outcome {
        Ok(()) => see_other(&job_url(&headers, &id)),
        Err(e) => http_error(&spec, StatusCode::BAD_REQUEST, &e),
    }
}

fn post_phase(st: &AppState, spec: &FaultSpec, j: &Job, p: &Params) -> Result<(), String> {
    match p
        .get("PHASE")
        .map(|v| v.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("RUN") => {
            st.tap.jobs.run(&j.id, st.archive.clone(), exec_delay(spec));
            Ok(())
        }
        Some("ABORT") => {
            st.tap.jobs.abort(&j.id);
            Ok(())
        }
        other => Err(format!(
            "PHASE must be RUN or ABORT, not '{}'",
            other.unwrap_or("")
        )),
    }
}

fn post_parameters(st: &AppState, j: &Job, p: &Params) -> Result<(), String> {
    if j.phase != Phase::Pending {
        return Err(format!(
            "Parameters cannot be changed in phase {}",
            j.phase.as_str()
        ));
    }
    st.tap.jobs.update(&j.id, |job| {
        for (k, v) in &p.0 {
            job.params.set(k, v);
        }
    });
    Ok(())
}

fn post_number(st: &AppState, j: &Job, p: &Params) -> Result<(), String> {
    let v = p.get("EXECUTIONDURATION").unwrap_or("");
    let n: u64 = v
        .trim()
        .parse()
        .map_err(|_| format!("EXECUTIONDURATION must be a number of seconds, not '{v}'"))?;
    st.tap.jobs.update(&j.id, |job| {
        job.execution_duration = n.min(uws::EXECUTION_DURATION)
    });
    Ok(())
}

fn post_destruction(st: &AppState, j: &Job, p: &Params) -> Result<(), String> {
    let v = p.get("DESTRUCTION").unwrap_or("");
    let t = uws::parse_iso(v)
        .ok_or_else(|| format!("DESTRUCTION must be an ISO 8601 time, not '{v}'"))?;
    let latest = j.created + uws::RETENTION;
    st.tap
        .jobs
        .update(&j.id, |job| job.destruction = t.min(latest));
    Ok(())
}

// ---------------------------------------------------------------- VOSI

async fn capabilities(State(st): S, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "tap-vosi", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    xml_reply(&spec, vosi::capabilities(&service_url(&headers)))
}

async fn tables(State(st): S, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "tap-vosi", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    xml_reply(&spec, vosi::tables(catalog::catalog()))
}

async fn availability(State(st): S, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "tap-vosi", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    xml_reply(&spec, vosi::availability(&uws::iso(st.started)))
}
