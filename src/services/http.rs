//! The polite HTTP layer every archive client goes through.
//!
//! - a per-host concurrency limit (default 4 requests at once per host);
//! - retries of connection errors, timeouts, resets, 429 and 5xx, with
//!   exponential backoff and full jitter, never sooner than `Retry-After`;
//! - the MAST token attached only to MAST hosts, never logged: [`Token`]'s
//!   `Debug` and `Display` print `***`;
//! - a request counter for the run record.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Semaphore;

/// A MAST API token. Its text never appears in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself; call only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Requests in flight per host.
    pub per_host: usize,
    /// Attempts after the first.
    pub retries: u32,
    /// First backoff; doubles each attempt (with full jitter).
    pub backoff: Duration,
    /// Longest single wait (also caps Retry-After).
    pub max_backoff: Duration,
    /// Timeout of one request (connect to last byte).
    pub timeout: Duration,
    /// Origins that may receive the MAST token: `scheme://host[:port]`, or a
    /// bare `host[:port]` meaning HTTPS. Scheme, host and port must all match
    /// (a bare host means port 443 only).
    pub mast_hosts: Vec<String>,
    /// Bytes of one API answer (a page), counted after decompression; more
    /// is refused (`--max-response-bytes`).
    pub max_response_bytes: u64,
    /// Pages of one search (`--max-pages`): a server whose paging never ends
    /// is stopped here.
    pub max_pages: u64,
}

/// 256 MiB: three times the largest Mashup page expected (50,000 CAOM rows
/// of about 1.5 kB), and below what a JSON parse can hold several times over.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 << 20;
/// 1,000 pages: 50 million rows at Mashup's page size.
pub const DEFAULT_MAX_PAGES: u64 = 1_000;

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            per_host: 4,
            retries: 5,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(600),
            mast_hosts: vec!["mast.stsci.edu".into()],
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

/// Errors after retries are exhausted (or for a request that must not be
/// retried). Each message ends with what to do.
#[derive(Debug, Error)]
pub enum HttpError {
    #[error("{url}: HTTP {status}{}{}; {}", after_attempts(*.attempts), body_excerpt(.body), status_hint(*.status, *.attempts))]
    Status {
        url: String,
        status: u16,
        body: String,
        /// Attempts made (1 = not retried).
        attempts: u32,
    },
    #[error("{url}: {message}{}; {}", after_attempts(*.attempts), transport_hint(.message))]
    Transport {
        url: String,
        message: String,
        /// Attempts made (1 = not retried).
        attempts: u32,
    },
    /// The request outlived its timeout (and was not retried: see
    /// [`Request::give_up_on_timeout`]).
    #[error("{url}: no answer within {}{}; {TIMEOUT_HINT}", human_duration(*.after), after_attempts(*.attempts))]
    TimedOut {
        url: String,
        after: Duration,
        attempts: u32,
    },
    #[error(
        "invalid URL `{0}`; check `mast_url` or --base-url (write e.g. https://mast.stsci.edu)"
    )]
    BadUrl(String),
    /// The answer exceeded `--max-response-bytes` (after decompression).
    #[error(
        "{url}: the answer is larger than {} (--max-response-bytes), counted after decompression; refusing it: narrow the query (fewer rows or columns, smaller pages) or raise --max-response-bytes",
        human_bytes(*.limit)
    )]
    TooLarge { url: String, limit: u64 },
}

const TIMEOUT_HINT: &str = "the server may be slow or the answer large: raise --request-timeout (or `timeouts.request` in the manifest), narrow the query, or try again later";

/// ` after 6 attempts` (nothing for a single attempt).
fn after_attempts(n: u32) -> String {
    if n > 1 {
        format!(" after {n} attempts")
    } else {
        String::new()
    }
}

/// What to do about an HTTP error status.
fn status_hint(status: u16, attempts: u32) -> String {
    let retries = if attempts > 1 {
        ", or raise --retries"
    } else {
        ""
    };
    match status {
        401 | 403 => "the MAST token was refused or lacks access: check it with `mastflow whoami`, or set MAST_API_TOKEN / --token-file (exclusive-access data needs a token of a user with access)".into(),
        404 => "check the URL: `mast_url` or --base-url, and the service name".into(),
        408 | 504 => format!("the server did not answer in time: narrow the query, try again later{retries}"),
        429 => format!("MAST is limiting requests: lower --per-host or --jobs and try again later{retries}"),
        500..=599 => format!("MAST may be down or overloaded: check https://mast.stsci.edu for its status, try again later{retries}"),
        400..=499 => "the server refused the request: check the step's parameters (the server's message is above)".into(),
        _ => "unexpected answer: check `mast_url` or --base-url".into(),
    }
}

/// What to do about a transport error.
fn transport_hint(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.starts_with("writing") {
        "the file could not be written: check the disk (space, permissions)"
    } else if m.contains("cut short") || m.contains("decoding response body") || m.contains("body")
    {
        "the connection closed before the whole answer arrived (MAST resets the connection of very large answers, around 500,000 rows, and proxies cut slow ones): narrow the criteria, split the search (`for_each` batches, TAP paging), or raise --request-timeout"
    } else if m.contains("redirect") {
        "the server redirects in a loop: check `mast_url` or --base-url"
    } else if m.contains("connect") || m.contains("dns") || m.contains("resolve") {
        "cannot reach the server: check the network and `mast_url` or --base-url, or try again later"
    } else {
        "check the network and try again later, or raise --retries"
    }
}

/// `600 s`, `2.5 s`, `250 ms`.
pub fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `268435456` → `256 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn body_excerpt(b: &str) -> String {
    let t = b.trim();
    if t.is_empty() {
        String::new()
    } else {
        let cut: String = t.chars().take(300).collect();
        format!(": {cut}")
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    /// `application/x-www-form-urlencoded` fields.
    pub form: Option<Vec<(String, String)>>,
    /// A JSON body.
    pub json: Option<serde_json::Value>,
    pub headers: Vec<(String, String)>,
    /// Send the MAST token (only happens if the host is a MAST host).
    pub auth: bool,
    /// This request's timeout instead of the client's.
    pub timeout: Option<Duration>,
    /// Follow redirects (a 303, or a 301/302 after a POST, continues as a
    /// GET without the body); otherwise the 3xx response is returned.
    pub follow_redirects: bool,
    /// A timeout or a 504 gateway timeout ends the attempts at once (a sync
    /// TAP query that will time out again should go async instead).
    pub give_up_on_timeout: bool,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::GET,
            url: url.into(),
            form: None,
            json: None,
            headers: Vec::new(),
            auth: false,
            timeout: None,
            follow_redirects: true,
            give_up_on_timeout: false,
        }
    }

    /// A DELETE of `url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::DELETE,
            ..Self::get(url)
        }
    }

    pub fn post_json(url: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            json: Some(body),
            ..Self::post_form(url, Vec::new())
        }
        .without_form()
    }

    fn without_form(mut self) -> Self {
        self.form = None;
        self
    }

    pub fn post_form(url: impl Into<String>, form: Vec<(String, String)>) -> Self {
        Self {
            method: reqwest::Method::POST,
            form: Some(form),
            ..Self::get(url)
        }
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// What the requests of one step did, counted across all its tasks and kept
/// when the step fails or is cut off (the run record's `requests` and
/// `retries`). Set with [`in_scope`]; [`Http`] counts into the current one.
#[derive(Debug, Default)]
pub struct Scope {
    requests: AtomicU64,
    retries: AtomicU64,
    last_retry: Mutex<Option<String>>,
}

impl Scope {
    /// Requests sent (each attempt counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests sent again after a failure.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Why the last retry was made (`HTTP 503`, a reset, ...).
    pub fn last_retry(&self) -> Option<String> {
        self.last_retry.lock().ok().and_then(|g| g.clone())
    }

    fn set_last_retry(&self, why: &str) {
        if let Ok(mut g) = self.last_retry.lock() {
            *g = Some(why.to_string());
        }
    }
}

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// The scope the current task counts into, if any (pass it to
/// [`in_scope`] in tasks it spawns).
pub fn current_scope() -> Option<Arc<Scope>> {
    SCOPE.try_with(Arc::clone).ok()
}

/// Run `f` counting its requests into `scope`.
pub async fn in_scope<F: std::future::Future>(scope: Option<Arc<Scope>>, f: F) -> F::Output {
    match scope {
        Some(s) => SCOPE.scope(s, f).await,
        None => f.await,
    }
}

/// A retry about to happen: shown in progress output, so a wait is never
/// silent.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The request's URL, redacted.
    pub url: String,
    /// The attempt that failed (1-based) and how many may be made.
    pub attempt: u32,
    pub attempts: u32,
    /// Why: `HTTP 503` or the transport error.
    pub why: String,
    /// The wait before the next attempt.
    pub wait: Duration,
    /// What the server asked for (`Retry-After`), before the cap.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}; attempt {} of {} in {:.1} s",
            self.url,
            self.why,
            self.attempt + 1,
            self.attempts,
            self.wait.as_secs_f64()
        )?;
        match self.retry_after {
            Some(ra) if ra > self.wait => {
                write!(f, " (the server's Retry-After {} s, capped)", ra.as_secs())
            }
            Some(_) => write!(f, " (the server's Retry-After)"),
            None => Ok(()),
        }
    }
}

/// Who is told of retries.
pub type RetryHook = Arc<dyn Fn(&Retry) + Send + Sync>;

/// The shared HTTP client.
#[derive(Debug)]
pub struct Http {
    client: reqwest::Client,
    /// For downloads: no decompression (files are written as served, and
    /// counted against their byte cap as sent), `Accept-Encoding: identity`.
    raw: reqwest::Client,
    config: HttpConfig,
    token: Option<Token>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    requests: AtomicU64,
    retries: AtomicU64,
    on_retry: std::sync::OnceLock<Hook>,
}

/// A [`RetryHook`] in a `Debug` struct.
struct Hook(RetryHook);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryHook")
    }
}

impl Http {
    pub fn new(config: HttpConfig, token: Option<Token>) -> Result<Self, HttpError> {
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("mastflow/", env!("CARGO_PKG_VERSION")))
                .timeout(config.timeout)
                // Follow redirects ourselves, so the token never crosses hosts.
                .redirect(reqwest::redirect::Policy::none())
        };
        let built = |r: reqwest::Result<reqwest::Client>| {
            r.map_err(|e| HttpError::Transport {
                url: String::new(),
                message: e.to_string(),
                attempts: 1,
            })
        };
        let client = built(builder().build())?;
        let raw = built(builder().no_gzip().build())?;
        Ok(Self {
            client,
            raw,
            config,
            token,
            hosts: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            on_retry: std::sync::OnceLock::new(),
        })
    }

    /// Tell `hook` of every retry (once; later calls are ignored).
    pub fn on_retry(&self, hook: RetryHook) {
        let _ = self.on_retry.set(Hook(hook));
    }

    /// Retries made so far (requests sent again after a failure).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Requests sent so far (each attempt counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether `url`'s origin (scheme, host and port) may receive the token.
    pub fn is_mast_host(&self, url: &reqwest::Url) -> bool {
        let Some(origin) = origin_of(url) else {
            return false;
        };
        self.config
            .mast_hosts
            .iter()
            .any(|h| mast_origin(h).is_some_and(|o| o == origin))
    }

    fn limiter(&self, url: &reqwest::Url) -> Arc<Semaphore> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self.hosts.lock().expect("host table lock");
        hosts
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.per_host.max(1))))
            .clone()
    }

    /// Send with retries; follows up to 5 redirects (unless the request
    /// says not to), dropping the token when a redirect leaves the MAST hosts.
    /// A 303 (or a 301/302 answering a POST) continues as a body-less GET, as
    /// browsers and HTTP clients do.
    pub async fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let mut url =
            reqwest::Url::parse(&req.url).map_err(|_| HttpError::BadUrl(req.url.clone()))?;
        let mut req = std::borrow::Cow::Borrowed(req);
        for _ in 0..=5 {
            let resp = self.send_with_retries(&req, &url).await?;
            if req.follow_redirects && (300..400).contains(&resp.status) {
                if let Some(loc) = resp
                    .headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                {
                    url = url
                        .join(loc)
                        .map_err(|_| HttpError::BadUrl(loc.to_string()))?;
                    let as_get = resp.status == 303
                        || (matches!(resp.status, 301 | 302)
                            && req.method == reqwest::Method::POST);
                    if as_get && req.method != reqwest::Method::GET {
                        let r = req.to_mut();
                        r.method = reqwest::Method::GET;
                        r.form = None;
                        r.json = None;
                    }
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(HttpError::Transport {
            url: redact(&url),
            message: "too many redirects".into(),
            attempts: 1,
        })
    }

    async fn send_with_retries(
        &self,
        req: &Request,
        url: &reqwest::Url,
    ) -> Result<Response, HttpError> {
        let limiter = self.limiter(url);
        let scope = current_scope();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = {
                let _permit = limiter.acquire().await.expect("limiter open");
                self.requests.fetch_add(1, Ordering::Relaxed);
                if let Some(s) = &scope {
                    s.requests.fetch_add(1, Ordering::Relaxed);
                }
                self.once(req, url).await
            };
            let retry_after = match &outcome {
                Ok(r) if retryable_status(r.status) => retry_after(&r.headers),
                Ok(_) => None,
                Err(_) => None,
            };
            let gave_up = req.give_up_on_timeout
                && match &outcome {
                    Ok(r) => r.status == 504,
                    Err(e) => e.timed_out,
                };
            let retry = !gave_up
                && match &outcome {
                    Ok(r) => retryable_status(r.status),
                    Err(e) => e.retryable,
                };
            if !retry || attempt > self.config.retries {
                return self.finish(req, url, outcome, attempt);
            }
            let wait = self.backoff(attempt, retry_after);
            let why = match &outcome {
                Ok(r) => format!("HTTP {}", r.status),
                Err(e) => e.message.clone(),
            };
            self.retries.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = &scope {
                s.retries.fetch_add(1, Ordering::Relaxed);
                s.set_last_retry(&why);
            }
            if let Some(Hook(hook)) = self.on_retry.get() {
                hook(&Retry {
                    url: redact(url),
                    attempt,
                    attempts: self.config.retries + 1,
                    why,
                    wait,
                    retry_after,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The result of the last attempt: a response, or the error it makes.
    fn finish(
        &self,
        req: &Request,
        url: &reqwest::Url,
        outcome: Result<Response, Attempt>,
        attempts: u32,
    ) -> Result<Response, HttpError> {
        match outcome {
            Ok(mut r) => {
                r.attempts = attempts;
                if r.status >= 400 {
                    Err(HttpError::Status {
                        url: redact(url),
                        status: r.status,
                        body: String::from_utf8_lossy(&r.body).into_owned(),
                        attempts,
                    })
                } else {
                    Ok(r)
                }
            }
            Err(e) if e.too_large => Err(HttpError::TooLarge {
                url: redact(url),
                limit: self.config.max_response_bytes,
            }),
            Err(e) if e.timed_out => Err(HttpError::TimedOut {
                url: redact(url),
                after: req.timeout.unwrap_or(self.config.timeout),
                attempts,
            }),
            Err(e) => Err(HttpError::Transport {
                url: redact(url),
                message: e.message,
                attempts,
            }),
        }
    }

    /// Stream a GET of `url` into `sink`, starting at byte `offset` (HTTP
    /// Range). One attempt, under the per-host limit; the token is sent only
    /// when `auth` and the host is a MAST host; redirects (up to 5) are
    /// followed without it once they leave the first host.
    /// Returns the status and whether the server honoured the range.
    pub async fn download<F>(
        &self,
        url: &str,
        offset: u64,
        auth: bool,
        mut sink: F,
    ) -> Result<(u16, bool), HttpError>
    where
        F: FnMut(&[u8], bool) -> std::io::Result<()>,
    {
        let mut u = reqwest::Url::parse(url).map_err(|_| HttpError::BadUrl(url.to_string()))?;
        let first_origin = origin_of(&u);
        let mut redirects = 0;
        let mut resp = loop {
            let limiter = self.limiter(&u);
            let _permit = limiter.acquire().await.expect("limiter open");
            self.requests.fetch_add(1, Ordering::Relaxed);
            if let Some(s) = current_scope() {
                s.requests.fetch_add(1, Ordering::Relaxed);
            }
            let mut b = self
                .raw
                .get(u.clone())
                .header(reqwest::header::ACCEPT_ENCODING, "identity");
            if offset > 0 {
                b = b.header(reqwest::header::RANGE, format!("bytes={offset}-"));
            }
            // The token goes only to a MAST origin, and never after a redirect
            // has left the origin (scheme, host, port) we started from.
            if auth && self.is_mast_host(&u) && origin_of(&u) == first_origin {
                if let Some(t) = &self.token {
                    b = b.header(
                        reqwest::header::AUTHORIZATION,
                        format!("token {}", t.expose()),
                    );
                }
            }
            let resp = b.send().await.map_err(|e| HttpError::Transport {
                url: redact(&u),
                message: Attempt::from(e).message,
                attempts: 1,
            })?;
            let loc = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            match (resp.status().as_u16(), loc) {
                (300..=399, Some(loc)) if redirects < 5 => {
                    redirects += 1;
                    u = u.join(&loc).map_err(|_| HttpError::BadUrl(loc))?;
                }
                _ => break resp,
            }
        };
        let transport = |e: reqwest::Error| HttpError::Transport {
            url: redact(&u),
            message: Attempt::from(e).message,
            attempts: 1,
        };
        let status = resp.status().as_u16();
        if status >= 400 || (300..400).contains(&status) {
            // An error page is read up to 1 MiB, never streamed whole.
            let body = capped_body(resp, 1 << 20)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(HttpError::Status {
                url: redact(&u),
                status,
                body,
                attempts: 1,
            });
        }
        let ranged = status == 206;
        let mut first = true;
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            // `true` on the first chunk of a response that restarts the file.
            sink(&chunk, first && !ranged).map_err(|e| HttpError::Transport {
                url: redact(&u),
                message: format!("writing: {e}"),
                attempts: 1,
            })?;
            first = false;
        }
        if first && !ranged {
            sink(&[], true).map_err(|e| HttpError::Transport {
                url: redact(&u),
                message: format!("writing: {e}"),
                attempts: 1,
            })?;
        }
        Ok((status, ranged))
    }

    /// Full-jitter exponential backoff, never shorter than Retry-After.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self
            .config
            .backoff
            .saturating_mul(1u32 << attempt.min(16).saturating_sub(1))
            .min(self.config.max_backoff);
        let jitter =
            Duration::from_secs_f64(rand::rng().random_range(0.0..=cap.as_secs_f64().max(0.0)));
        match retry_after {
            Some(ra) => ra.min(self.config.max_backoff).max(jitter.min(cap)),
            None => jitter,
        }
    }

    async fn once(&self, req: &Request, url: &reqwest::Url) -> Result<Response, Attempt> {
        let mut b = self.client.request(req.method.clone(), url.clone());
        if let Some(t) = req.timeout {
            b = b.timeout(t);
        }
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if req.auth && self.is_mast_host(url) {
            if let Some(t) = &self.token {
                b = b.header(
                    reqwest::header::AUTHORIZATION,
                    format!("token {}", t.expose()),
                );
            }
        }
        if let Some(form) = &req.form {
            b = b.form(form);
        }
        if let Some(j) = &req.json {
            b = b.json(j);
        }
        let resp = b.send().await.map_err(Attempt::from)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = capped_body(resp, self.config.max_response_bytes).await?;
        if (200..300).contains(&status) {
            if let Some(why) = cut_short(&headers, &body) {
                return Err(Attempt {
                    message: why,
                    retryable: true,
                    timed_out: false,
                    too_large: false,
                });
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            attempts: 1,
        })
    }
}

struct Attempt {
    message: String,
    retryable: bool,
    timed_out: bool,
    /// The body passed `max_response_bytes` (never retried).
    too_large: bool,
}

/// Read a body up to `cap` bytes (after decompression: reqwest decodes gzip
/// as it streams), so a huge page or a gzip bomb stops at the cap instead of
/// filling memory.
async fn capped_body(mut resp: reqwest::Response, cap: u64) -> Result<Vec<u8>, Attempt> {
    let too_large = || Attempt {
        message: String::new(),
        retryable: false,
        timed_out: false,
        too_large: true,
    };
    let declared = resp.content_length().unwrap_or(0);
    let encoded = resp
        .headers()
        .contains_key(reqwest::header::CONTENT_ENCODING);
    if !encoded && declared > cap {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.min(cap).min(64 << 20) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(Attempt::from)? {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a complete-looking 2xx answer is in fact cut short: a JSON document
/// that ends inside a value, or a VOTable without its closing tag (a proxy
/// or server that closes the connection early while announcing only what it
/// sent). Such answers are retried like a reset.
fn cut_short(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let ct = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let n = body.len();
    if ct.contains("json") {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Err(e) if e.is_eof() => Some(format!(
                "the answer was cut short: its JSON ends early, after {n} bytes"
            )),
            _ => None,
        };
    }
    let head = &body[..n.min(4096)];
    let is_votable = head.windows(8).any(|w| w.eq_ignore_ascii_case(b"<VOTABLE"))
        || head
            .windows(12)
            .any(|w| w.eq_ignore_ascii_case(b":VOTABLE xml"));
    let end = body.trim_ascii_end();
    let closed = end.len() >= 8 && end[end.len() - 8..].eq_ignore_ascii_case(b"VOTABLE>");
    (is_votable && !closed).then(|| {
        format!("the answer was cut short: the VOTable ends without `</VOTABLE>`, after {n} bytes")
    })
}

impl From<reqwest::Error> for Attempt {
    fn from(e: reqwest::Error) -> Self {
        let retryable =
            e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode();
        // reqwest's messages may contain the URL; ours add a redacted one
        // in front, so it is left out here.
        let mut message = e.to_string();
        if let Some(u) = e.url() {
            message = message
                .replace(&format!(" for url ({u})"), "")
                .replace(u.as_str(), &redact(u));
        }
        // The innermost cause (`end of file before message length reached`,
        // `connection reset`, `operation timed out`) says what happened.
        let mut cause = std::error::Error::source(&e);
        let mut root = None;
        while let Some(c) = cause {
            root = Some(c.to_string());
            cause = c.source();
        }
        if e.is_body() || e.is_decode() {
            let why = root.unwrap_or(message);
            message = format!("the answer was cut short ({why})");
        } else if let Some(why) = root.filter(|r| !message.contains(r.as_str())) {
            message = format!("{message}: {why}");
        }
        Self {
            message,
            retryable,
            timed_out: e.is_timeout(),
            too_large: false,
        }
    }
}

fn retryable_status(s: u16) -> bool {
    matches!(s, 408 | 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when =
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let now = time::OffsetDateTime::now_utc();
    let secs = (when - now).as_seconds_f64();
    Some(Duration::from_secs_f64(secs.max(0.0)))
}

/// The origin of a `mast_hosts` entry (`host[:port]` alone means HTTPS).
fn mast_origin(entry: &str) -> Option<(String, String, u16)> {
    let text = if entry.contains("://") {
        entry.to_string()
    } else {
        format!("https://{entry}")
    };
    origin_of(&reqwest::Url::parse(&text).ok()?)
}

/// `(scheme, host, port)` of a URL, the port made explicit.
fn origin_of(u: &reqwest::Url) -> Option<(String, String, u16)> {
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?,
    ))
}

/// Check a MAST base URL (`mast_url`, `--base-url`): `http(s)://host[:port]`
/// with an optional path of letters, digits and `. _ ~ / -`. Nothing else is
/// admitted (no user, query, fragment, percent escape, quote, `$`, space or
/// control character), so the URL is safe in every script mastflow writes
/// even before quoting. The error says what is wrong and what to write.
pub fn check_base_url(s: &str) -> Result<reqwest::Url, String> {
    const HELP: &str =
        "a MAST base URL is http(s)://host[:port][/path], e.g. https://mast.stsci.edu";
    let safe = |c: char| c.is_ascii_alphanumeric() || "._~/-:[]".contains(c);
    if let Some((i, c)) = s.char_indices().find(|&(_, c)| !safe(c)) {
        return Err(format!(
            "`{}` has {} at byte {i}; {HELP}",
            s.escape_debug(),
            match c {
                c if c.is_control() => format!("the control character {}", c.escape_debug()),
                ' ' => "a space".to_string(),
                c => format!("the character `{c}`"),
            }
        ));
    }
    let url = reqwest::Url::parse(s).map_err(|e| format!("`{s}` is not a URL ({e}); {HELP}"))?;
    if !matches!(url.scheme(), "http" | "https") || !s.contains("://") {
        return Err(format!("`{s}` is not an http(s) URL; {HELP}"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host; {HELP}"));
    }
    Ok(url)
}

/// A URL safe to print: query parameters whose name suggests a secret are masked.
pub fn redact(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.iter().any(|(k, _)| is_secret_name(k)) {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, if is_secret_name(k) { "***" } else { v });
        }
    }
    let _ = u.set_password(None);
    u.to_string()
}

fn is_secret_name(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("token") || k.contains("password") || k.contains("secret") || k == "key"
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_capped_retry_after_says_so() {
        let r = super::Retry {
            url: "https://mast.stsci.edu/api/v0/invoke".into(),
            attempt: 1,
            attempts: 6,
            why: "HTTP 429".into(),
            wait: std::time::Duration::from_secs(60),
            retry_after: Some(std::time::Duration::from_secs(999_999_999)),
        };
        assert_eq!(
            r.to_string(),
            "https://mast.stsci.edu/api/v0/invoke: HTTP 429; attempt 2 of 6 in 60.0 s (the server's Retry-After 999999999 s, capped)"
        );
    }

    #[test]
    fn answers_cut_short_are_told_from_complete_ones() {
        use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
        let typed = |ct: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            h
        };
        let json = typed("application/json; charset=utf-8");
        assert!(super::cut_short(&json, br#"{"status":"COMPLETE","data":[1,2]}"#).is_none());
        let e = super::cut_short(&json, br#"{"status":"COMPLETE","data":[1,"#).unwrap();
        assert!(e.contains("its JSON ends early, after 31 bytes"), "{e}");
        // Invalid but complete JSON is not a truncation (the parser reports it).
        assert!(super::cut_short(&json, b"{oops}").is_none());
        assert!(super::cut_short(&json, b"").is_none());
        let xml = typed("text/xml");
        let vot = b"<?xml version='1.0'?><VOTABLE version='1.4'><RESOURCE></RESOURCE></VOTABLE>\n";
        assert!(super::cut_short(&xml, vot).is_none());
        let e = super::cut_short(&xml, &vot[..50]).unwrap();
        assert!(e.contains("without `</VOTABLE>`"), "{e}");
        // Other XML (a UWS job document) is not judged.
        assert!(super::cut_short(&xml, b"<uws:job><uws:phase>EXEC").is_none());
    }

    #[test]
    fn status_errors_count_attempts_and_say_what_to_do() {
        let e = super::HttpError::Status {
            url: "https://mast.stsci.edu/api/v0/invoke".into(),
            status: 503,
            body: "Service Unavailable".into(),
            attempts: 6,
        };
        assert_eq!(
            e.to_string(),
            "https://mast.stsci.edu/api/v0/invoke: HTTP 503 after 6 attempts: Service Unavailable; MAST may be down or overloaded: check https://mast.stsci.edu for its status, try again later, or raise --retries"
        );
        let e = super::HttpError::Status {
            url: "u".into(),
            status: 401,
            body: String::new(),
            attempts: 1,
        };
        assert!(
            e.to_string()
                .starts_with("u: HTTP 401; the MAST token was refused"),
            "{e}"
        );
        let e = super::HttpError::Transport {
            url: "u".into(),
            message: "the answer was cut short (end of file before message length reached)".into(),
            attempts: 6,
        };
        assert!(
            e.to_string().contains(
                "after 6 attempts; the connection closed before the whole answer arrived"
            ),
            "{e}"
        );
    }

    #[test]
    fn base_urls_are_plain_http_origins_with_a_safe_path() {
        for ok in [
            "https://mast.stsci.edu",
            "http://127.0.0.1:8080",
            "https://mast.stsci.edu/",
            "http://[::1]:9000/mirror/mast-v2",
        ] {
            assert!(super::check_base_url(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("http://h/'$(touch /tmp/x)'", "the character `'`"),
            ("http://h/`id`", "the character ```"),
            ("http://h/a b", "a space"),
            ("http://h/a\\b", "the character `\\`"),
            ("http://h/\n", "the control character \\n"),
            ("http://h/\u{1b}[2J", "the control character \\u{1b}"),
            ("http://user@h", "the character `@`"),
            ("http://h/?q=1", "the character `?`"),
            ("http://h/%24", "the character `%`"),
            ("ftp://h", "not an http(s) URL"),
            ("mast.stsci.edu", "not a URL"),
            ("http://", "not a URL"),
        ] {
            let e = super::check_base_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("http(s)://host[:port]"), "{e}");
        }
    }

    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A tiny HTTP server: `respond(n)` gives the raw response to the n-th
    /// request; every request's head is recorded.
    async fn server<F>(respond: F) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>)
    where
        F: Fn(usize) -> (String, u64) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let max_concurrent = Arc::new(AtomicUsize::new(0));
        let current = Arc::new(AtomicUsize::new(0));
        let (seen2, max2) = (seen.clone(), max_concurrent.clone());
        let respond = Arc::new(respond);
        let count = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (seen, respond, count, current, max) = (
                    seen2.clone(),
                    respond.clone(),
                    count.clone(),
                    current.clone(),
                    max2.clone(),
                );
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    seen.lock().unwrap().push(head);
                    let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    let i = count.fetch_add(1, Ordering::SeqCst);
                    let (resp, delay_ms) = respond(i);
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    current.fetch_sub(1, Ordering::SeqCst);
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (format!("http://{addr}"), seen, max_concurrent)
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn quick() -> HttpConfig {
        HttpConfig {
            backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(200),
            ..HttpConfig::default()
        }
    }

    #[tokio::test]
    async fn retries_503_honouring_retry_after() {
        let (base, seen, _) = server(|i| {
            if i < 2 {
                ("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0.05\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(), 0)
            } else {
                (ok("done"), 0)
            }
        })
        .await;
        let http = Http::new(quick(), None).unwrap();
        let t0 = std::time::Instant::now();
        let r = http.send(&Request::get(format!("{base}/x"))).await.unwrap();
        assert_eq!(r.body, b"done");
        assert_eq!(r.attempts, 3);
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert!(
            t0.elapsed() >= Duration::from_millis(100),
            "waited {:?}",
            t0.elapsed()
        );
        assert_eq!(http.requests(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_retries_with_the_status_and_body() {
        let (base, seen, _) = server(|_| {
            (
                "HTTP/1.1 500 Oops\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom".into(),
                0,
            )
        })
        .await;
        let http = Http::new(
            HttpConfig {
                retries: 2,
                ..quick()
            },
            None,
        )
        .unwrap();
        let e = http
            .send(&Request::get(format!("{base}/x")))
            .await
            .unwrap_err();
        assert!(matches!(&e, HttpError::Status { status: 500, .. }), "{e}");
        assert!(e.to_string().contains("boom"));
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn does_not_retry_a_client_error() {
        let (base, seen, _) = server(|_| {
            (
                "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                0,
            )
        })
        .await;
        let http = Http::new(quick(), None).unwrap();
        assert!(http.send(&Request::get(format!("{base}/x"))).await.is_err());
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bounds_requests_per_host() {
        let (base, _, max) = server(|_| (ok("x"), 50)).await;
        let http = Arc::new(
            Http::new(
                HttpConfig {
                    per_host: 3,
                    ..quick()
                },
                None,
            )
            .unwrap(),
        );
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (h, u) = (http.clone(), format!("{base}/x"));
            tasks.push(tokio::spawn(async move {
                h.send(&Request::get(u)).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let m = max.load(Ordering::SeqCst);
        assert!((2..=3).contains(&m), "max concurrent {m}");
    }

    #[tokio::test]
    async fn token_only_to_mast_hosts_and_never_printed() {
        let (base, seen, _) = server(|_| (ok("{}"), 0)).await;
        let token = Token::new("s3cret-token-value");
        assert_eq!(format!("{token:?} {token}"), "Token(***) ***");
        let host = base.clone();
        // Not a MAST host: no token.
        let http = Http::new(quick(), Some(token.clone())).unwrap();
        let mut req = Request::get(format!("{base}/a"));
        req.auth = true;
        http.send(&req).await.unwrap();
        // A MAST host: the token goes.
        let http = Http::new(
            HttpConfig {
                mast_hosts: vec![host],
                ..quick()
            },
            Some(token),
        )
        .unwrap();
        http.send(&req).await.unwrap();
        let heads = seen.lock().unwrap().clone();
        assert!(!heads[0].contains("s3cret"), "{}", heads[0]);
        assert!(
            heads[1]
                .to_ascii_lowercase()
                .contains("authorization: token s3cret-token-value"),
            "{}",
            heads[1]
        );
        assert!(!format!("{http:?}").contains("s3cret"));
    }

    #[test]
    fn token_origins_are_exact_scheme_host_and_port() {
        let http = Http::new(
            HttpConfig {
                mast_hosts: vec!["mast.stsci.edu".into(), "http://127.0.0.1:8080".into()],
                ..quick()
            },
            None,
        )
        .unwrap();
        let is = |u: &str| http.is_mast_host(&reqwest::Url::parse(u).unwrap());
        assert!(is("https://mast.stsci.edu/api/v0/invoke"));
        assert!(is("https://MAST.stsci.edu:443/x"));
        assert!(is("http://127.0.0.1:8080/x"));
        assert!(!is("http://mast.stsci.edu/x"), "https -> http");
        assert!(!is("https://mast.stsci.edu:8443/x"), "another port");
        assert!(!is("https://mast.stsci.edu.evil.example/x"));
        assert!(!is("http://127.0.0.1:8081/x"), "another port");
        assert!(!is("https://127.0.0.1:8080/x"), "another scheme");
    }

    #[tokio::test]
    async fn redirect_to_another_host_drops_the_token() {
        let (other, other_seen, _) = server(|_| (ok("there"), 0)).await;
        let target = format!("{other}/file");
        let (base, _, _) = server(move |_| (format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), 0)).await;
        let host = base.clone();
        let http = Http::new(
            HttpConfig {
                mast_hosts: vec![host],
                ..quick()
            },
            Some(Token::new("s3cret")),
        )
        .unwrap();
        let mut req = Request::get(format!("{base}/start"));
        req.auth = true;
        let r = http.send(&req).await.unwrap();
        assert_eq!(r.body, b"there");
        assert!(!other_seen.lock().unwrap()[0].contains("s3cret"));
    }

    #[tokio::test]
    async fn downloads_follow_redirects_without_the_token_and_resume() {
        let (other, other_seen, _) = server(|_| {
            (
                "HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz"
                    .into(),
                0,
            )
        })
        .await;
        let target = format!("{other}/file");
        let (base, base_seen, _) = server(move |_| (format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), 0)).await;
        let host = base.clone();
        let http = Http::new(
            HttpConfig {
                mast_hosts: vec![host],
                ..quick()
            },
            Some(Token::new("s3cret")),
        )
        .unwrap();
        let mut got = Vec::new();
        let (status, ranged) = http
            .download(&format!("{base}/start"), 7, true, |b, _| {
                got.extend_from_slice(b);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            (status, ranged, got.as_slice()),
            (206, true, b"xyz".as_slice())
        );
        let first = base_seen.lock().unwrap()[0].to_ascii_lowercase();
        assert!(
            first.contains("authorization: token s3cret") && first.contains("range: bytes=7-"),
            "{first}"
        );
        let second = other_seen.lock().unwrap()[0].to_ascii_lowercase();
        assert!(
            !second.contains("s3cret") && second.contains("range: bytes=7-"),
            "{second}"
        );
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let http = Http::new(
            HttpConfig {
                backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                ..HttpConfig::default()
            },
            None,
        )
        .unwrap();
        for attempt in 1..10 {
            let d = http.backoff(attempt, None);
            assert!(d <= Duration::from_secs(2));
        }
        assert!(http.backoff(1, Some(Duration::from_secs(1))) >= Duration::from_secs(1));
        assert_eq!(
            http.backoff(1, Some(Duration::from_secs(100))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn redacts_secret_query_parameters() {
        let u = reqwest::Url::parse("https://mast.stsci.edu/x?uri=a&token=abc").unwrap();
        assert_eq!(redact(&u), "https://mast.stsci.edu/x?uri=a&token=***");
    }
}
