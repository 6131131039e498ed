//! The axum routes: MAST's paths, request decoding (form field `request=`,
//! GET `?request=`), auth (`Authorization: token|Bearer`, cookie
//! `mast_token`), downloads with ranges, the missions search API, a request
//! counter (`/_sandbox/stats`), the request log (`/_sandbox/requests`),
//! strict checks (`strict`, unless lenient) and fault injection around
//! every response.
//! The TAP service's handlers live in `tap::routes` and are mounted here.

use super::data::{Archive, FileInfo};
use super::faults::{DEFAULT_ROW_CAP, FaultSpec};
use super::files::FileBytes;
use super::{colconf, missions, names, record, render, services, strict, tap};
use crate::wire::{MashupRequest, MissionSearchRequest, PathLookup, WhoAmI};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Header carrying a per-request fault spec.
pub const FAULT_HEADER: &str = "x-mastflow-fault";

/// Internal header: the request's path and query, set by the request
/// counter so `redirect-port` can send the client to the same place.
const PATH_HEADER: &str = "x-mastflow-sandbox-path";

/// Shared server state.
pub struct AppState {
    pub archive: Arc<Archive>,
    pub token: String,
    pub global: FaultSpec,
    pub latency_ms: u64,
    /// The TAP service's async jobs.
    pub tap: Arc<tap::Tap>,
    /// When the server started (VOSI availability `upSince`).
    pub started: time::OffsetDateTime,
    /// Refuse what MAST documents as wrong (`strict`); `false` is lenient.
    pub strict: bool,
    /// Every request served (`/_sandbox/requests`).
    pub requests: record::RequestLog,
    executing: Mutex<HashMap<String, u32>>,
    /// Requests being served, by Mashup service (else by path).
    in_flight: Mutex<HashMap<String, u64>>,
    faulted: AtomicU64,
    stats: Mutex<Stats>,
}

/// Requests served, by path (`/_sandbox/*` not counted).
#[derive(Debug, Default, Clone)]
struct Stats {
    requests: u64,
    by_path: std::collections::BTreeMap<String, u64>,
}

impl AppState {
    pub fn new(
        archive: Arc<Archive>,
        token: String,
        global: FaultSpec,
        latency_ms: u64,
    ) -> AppState {
        AppState {
            archive,
            token,
            global,
            latency_ms,
            tap: Arc::new(tap::Tap::default()),
            started: time::OffsetDateTime::now_utc(),
            strict: true,
            requests: record::RequestLog::default(),
            executing: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            faulted: AtomicU64::new(0),
            stats: Mutex::new(Stats::default()),
        }
    }
}

type S = State<Arc<AppState>>;

/// Every route the sandbox serves.
pub fn router(state: Arc<AppState>) -> Router {
    let invoke_r = get(invoke).post(invoke);
    let colconf_r = get(columns_config).post(columns_config);
    let file_r = get(download).head(download);
    Router::new()
        .route("/api/v0/invoke", invoke_r.clone())
        .route("/portal/Mashup/Mashup.asmx/invoke", invoke_r.clone())
        .route("/portal_jwst/Mashup/Mashup.asmx/invoke", invoke_r)
        .route(
            "/portal/Mashup/Mashup.asmx/columnsconfig",
            colconf_r.clone(),
        )
        .route("/portal_jwst/Mashup/Mashup.asmx/columnsconfig", colconf_r)
        .route("/api/v0.1/Download/file", file_r.clone())
        .route("/jwst/api/v0.1/Download/file", file_r.clone())
        .route("/jwst/api/v0.1/download/file", file_r.clone())
        .route("/portal_jwst/Download/file", file_r)
        .route("/api/v0.1/Download/bundle.sh", post(bundle).get(bundle))
        .route("/whoami", get(whoami))
        .route("/api/v0.1/path_lookup/", get(path_lookup))
        .route("/api/v0.1/path_lookup", get(path_lookup))
        .route("/Santa-war/query", get(santa))
        .route("/search/{mission}/api/v0.1/search", post(missions_search))
        .route(
            "/search/{mission}/api/v0.1/post_list_products",
            post(missions_products),
        )
        .route(
            "/search/{mission}/api/v0.1/list_products",
            get(missions_products),
        )
        .route(
            "/search/{mission}/api/v0.1/retrieve_product",
            get(retrieve_product).head(retrieve_product),
        )
        .route("/search/util/api/v0.1/column_list", get(column_list))
        .merge(tap::routes::router())
        .route("/_sandbox/info", get(info))
        .route("/_sandbox/expect", get(expect).post(expect))
        .route("/_sandbox/stats", get(stats).delete(stats_reset))
        .route("/_sandbox/requests", get(requests).delete(requests_clear))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .with_state(state)
}

/// Count and record every request but the sandbox's own debug endpoints.
async fn count_request(State(st): S, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/_sandbox/") {
        return next.run(req).await;
    }
    if let Ok(mut s) = st.stats.lock() {
        s.requests += 1;
        *s.by_path.entry(path.to_string()).or_default() += 1;
    }
    let (mut entry, mut req) = record::capture(req, &st.token).await;
    let here = req.uri().path_and_query().map(|p| p.as_str().to_string());
    if let Some(v) = here.and_then(|p| HeaderValue::from_str(&p).ok()) {
        req.headers_mut().insert(PATH_HEADER, v);
    }
    let what = record::service_of(&entry)
        .map(str::to_string)
        .unwrap_or_else(|| req.uri().path().to_string());
    let guard = InFlight::enter(st.clone(), what);
    entry["in_flight"] = json!(guard.count);
    st.requests.push(entry);
    let response = next.run(req).await;
    drop(guard);
    response
}

/// One request being served, counted per service until it is dropped (also
/// when the client goes away mid-request).
struct InFlight {
    st: Arc<AppState>,
    what: String,
    /// Requests of this service in flight, this one included.
    count: u64,
}

impl InFlight {
    fn enter(st: Arc<AppState>, what: String) -> Self {
        let count = st
            .in_flight
            .lock()
            .map(|mut m| {
                let n = m.entry(what.clone()).or_default();
                *n += 1;
                *n
            })
            .unwrap_or(0);
        Self { st, what, count }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut m) = self.st.in_flight.lock() {
            if let Some(n) = m.get_mut(&self.what) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// `GET /_sandbox/requests`: `{"requests": [...]}` (docs/sandbox.md).
async fn requests(State(st): S) -> Response {
    let mut r = json_response(StatusCode::OK);
    *r.body_mut() = Body::from(serde_json::to_vec(&st.requests.snapshot()).unwrap_or_default());
    r
}

/// `DELETE /_sandbox/requests`: forget them; `{"cleared": n}`.
async fn requests_clear(State(st): S) -> Response {
    let mut r = json_response(StatusCode::OK);
    let n = st.requests.clear();
    *r.body_mut() = Body::from(json!({ "cleared": n }).to_string());
    r
}

fn stats_body(s: &Stats) -> Response {
    let mut r = json_response(StatusCode::OK);
    *r.body_mut() = Body::from(
        serde_json::to_vec(&json!({"requests": s.requests, "by_path": s.by_path}))
            .unwrap_or_default(),
    );
    r
}

/// `GET /_sandbox/stats`: `{"requests": N, "by_path": {path: n}}`.
async fn stats(State(st): S) -> Response {
    let s = st.stats.lock().map(|s| s.clone()).unwrap_or_default();
    stats_body(&s)
}

/// `DELETE /_sandbox/stats`: the counts so far, then zero.
async fn stats_reset(State(st): S) -> Response {
    let s = st
        .stats
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    stats_body(&s)
}

// ---------------------------------------------------------------- faults

/// The fault spec for this request, after latency; `Err` is an early reply.
/// A header spec with `only=` applies to that route only.
pub(super) async fn prelude(
    st: &AppState,
    route: &str,
    headers: &HeaderMap,
) -> Result<FaultSpec, Response> {
    let local = match headers.get(FAULT_HEADER).and_then(|v| v.to_str().ok()) {
        Some(s) => FaultSpec::parse(s).map_err(|e| (StatusCode::BAD_REQUEST, e).into_response())?,
        None => FaultSpec::default(),
    };
    let local = if local.applies_to(route) {
        local
    } else {
        FaultSpec::default()
    };
    let global_on = st.global.applies_to(route)
        && st
            .global
            .first
            .is_none_or(|n| st.faulted.fetch_add(1, Ordering::SeqCst) < n);
    let base = if global_on {
        st.global.clone()
    } else {
        FaultSpec {
            rowcap: st.global.rowcap,
            ..FaultSpec::default()
        }
    };
    let spec = base.merged(&local);
    let wait = Duration::from_millis(st.latency_ms) + spec.latency();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some(code) = spec.status {
        return Err(status_reply(code, spec.retry_after));
    }
    if let Some(port) = spec.redirect_port {
        let here = headers.get(PATH_HEADER).and_then(|v| v.to_str().ok());
        return Err(super::hostile::redirect(port, here.unwrap_or("/")));
    }
    Ok(spec)
}

fn status_reply(code: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut r = (
        status,
        status.canonical_reason().unwrap_or("Error").to_string(),
    )
        .into_response();
    let retry = retry_after.or(matches!(code, 429 | 503).then_some(1));
    if let Some(s) = retry {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// What a response body is made of.
pub(super) enum Payload {
    Bytes(Vec<u8>),
    File {
        bytes: Box<FileBytes>,
        start: u64,
        len: u64,
    },
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }
    fn chunk(&mut self, pos: u64, n: usize) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b[pos as usize..(pos as usize + n).min(b.len())].to_vec(),
            Payload::File { bytes, start, .. } => bytes.read(*start + pos, n),
        }
    }
}

struct Streamer {
    payload: Payload,
    pos: u64,
    end: u64,
    reset_at: Option<u64>,
    bytes_per_sec: Option<u64>,
    /// Zero bytes still to send after the payload (`endless`, `extra-bytes`).
    padding: u64,
    /// `short-body`: once the cut is sent, wait (so the head and the first
    /// bytes reach the client) and close the connection short of
    /// `Content-Length`.
    close_short: bool,
}

/// A body applying `truncate`, `short-body`, `reset` and `slow-body`;
/// `Content-Length` announces the full length except after `truncate`.
pub(super) fn deliver(spec: &FaultSpec, payload: Payload, mut resp: Response) -> Response {
    let payload = super::hostile::rewrite(spec, payload, &mut resp);
    let len = payload.len();
    let (end, reset_at, announced) = match spec.cut_at(len) {
        Some((cut, true)) => (len, Some(cut), len),
        Some((cut, false)) if spec.short_body => (cut, None, len),
        Some((cut, false)) => (cut, None, cut),
        None => (len, None, len),
    };
    let st = Streamer {
        payload,
        pos: 0,
        end,
        reset_at,
        bytes_per_sec: spec.slow_body.filter(|b| *b > 0),
        padding: spec.padding(),
        close_short: spec.short_body,
    };
    let stream = futures_util::stream::unfold(st, next_chunk);
    *resp.body_mut() = Body::from_stream(stream);
    if st_padded(spec) {
        resp.headers_mut().remove(header::CONTENT_LENGTH);
    } else {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(announced));
    }
    resp
}

/// A padded body has no `Content-Length` (it is longer than the payload).
fn st_padded(spec: &FaultSpec) -> bool {
    spec.padding() > 0
}

async fn next_chunk(mut s: Streamer) -> Option<(Result<Bytes, std::io::Error>, Streamer)> {
    if let Some(r) = s.reset_at {
        if s.pos >= r {
            s.reset_at = None;
            s.end = s.pos;
            return Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                )),
                s,
            ));
        }
    }
    if s.pos >= s.end && s.close_short {
        tokio::time::sleep(Duration::from_millis(100)).await;
        return None;
    }
    if s.pos >= s.end {
        return super::hostile::pad(s.padding).map(|(chunk, left)| {
            s.padding = left;
            (Ok(chunk), s)
        });
    }
    let limit = s.reset_at.unwrap_or(s.end).min(s.end);
    let mut n = (limit - s.pos).min(64 * 1024) as usize;
    if let Some(bps) = s.bytes_per_sec {
        n = n.min((bps / 10).max(1) as usize);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if n == 0 {
        return Some((Ok(Bytes::new()), s));
    }
    let chunk = s.payload.chunk(s.pos, n);
    s.pos += chunk.len() as u64;
    Some((Ok(Bytes::from(chunk)), s))
}

fn json_response(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

// ---------------------------------------------------------------- invoke

fn form_field(text: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(text.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The request object from a query string or body; in `strict` mode it
/// must pass [`strict::mashup`].
fn decode_request(query: Option<&str>, body: &[u8], strict: bool) -> Result<MashupRequest, String> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') {
        trimmed.to_string()
    } else if let Some(v) = form_field(&text, "request") {
        v
    } else if let Some(v) = query.and_then(|q| form_field(q, "request")) {
        v
    } else {
        return Err("The request is missing the 'request' parameter.".to_string());
    };
    let value: Value =
        serde_json::from_str(&json).map_err(|e| format!("Invalid request object: {e}"))?;
    if strict {
        strict::mashup(&value)?;
    }
    serde_json::from_value(value).map_err(|e| format!("Invalid request object: {e}"))
}

fn execution_key(req: &MashupRequest, headers: &HeaderMap) -> String {
    let fault = headers
        .get(FAULT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    format!(
        "{}|{}|{}|{fault}",
        req.service.to_ascii_lowercase(),
        req.params,
        req.cache_breaker.as_deref().unwrap_or("")
    )
}

/// Whether this request still owes `EXECUTING` replies (and count one).
fn still_executing(st: &AppState, key: String, n: u32) -> Option<u32> {
    let mut map = st.executing.lock().ok()?;
    let seen = map.entry(key).or_insert(0);
    if *seen < n {
        *seen += 1;
        Some(*seen)
    } else {
        None
    }
}

async fn invoke(
    State(st): S,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match prelude(&st, "invoke", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let _ = method;
    let req = match decode_request(q.as_deref(), &body, st.strict) {
        Ok(r) => r,
        Err(e) => {
            return deliver(
                &spec,
                Payload::Bytes(render::error(&e)),
                json_response(StatusCode::OK),
            );
        }
    };
    if let Some(msg) = &spec.error {
        return deliver(
            &spec,
            Payload::Bytes(render::error(msg)),
            json_response(StatusCode::OK),
        );
    }
    if let Some(n) = spec.executing.filter(|n| *n > 0) {
        if let Some(k) = still_executing(&st, execution_key(&req, &headers), n) {
            let pct = 100.0 * k as f64 / (n + 1) as f64;
            return deliver(
                &spec,
                Payload::Bytes(render::executing(pct)),
                json_response(StatusCode::OK),
            );
        }
    }
    let archive = st.archive.clone();
    let answer = tokio::task::spawn_blocking(move || services::invoke(&archive, &req, false)).await;
    let answer = match answer {
        Ok(a) => a,
        Err(_) => services::Answer {
            body: render::error("Internal error while running the query."),
            rows: 0,
        },
    };
    let mut spec = spec;
    if answer.rows > spec.rowcap.unwrap_or(DEFAULT_ROW_CAP) {
        spec.reset = true;
    }
    deliver(
        &spec,
        Payload::Bytes(answer.body),
        json_response(StatusCode::OK),
    )
}

async fn expect(State(st): S, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let req = match decode_request(q.as_deref(), &body, st.strict) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let archive = st.archive.clone();
    let answer = tokio::task::spawn_blocking(move || services::invoke(&archive, &req, true)).await;
    match answer {
        Ok(a) => deliver(
            &FaultSpec::default(),
            Payload::Bytes(a.body),
            json_response(StatusCode::OK),
        ),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn columns_config(
    State(st): S,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match prelude(&st, "columnsconfig", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let text = String::from_utf8_lossy(&body);
    let id = form_field(&text, "colConfigId")
        .or_else(|| q.as_deref().and_then(|q| form_field(q, "colConfigId")))
        .unwrap_or_default();
    let v = colconf::config(&st.archive, &id);
    deliver(
        &spec,
        Payload::Bytes(serde_json::to_vec(&v).unwrap_or_default()),
        json_response(StatusCode::OK),
    )
}

// ---------------------------------------------------------------- auth

/// The token a request carries, from `Authorization` or the cookie.
fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(a) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut parts = a.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or("").to_ascii_lowercase();
        if let Some(t) = parts
            .next()
            .filter(|_| scheme == "token" || scheme == "bearer")
        {
            return Some(t.trim().to_string());
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "mast_token")
        .map(|(_, v)| v.trim().to_string())
}

fn authorized(st: &AppState, headers: &HeaderMap) -> bool {
    request_token(headers).is_some_and(|t| t == st.token)
}

async fn whoami(State(st): S, headers: HeaderMap) -> Response {
    let who = if authorized(&st, &headers) {
        let mut attrib = serde_json::Map::new();
        for (k, v) in [
            ("uuid", "00000000-0000-4000-8000-00000000sand"),
            ("first_name", "Sandbox"),
            ("last_name", "User"),
            ("display_name", "Sandbox User"),
            ("internal", "0"),
            ("email", "sandbox@example.invalid"),
            ("Jwstcalengdataaccess", "false"),
        ] {
            attrib.insert(k.into(), Value::String(v.into()));
        }
        WhoAmI {
            anon: false,
            eppn: "sandbox@example.invalid".into(),
            ezid: "sandbox".into(),
            scopes: vec!["mast:user:info".into(), "mast:exclusive_access".into()],
            session: None,
            token: Some(st.token.clone()),
            attrib,
        }
    } else {
        WhoAmI {
            anon: true,
            ezid: "anonymous".into(),
            ..WhoAmI::default()
        }
    };
    let mut r = json_response(StatusCode::OK);
    *r.body_mut() = Body::from(serde_json::to_vec(&who).unwrap_or_default());
    r
}

// ---------------------------------------------------------------- downloads

fn query_values(q: Option<&str>, key: &str) -> Vec<String> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .collect()
    })
    .unwrap_or_default()
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`: `Ok(None)` without a
/// usable header, `Err(())` when unsatisfiable.
fn parse_range(h: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    let first = spec.split(',').next().unwrap_or("").trim();
    let (a, b) = first.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| ())?,
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1)),
        ),
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn download(
    State(st): S,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let spec = match prelude(&st, "download", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(uri) = query_values(q.as_deref(), "uri").into_iter().next() else {
        return (StatusCode::BAD_REQUEST, "Missing 'uri' parameter").into_response();
    };
    serve_uri(&st, &spec, &method, &headers, uri).await
}

/// The bytes of the file `uri` names: 404 when unknown, 401 for an
/// exclusive-access file without the token, ranges honoured.
async fn serve_uri(
    st: &AppState,
    spec: &FaultSpec,
    method: &Method,
    headers: &HeaderMap,
    uri: String,
) -> Response {
    let archive = st.archive.clone();
    let u = uri.clone();
    let info = tokio::task::spawn_blocking(move || archive.resolve_uri(&u))
        .await
        .ok()
        .flatten();
    let Some(FileInfo { size, rights }) = info else {
        return (StatusCode::NOT_FOUND, format!("File not found: {uri}")).into_response();
    };
    if rights != "PUBLIC" && !authorized(st, headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "Unauthorized: this file is exclusive access; send a valid MAST token",
        )
            .into_response();
    }
    file_response(
        spec,
        method,
        &uri,
        size,
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
    )
}

// ---------------------------------------------------------------- missions API

fn api_error(e: &missions::ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_response(status);
    *r.body_mut() = Body::from(e.body());
    r
}

fn json_value_response(spec: &FaultSpec, v: &impl serde::Serialize) -> Response {
    deliver(
        spec,
        Payload::Bytes(serde_json::to_vec(v).unwrap_or_default()),
        json_response(StatusCode::OK),
    )
}

/// `POST /search/<mission>/api/v0.1/search` (JSON body).
async fn missions_search(
    State(st): S,
    Path(mission): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match prelude(&st, "missions", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req = match mission_request(&mission, &body, st.strict) {
        Ok(r) => r,
        Err(e) => return api_error(&e),
    };
    let archive = st.archive.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let m = archive.missions();
        m.table(&mission).and_then(|t| missions::search(t, &req))
    })
    .await;
    match answer {
        Ok(Ok(v)) => json_value_response(&spec, &v),
        Ok(Err(e)) => api_error(&e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A missions search body (empty: the defaults); in `strict` mode it must
/// pass [`strict::missions_search`].
fn mission_request(
    mission: &str,
    body: &[u8],
    strict: bool,
) -> Result<MissionSearchRequest, missions::ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(MissionSearchRequest::default());
    }
    let bad = |e: serde_json::Error| missions::ApiError {
        status: 400,
        message: format!("Invalid search request: {e}"),
    };
    let value: Value = serde_json::from_slice(body).map_err(bad)?;
    if strict {
        strict::missions_search(mission, &value)?;
    }
    serde_json::from_value(value).map_err(bad)
}

/// `POST …/post_list_products` with `{"dataset_ids": [...]}` (or
/// `GET …/list_products?dataset_ids=a,b`).
async fn missions_products(
    State(st): S,
    Path(mission): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match prelude(&st, "missions", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut ids: Vec<String> = query_values(q.as_deref(), "dataset_ids")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::to_string)
        .collect();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return api_error(&missions::ApiError {
                    status: 400,
                    message: format!("Invalid request body: {e}"),
                });
            }
        };
        match v.get("dataset_ids") {
            Some(Value::Array(a)) => ids.extend(
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)),
            ),
            Some(Value::String(s)) => ids.extend(s.split(',').map(str::to_string)),
            _ => {}
        }
    }
    let archive = st.archive.clone();
    let answer =
        tokio::task::spawn_blocking(move || archive.missions().products(&archive, &mission, &ids))
            .await;
    match answer {
        Ok(Ok(p)) => json_value_response(&spec, &p),
        Ok(Err(e)) => api_error(&e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET …/retrieve_product?product_name=<uri | dataset/file | file>`: the
/// same bytes as `Download/file` for the file's `mast:` URI.
async fn retrieve_product(
    State(st): S,
    Path(mission): Path<String>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let spec = match prelude(&st, "download", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let name = query_values(q.as_deref(), "product_name")
        .into_iter()
        .next()
        .unwrap_or_default();
    let Some(uri) = missions::product_uri(&mission, &name) else {
        return (StatusCode::BAD_REQUEST, "Missing 'product_name' parameter").into_response();
    };
    serve_uri(&st, &spec, &method, &headers, uri).await
}

/// `GET /search/util/api/v0.1/column_list?mission=…`.
async fn column_list(State(st): S, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "missions", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mission = query_values(q.as_deref(), "mission")
        .into_iter()
        .next()
        .unwrap_or_default();
    let archive = st.archive.clone();
    let answer = tokio::task::spawn_blocking(move || {
        archive
            .missions()
            .table(&mission)
            .map(missions::MissionTable::column_list)
    })
    .await;
    match answer {
        Ok(Ok(v)) => json_value_response(&spec, &v),
        Ok(Err(e)) => api_error(&e),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn file_response(
    spec: &FaultSpec,
    method: &Method,
    uri: &str,
    size: u64,
    range: Option<&str>,
) -> Response {
    let name = uri.rsplit('/').next().unwrap_or("file").replace('"', "");
    let mut r = Response::new(Body::empty());
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    let (start, len) = match parse_range(range, size) {
        Err(()) => {
            *r.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}"))
                    .unwrap_or(HeaderValue::from_static("")),
            );
            return r;
        }
        Ok(Some((a, b))) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let cr = format!("bytes {a}-{b}/{size}");
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&cr).unwrap_or(HeaderValue::from_static("")),
            );
            (a, b - a + 1)
        }
        Ok(None) => (0, size),
    };
    if method == Method::HEAD {
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        return r;
    }
    let payload = Payload::File {
        bytes: Box::new(FileBytes::new(uri, size)),
        start,
        len,
    };
    deliver(spec, payload, r)
}

/// The deterministic bucket path of a public file (protocol doc §4.5).
fn cloud_path(uri: &str) -> Option<String> {
    let (mission, name) = uri.strip_prefix("mast:")?.split_once("/product/")?;
    let lower = name.to_ascii_lowercase();
    if mission.eq_ignore_ascii_case("JWST") {
        if let Some((prog, obs)) = super::data::products::program_obsnum(&lower) {
            if lower.get(7..9) == Some("-o") {
                return Some(format!("/jwst/public/jw{prog}/L3/t/o{obs}/{name}"));
            }
            let visit = super::data::products::visit_of(&lower)?;
            return Some(format!("/jwst/public/jw{prog}/{visit}/{name}"));
        }
        return None;
    }
    let dataset = lower.split('_').next()?;
    Some(format!(
        "/{}/public/{}/{dataset}/{name}",
        mission.to_ascii_lowercase(),
        dataset.get(..4)?
    ))
}

async fn path_lookup(State(st): S, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let spec = match prelude(&st, "path-lookup", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let uris = query_values(q.as_deref(), "uri");
    let archive = st.archive.clone();
    let map = tokio::task::spawn_blocking(move || {
        let mut out = serde_json::Map::new();
        for u in uris {
            let public = archive.resolve_uri(&u).filter(|f| f.rights == "PUBLIC");
            let path = public.and_then(|_| cloud_path(&u));
            let path = super::hostile::lookup_path(&spec, path);
            let entry = PathLookup {
                status_code: if path.is_some() { 200 } else { 404 },
                path,
            };
            out.insert(u, serde_json::to_value(entry).unwrap_or(Value::Null));
        }
        out
    })
    .await
    .unwrap_or_default();
    let mut r = json_response(StatusCode::OK);
    *r.body_mut() = Body::from(serde_json::to_vec(&map).unwrap_or_default());
    r
}

/// `http://<Host>`: the sandbox's base URL as the client addressed it.
pub(super) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// `POST /api/v0.1/Download/bundle.sh` with repeated `uri` fields: a bash
/// script of one curl line per file, in the layout MAST's scripts use.
async fn bundle(State(st): S, RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let spec = match prelude(&st, "bundle", &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let text = String::from_utf8_lossy(&body).to_string();
    let mut uris: Vec<String> = form_urlencoded::parse(text.as_bytes())
        .filter(|(k, _)| k == "uri")
        .map(|(_, v)| v.into_owned())
        .collect();
    uris.extend(query_values(q.as_deref(), "uri"));
    let script = bundle_script(&base_url(&headers), &uris);
    let mut r = Response::new(Body::empty());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/x-sh"));
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"mastDownload.sh\""),
    );
    deliver(&spec, Payload::Bytes(script.into_bytes()), r)
}

fn bundle_script(base: &str, uris: &[String]) -> String {
    let id = super::data::fnv(&uris.join("\n"));
    let bundle = format!("MAST_sandbox_{:08x}", id as u32);
    let mut s = format!(
        "#!/bin/bash\n#\n# Requested from the mastflow sandbox (deterministic bundle {bundle})\n# Total files: {}\n#\n# To run: bash <this script> [token]\n\nif [ -n \"$1\" ]; then MAST_API_TOKEN=$1; fi\nDOWNLOAD_FOLDER='{bundle}'\nCONT=\"--continue-at -\"\n\n",
        uris.len()
    );
    for u in uris {
        let (mission, name) = u
            .strip_prefix("mast:")
            .and_then(|x| x.split_once("/product/"))
            .unwrap_or(("JWST", u.as_str()));
        let dir = name.rsplit_once('_').map_or(name, |x| x.0);
        let url = format!("{base}/api/v0.1/Download/file?bundle_name={bundle}&uri={u}");
        s.push_str(&format!(
            "curl -H \"Authorization: token $MAST_API_TOKEN\" --globoff --location-trusted -f --progress-bar --create-dirs $CONT --output ./${{DOWNLOAD_FOLDER}}'/{mission}/{dir}/{name}' '{url}'\n"
        ));
    }
    s
}

// ---------------------------------------------------------------- resolver, info

async fn santa(RawQuery(q): RawQuery) -> Response {
    let names = query_values(q.as_deref(), "name");
    let all = query_values(q.as_deref(), "resolveAll")
        .first()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let resp = names::lookup(&names, all);
    let mut r = json_response(StatusCode::OK);
    *r.body_mut() = Body::from(serde_json::to_vec(&resp).unwrap_or_default());
    r
}

async fn info(State(st): S) -> Response {
    let a = &st.archive;
    let si: serde_json::Map<String, Value> = a
        .sikw
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.table.num_rows())))
        .collect();
    let body = json!({
        "observations": a.num_observations(),
        "synthetic_observations": a.synthetic_rows,
        "seed": a.seed,
        "sky_index_entries": a.sky.entries(),
        "si_keyword_rows": si,
        "missions_rows": a.missions_if_built().map(|m| json!({
            "jwst": m.jwst.table.num_rows(),
            "hst": m.hst.table.num_rows(),
        })),
        "token": st.token,
        "row_cap": st.global.rowcap.unwrap_or(DEFAULT_ROW_CAP),
    });
    let mut r = json_response(StatusCode::OK);
    *r.body_mut() = Body::from(serde_json::to_vec(&body).unwrap_or_default());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=95-200"), 100), Ok(Some((95, 99))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(None, 100), Ok(None));
    }

    #[test]
    fn tokens_from_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; mast_token=xyz"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("xyz"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(request_token(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn cloud_paths() {
        assert_eq!(
            cloud_path("mast:JWST/product/jw02731001001_02101_00001_nrcb1_cal.fits").as_deref(),
            Some("/jwst/public/jw02731/jw02731001001/jw02731001001_02101_00001_nrcb1_cal.fits")
        );
        assert_eq!(
            cloud_path("mast:JWST/product/jw02727-o002_t062_nircam_clear-f277w_i2d.fits")
                .as_deref(),
            Some("/jwst/public/jw02727/L3/t/o002/jw02727-o002_t062_nircam_clear-f277w_i2d.fits")
        );
    }
}
