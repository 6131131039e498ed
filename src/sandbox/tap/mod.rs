//! The sandbox's TAP service (`/vo-tap/api/v0.1/caom/…`, TAP 1.1 with
//! UWS 1.1 and VOSI), over the same archive as the Mashup services. See
//! `docs/sandbox.md` ("TAP") and `docs/tap.md`.
//!
//! This module owns the TAP request (its parameters, [`execute`]) and the
//! service state ([`Tap`]: the async jobs). Submodules: `catalog` (tables
//! and TAP_SCHEMA), `obscore` (the ObsCore mapping), `adql` (parsing with
//! `sqlparser` and checking the ADQL subset), `eval` (running a plan over
//! the archive), `output` (formats, result and error documents), `uws`
//! (jobs), `vosi` (capabilities, tables, availability) and `routes` (the
//! HTTP handlers, mounted by `sandbox::http`).

pub mod adql;
pub mod catalog;
pub mod eval;
pub mod obscore;
pub mod output;
pub mod routes;
pub mod uws;
pub mod vosi;

#[cfg(test)]
mod tests;

use crate::sandbox::data::Archive;

/// The collection path the service answers under.
pub const BASE_PATH: &str = "/vo-tap/api/v0.1/caom";

/// Default MAXREC, which is also the hard limit (MAST's reported row cap).
pub const MAX_REC: u64 = 100_000;

/// Query languages accepted in `LANG`.
pub const LANGS: &[&str] = &["ADQL", "ADQL-2.0", "ADQL-2.1"];

/// Service state kept across requests.
#[derive(Default)]
pub struct Tap {
    pub jobs: std::sync::Arc<uws::Jobs>,
}

/// TAP parameters: names case-insensitive (stored lower-case), values as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// From `application/x-www-form-urlencoded` texts (query string, body).
    pub fn from_forms(forms: &[&[u8]]) -> Params {
        let mut p = Params::default();
        for f in forms {
            for (k, v) in form_urlencoded::parse(f) {
                p.0.push((k.to_ascii_lowercase(), v.into_owned()));
            }
        }
        p
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Set `name`, replacing earlier values.
    pub fn set(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        self.0.retain(|(k, _)| *k != name);
        self.0.push((name, value.to_string()));
    }
}

/// A TAP answer: the body and its `Content-Type`; `error` is the message
/// of an error document.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Vec<u8>,
    pub content_type: String,
    pub error: Option<String>,
}

impl Answer {
    /// A DALI error document (served with HTTP 200, as DaCHS does).
    pub fn error(message: &str) -> Answer {
        Answer {
            body: output::error_doc(message),
            content_type: "text/xml".to_string(),
            error: Some(message.to_string()),
        }
    }
}

/// MAXREC: default and hard limit [`MAX_REC`] (larger values are clamped).
pub fn maxrec(p: &Params) -> Result<u64, String> {
    match p.get("MAXREC").map(str::trim) {
        None | Some("") => Ok(MAX_REC),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as u64).min(MAX_REC))
            .ok_or_else(|| format!("MAXREC must be a non-negative integer, not '{v}'")),
    }
}

/// Check the parameters of a query (LANG, QUERY, format, MAXREC).
fn checked(p: &Params) -> Result<(&str, output::Chosen, u64), String> {
    let lang = p.get("LANG").unwrap_or("ADQL");
    if !LANGS.iter().any(|l| l.eq_ignore_ascii_case(lang.trim())) {
        return Err(format!(
            "This service does not support the query language {lang}; use LANG=ADQL"
        ));
    }
    let query = p
        .get("QUERY")
        .filter(|q| !q.trim().is_empty())
        .ok_or("The QUERY parameter is missing")?;
    let format = p.get("RESPONSEFORMAT").or_else(|| p.get("FORMAT"));
    let chosen = output::choose(format)?;
    Ok((query, chosen, maxrec(p)?))
}

/// Run a TAP query (blocking): the result document, or an error document.
pub fn execute(p: &Params, archive: &Archive, base: &str) -> Answer {
    let (query, chosen, maxrec) = match checked(p) {
        Ok(x) => x,
        Err(e) => return Answer::error(&e),
    };
    let cat = catalog::catalog();
    let plan = match adql::compile(query, cat) {
        Ok(p) => p,
        Err(e) => return Answer::error(&format!("ADQL error: {e}")),
    };
    let src = eval::Src::of(cat, plan.table, archive, base);
    let out = eval::run(&plan, src, archive, maxrec);
    let name = &cat.tables[plan.table].name;
    let name = name.rsplit('.').next().unwrap_or(name);
    Answer {
        body: output::render(&out, chosen.kind, name, query),
        content_type: chosen.content_type,
        error: None,
    }
}

/// XML-escape text or an attribute value.
pub fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}
