//! The request log: every request the sandbox serves (but its own
//! `/_sandbox/*` routes), decoded for comparison: method, path, query and
//! form fields, the decoded Mashup `request` object of an invoke, a JSON
//! body, three headers and how the token came (never the token itself: any
//! occurrence of it is replaced by [`REDACTED`]). Bounded to the last
//! [`CAPACITY`] requests. Served by `GET /_sandbox/requests`, cleared by
//! `DELETE /_sandbox/requests` (docs/sandbox.md, "Request log").

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Most requests kept; older ones are dropped first.
pub const CAPACITY: usize = 10_000;

/// Largest body buffered (far above what any handler accepts: axum's
/// extractors refuse bodies over 2 MiB).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// What replaces the token wherever it appears.
pub const REDACTED: &str = "<redacted>";

/// The recorded requests, oldest first.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    next_seq: u64,
    entries: VecDeque<Value>,
}

impl RequestLog {
    /// Append one entry (its `seq` is set here).
    pub fn push(&self, mut entry: Value) {
        let Ok(mut log) = self.inner.lock() else {
            return;
        };
        log.next_seq += 1;
        entry["seq"] = json!(log.next_seq);
        if log.entries.len() >= CAPACITY {
            log.entries.pop_front();
        }
        log.entries.push_back(entry);
    }

    /// `{"requests": [...]}`.
    pub fn snapshot(&self) -> Value {
        let entries: Vec<Value> = self
            .inner
            .lock()
            .map(|l| l.entries.iter().cloned().collect())
            .unwrap_or_default();
        json!({ "requests": entries })
    }

    /// Forget every entry; how many there were.
    pub fn clear(&self) -> usize {
        self.inner
            .lock()
            .map(|mut l| std::mem::take(&mut l.entries).len())
            .unwrap_or(0)
    }
}

/// The Mashup service an entry invokes, if it is an invoke.
pub fn service_of(entry: &Value) -> Option<&str> {
    entry.get("mashup")?.get("service")?.as_str()
}

/// Split a request into its recorded entry and the request to serve (the
/// body is buffered and put back).
pub async fn capture(req: Request, token: &str) -> (Value, Request) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.ok();
    let body_bytes = bytes.clone().unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("");
    let entry = entry(
        parts.method.as_str(),
        &path,
        query,
        &parts.headers,
        &body_bytes,
    );
    let req = Request::from_parts(parts, Body::from(bytes.unwrap_or_default()));
    (redact(entry, token), req)
}

/// The entry of one request (before redaction; `seq` added by the log).
pub fn entry(method: &str, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Value {
    let content_type = header_text(headers, header::CONTENT_TYPE.as_str());
    let text = String::from_utf8_lossy(body);
    let json_body = body_json(&text);
    let form = (json_body.is_none() && !text.trim().is_empty()).then(|| fields(&text));
    let mashup = path
        .ends_with("/invoke")
        .then(|| mashup_request(query, form.as_ref(), json_body.as_ref()))
        .flatten();
    json!({
        "seq": 0,
        "method": method,
        "path": path,
        "query": fields(query),
        "form": form,
        "mashup": mashup,
        "json": json_body,
        "headers": {
            "user-agent": header_text(headers, header::USER_AGENT.as_str()),
            "accept": header_text(headers, header::ACCEPT.as_str()),
            "content-type": content_type,
        },
        "auth": auth_kind(headers),
    })
}

fn header_text(headers: &HeaderMap, name: &str) -> Value {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// A body that is a JSON object or array.
fn body_json(text: &str) -> Option<Value> {
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        serde_json::from_str(t).ok()
    } else {
        None
    }
}

/// Form or query fields, `{k: [v, ...]}` in order of first appearance.
pub fn fields(text: &str) -> Value {
    let mut out = Map::new();
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        let slot = out
            .entry(k.into_owned())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = slot {
            a.push(Value::String(v.into_owned()));
        }
    }
    Value::Object(out)
}

/// The decoded `request` object of an invoke: a JSON body, the form field
/// `request`, or the query parameter `request`.
fn mashup_request(query: &str, form: Option<&Value>, json_body: Option<&Value>) -> Option<Value> {
    if let Some(j) = json_body {
        return Some(j.clone());
    }
    let from = |v: &Value| {
        v.get("request")
            .and_then(|r| r.get(0))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
    };
    form.and_then(from).or_else(|| from(&fields(query)))
}

/// `"header"` (Authorization), `"cookie"` (`mast_token`) or null.
fn auth_kind(headers: &HeaderMap) -> Value {
    if headers.contains_key(header::AUTHORIZATION) {
        return json!("header");
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|c| c.split(';'))
        .any(|kv| kv.trim().starts_with("mast_token="));
    if cookie { json!("cookie") } else { Value::Null }
}

/// `v` with every occurrence of `token` in its strings (keys too) replaced.
pub fn redact(v: Value, token: &str) -> Value {
    if token.is_empty() {
        return v;
    }
    let fix = |s: String| {
        if s.contains(token) {
            s.replace(token, REDACTED)
        } else {
            s
        }
    };
    match v {
        Value::String(s) => Value::String(fix(s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| redact(x, token)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (fix(k), redact(x, token)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn invoke_form_is_decoded() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("mast_token=sekrit"),
        );
        let body = b"request=%7B%22service%22%3A+%22Mast.Caom.Products%22%2C+%22params%22%3A+%7B%22obsid%22%3A+%221%22%7D%7D";
        let e = entry("POST", "/api/v0/invoke", "", &h, body);
        assert_eq!(e["mashup"]["params"]["obsid"], json!("1"));
        assert_eq!(e["auth"], json!("cookie"));
        assert_eq!(e["json"], Value::Null);
        assert!(
            e["form"]["request"][0]
                .as_str()
                .unwrap()
                .contains("Products")
        );
    }

    #[test]
    fn json_body_and_query() {
        let e = entry(
            "POST",
            "/search/jwst/api/v0.1/search",
            "a=1&a=2&b=x",
            &HeaderMap::new(),
            br#"{"limit": 5}"#,
        );
        assert_eq!(e["json"], json!({"limit": 5}));
        assert_eq!(e["query"], json!({"a": ["1", "2"], "b": ["x"]}));
        assert_eq!(e["form"], Value::Null);
        assert_eq!(e["mashup"], Value::Null);
        assert_eq!(e["auth"], Value::Null);
    }

    #[test]
    fn token_is_redacted_and_log_is_bounded() {
        let v = redact(json!({"a": ["x sekrit y"], "sekrit": 1}), "sekrit");
        assert_eq!(v, json!({"a": ["x <redacted> y"], "<redacted>": 1}));
        let log = RequestLog::default();
        for i in 0..CAPACITY + 3 {
            log.push(json!({"i": i}));
        }
        let s = log.snapshot();
        let r = s["requests"].as_array().unwrap();
        assert_eq!(r.len(), CAPACITY);
        assert_eq!(r[0]["seq"], json!(4));
        assert_eq!(log.clear(), CAPACITY);
        assert_eq!(log.snapshot()["requests"], json!([]));
    }
}
