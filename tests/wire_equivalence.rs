//! Wire equivalence (issue 11): the same work sent by astroquery/pyvo and by
//! mastflow must be the same requests. Each test starts one STRICT sandbox
//! in-process, runs one workflow through astroquery or pyvo
//! (`tests/interop/wire_astroquery.py`), reads the sandbox's request log
//! (`GET /_sandbox/requests`), clears it, runs the same workflow through a
//! mastflow manifest, reads the log again and compares the two.
//!
//! Comparison: every request is normalised ([`normalise`]) and the two logs
//! are compared as multisets (mastflow runs requests concurrently, so order
//! is not compared; batches are, through their `obsid` strings). The
//! normaliser ignores only the `cacheBreaker` nonce ([`CACHE_BREAKER`]), the
//! text encoding of forms and JSON ([`ENCODING`]) and the differences decided
//! to be kept ([`KEPT`]), each one small named rule with its reason. Lists
//! MAST treats as sets (a filter's `values`, missions `conditions` and
//! `dataset_ids`) are compared as sets ([`as_sets`]); JSON types are kept
//! (`"87742159"` is not `87742159`).
//!
//! Python comes from `MASTFLOW_PYTHON`; without astroquery/pyvo the tests
//! print `SKIPPED:` and pass, unless `MASTFLOW_REQUIRE_INTEROP=1`.

mod common;

use assert_cmd::Command;
use common::{interop_dir, python, repo};
use serde_json::{Map, Value};
use std::path::Path;

/// How a rule changes one normalised request: `None` drops it.
type Apply = fn(Value) -> Option<Value>;

/// One difference the comparison does not count, with the reason.
struct Rule {
    name: &'static str,
    why: &'static str,
    apply: Apply,
}

/// Ignored: a per-call nonce (astroquery: uuid4; mastflow: request key).
const CACHE_BREAKER: Rule = Rule {
    name: "cacheBreaker",
    why: "a per-request nonce; MAST's cache key is service + params only",
    apply: |mut r| {
        if let Some(m) = r.get_mut("mashup").and_then(Value::as_object_mut) {
            m.remove("cacheBreaker");
            m.remove("cachebreaker");
        }
        Some(r)
    },
};

/// Ignored: how the request object is encoded (`json.dumps` + `quote()` vs
/// compact JSON + WHATWG form encoding); the decoded `mashup` is compared.
const ENCODING: Rule = Rule {
    name: "encoding",
    why: "both are valid x-www-form-urlencoded / JSON; the decoded values are compared",
    apply: |mut r| {
        if !r["mashup"].is_null() {
            r["form"] = Value::Null;
        }
        Some(r)
    },
};

/// Kept: astroquery fetches columns configs and the missions column list
/// before its first query; mastflow uses built-in configs.
const PREFETCH: Rule = Rule {
    name: "astroquery pre-fetch (columnsconfig, column_list)",
    why: "mastflow uses built-in column configs (src/services/caom.rs FIELDS)",
    apply: |r| {
        let p = path(&r);
        (!(p.ends_with("/columnsconfig") || p.ends_with("/column_list"))).then_some(r)
    },
};

/// Kept: pyvo's extra GETs (capabilities, VOSI, job polls) around TAP.
const PYVO_EXTRAS: Rule = Rule {
    name: "pyvo async polls and capabilities",
    why: "UWS usage is equivalent; pyvo polls and reads VOSI documents mastflow does not need",
    apply: |r| {
        let p = path(&r);
        let tap_get = r["method"] == "GET" && p.starts_with("/vo-tap/") && !p.ends_with("/sync");
        (!tap_get).then_some(r)
    },
};

/// Kept: headers differ (User-Agent, Accept, Accept-Encoding).
const HEADERS: Rule = Rule {
    name: "headers",
    why: "no MAST behaviour is known to depend on User-Agent/Accept/Accept-Encoding",
    apply: |mut r| {
        r.as_object_mut()?.remove("headers");
        Some(r)
    },
};

/// Kept: the token travels as a cookie (astroquery) or a header (mastflow).
const TOKEN_TRANSPORT: Rule = Rule {
    name: "token transport",
    why: "cookie mast_token vs Authorization: token, both accepted by MAST",
    apply: |mut r| {
        r.as_object_mut()?.remove("auth");
        Some(r)
    },
};

/// Kept: astroquery's HEAD before a download and its bundle.sh request.
const DOWNLOAD_EXTRAS: Rule = Rule {
    name: "HEAD before download, bundle.sh",
    why: "mastflow writes its own download scripts and resumes with Range",
    apply: |r| {
        let drop = r["method"] == "HEAD" || path(&r).ends_with("/Download/bundle.sh");
        (!drop).then_some(r)
    },
};

/// Kept: astroquery resolves names with SANTA, mastflow with Mast.Name.Lookup.
const NAME_RESOLUTION: Rule = Rule {
    name: "name resolution",
    why: "astroquery uses SANTA /Santa-war/query, mastflow Mast.Name.Lookup",
    apply: |r| {
        let lookup = r["mashup"]["service"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("Mast.Name.Lookup"));
        (!(lookup || path(&r) == "/Santa-war/query")).then_some(r)
    },
};

/// Kept: polling timing (the log carries no times; re-posts while
/// `EXECUTING` do not happen on a sandbox without faults).
const POLLING_TIMING: Rule = Rule {
    name: "polling timing",
    why: "astroquery re-posts at once, mastflow backs off; the request log has no times",
    apply: Some,
};

/// Kept: concurrency of every service but `Mast.Caom.Products`, whose
/// requests must stay one at a time as astroquery sends them (their
/// `in_flight` is compared; every other request's is dropped).
const OTHER_CONCURRENCY: Rule = Rule {
    name: "concurrency of other services",
    why: "astroquery is sequential; mastflow bounds other services by --per-host only",
    apply: |mut r| {
        let products = r["mashup"]["service"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("Mast.Caom.Products"));
        if !products {
            if let Some(o) = r.as_object_mut() {
                o.remove("in_flight");
            }
        }
        Some(r)
    },
};

/// The differences decided to be kept (issue 11), after the two ignored ones.
const KEPT: &[Rule] = &[
    OTHER_CONCURRENCY,
    PREFETCH,
    PYVO_EXTRAS,
    HEADERS,
    TOKEN_TRANSPORT,
    DOWNLOAD_EXTRAS,
    NAME_RESOLUTION,
    POLLING_TIMING,
];

fn path(r: &Value) -> &str {
    r["path"].as_str().unwrap_or("")
}

/// Sort the lists MAST treats as sets: a filter's `values` (OR-ed),
/// missions `conditions` (AND-ed) and `dataset_ids`.
fn as_sets(mut r: Value) -> Value {
    let sort = |v: &mut Value| {
        if let Some(a) = v.as_array_mut() {
            a.sort_by_key(|x| x.to_string());
        }
    };
    if let Some(filters) = r
        .pointer_mut("/mashup/params/filters")
        .and_then(Value::as_array_mut)
    {
        filters.iter_mut().for_each(|f| sort(&mut f["values"]));
    }
    if r["json"].is_object() {
        for key in ["conditions", "dataset_ids"] {
            if let Some(v) = r["json"].get_mut(key) {
                sort(v);
            }
        }
    }
    r
}

/// Objects with sorted keys (JSON key order is not part of the request),
/// numbers by value.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut kv: Vec<(String, Value)> = o.into_iter().collect();
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(kv.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        // JSON has one number type: `1000` and `1000.0` are the same value
        // (a string "1000" stays a string: types are still compared).
        Value::Number(n) => n.as_f64().map_or(Value::Number(n), Value::from),
        other => other,
    }
}

/// One logged request, normalised; `None` when a rule drops it.
fn normalise(mut r: Value) -> Option<Value> {
    let o = r.as_object_mut()?;
    o.remove("seq");
    if o.get("query")
        .is_some_and(|q| q == &Value::Object(Map::new()))
    {
        o.insert("query".into(), Value::Null);
    }
    let mut r = (ENCODING.apply)((CACHE_BREAKER.apply)(r)?)?;
    for rule in KEPT {
        r = (rule.apply)(r)?;
    }
    Some(canonical(as_sets(r)))
}

/// The normalised requests of a log, one JSON line each, sorted.
fn lines(log: &Value) -> Vec<String> {
    let mut v: Vec<String> = log["requests"]
        .as_array()
        .expect("a request log")
        .iter()
        .cloned()
        .filter_map(normalise)
        .map(|r| r.to_string())
        .collect();
    v.sort();
    v
}

static NULL: Value = Value::Null;

/// Field-level differences between two requests (`path: a != b`).
fn field_diff(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (x.get(k).unwrap_or(&NULL), y.get(k).unwrap_or(&NULL));
                field_diff(va, vb, &format!("{at}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                field_diff(va, vb, &format!("{at}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("  {at}: astroquery {a} | mastflow {b}")),
        _ => {}
    }
}

/// What identifies "the same kind of request" for pairing in the report.
fn kind(r: &Value) -> String {
    format!(
        "{} {} {}",
        r["method"].as_str().unwrap_or(""),
        path(r),
        r["mashup"]["service"].as_str().unwrap_or("")
    )
}

/// The unpaired mastflow request of the same kind as `ra` with the fewest
/// field differences (taken out of `candidates`), and those differences.
fn closest(ra: &Value, candidates: &mut [Option<Value>]) -> Option<(Value, Vec<String>)> {
    let diffs = |rm: &Value| {
        let mut d = Vec::new();
        field_diff(ra, rm, "", &mut d);
        d
    };
    let best = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            c.as_ref()
                .filter(|c| kind(c) == kind(ra))
                .map(|c| (i, diffs(c)))
        })
        .min_by_key(|(_, d)| d.len())?;
    candidates[best.0].take().map(|rm| (rm, best.1))
}

/// A readable report of two normalised logs; empty when they are equal.
fn diff(astro: &[String], ours: &[String]) -> String {
    let (mut only_a, mut only_m) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < astro.len() || j < ours.len() {
        match (astro.get(i), ours.get(j)) {
            (Some(a), Some(m)) if a == m => {
                i += 1;
                j += 1;
            }
            (Some(a), m) if m.is_none_or(|m| a < m) => {
                only_a.push(a);
                i += 1;
            }
            (_, Some(m)) => {
                only_m.push(m);
                j += 1;
            }
            _ => break,
        }
    }
    if only_a.is_empty() && only_m.is_empty() {
        return String::new();
    }
    let parse = |s: &&String| serde_json::from_str::<Value>(s).unwrap();
    let a: Vec<Value> = only_a.iter().map(parse).collect();
    let mut m: Vec<Option<Value>> = only_m.iter().map(parse).map(Some).collect();
    let mut out = format!(
        "{} request(s) only astroquery sent, {} only mastflow sent ({} vs {} in all):\n",
        a.len(),
        m.len(),
        astro.len(),
        ours.len()
    );
    for ra in &a {
        match closest(ra, &mut m) {
            Some((_, d)) => {
                out.push_str(&format!("~ {} differs:\n{}\n", kind(ra), d.join("\n")));
            }
            None => out.push_str(&format!("- astroquery only: {ra}\n")),
        }
    }
    for rm in m.into_iter().flatten() {
        out.push_str(&format!("+ mastflow only: {rm}\n"));
    }
    out
}

// ---------------------------------------------------------------- running

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get_log(base: &str) -> Value {
    let url = format!("{base}/_sandbox/requests");
    let r = client().get(&url).send().await.unwrap();
    r.json().await.unwrap()
}

async fn clear_log(base: &str) {
    let url = format!("{base}/_sandbox/requests");
    let r = client().delete(&url).send().await.unwrap();
    assert!(r.status().is_success());
}

fn run_python(workflow: &str, base: &str) -> std::process::Output {
    std::process::Command::new(python())
        .arg("wire_astroquery.py")
        .arg(workflow)
        .current_dir(interop_dir())
        .env("MASTFLOW_SANDBOX_URL", base)
        .output()
        .unwrap()
}

fn run_mastflow(manifest: &Path, base: &str, out: &Path) -> std::process::Output {
    Command::cargo_bin("mastflow")
        .unwrap()
        .current_dir(repo())
        .env_remove("MAST_API_TOKEN")
        .env("MASTFLOW_CACHE_DIR", out.join("cache"))
        .args([
            "run",
            "-q",
            "--no-cache",
            "--keep-going",
            "--base-url",
            base,
        ])
        .arg(manifest)
        .arg("--out")
        .arg(out.join("out"))
        .output()
        .unwrap()
}

/// Run `workflow` both ways on one strict sandbox and assert the same requests.
async fn equivalent(workflow: &str, manifest: &str) {
    if !common::python_peer("astroquery and pyvo", "astroquery.mast, pyvo, yaml") {
        return;
    }
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let b = base.clone();
    let w = workflow.to_string();
    let astro = tokio::task::spawn_blocking(move || run_python(&w, &b))
        .await
        .unwrap();
    assert!(
        astro.status.success(),
        "astroquery/pyvo failed against the strict sandbox ({workflow}):\n{}",
        String::from_utf8_lossy(&astro.stderr)
    );
    let astro_log = get_log(&base).await;
    clear_log(&base).await;
    let dir = tempfile::tempdir().unwrap();
    let (b, d, m) = (
        base.clone(),
        dir.path().to_path_buf(),
        repo().join(manifest),
    );
    let ours = tokio::task::spawn_blocking(move || run_mastflow(&m, &b, &d))
        .await
        .unwrap();
    let ours_log = get_log(&base).await;
    sandbox.shutdown().await;
    let report = diff(&lines(&astro_log), &lines(&ours_log));
    assert!(
        report.is_empty(),
        "{workflow}: mastflow ({manifest}) does not send what astroquery/pyvo send.\n\
         Ignored: {}, {}; kept: {}.\n{report}\nmastflow exit {:?}, stderr:\n{}",
        CACHE_BREAKER.name,
        ENCODING.name,
        KEPT.iter()
            .map(|r| format!("{} ({})", r.name, r.why))
            .collect::<Vec<_>>()
            .join("; "),
        ours.status.code(),
        String::from_utf8_lossy(&ours.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn large_downloads_sends_what_astroquery_sends() {
    equivalent("large_downloads", "manifests/examples/large-downloads.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn si_keywords_sends_what_astroquery_sends() {
    equivalent(
        "si_keywords",
        "manifests/examples/si-keyword-exoplanets.yaml",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplication_check_sends_what_astroquery_sends() {
    equivalent("duplication", "manifests/examples/duplication-check.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missions_searches_send_what_astroquery_sends() {
    equivalent("missions", "tests/fixtures/wire/missions.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tap_query_sends_what_pyvo_sends() {
    equivalent("tap", "tests/fixtures/wire/tap.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn open_ranges_are_sent_as_astroquery_sends_them() {
    equivalent("open_range", "tests/fixtures/wire/open_range.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn templated_criteria_keep_their_slot_type() {
    equivalent("templated", "tests/fixtures/wire/templated.yaml").await;
}

// ---------------------------------------------------------------- the normaliser itself

fn req(v: Value) -> Value {
    serde_json::json!({"requests": [v]})
}

#[test]
fn normaliser_keeps_json_types_and_ignores_only_the_named_rules() {
    use serde_json::json;
    let aq = json!({"seq": 1, "method": "POST", "path": "/api/v0/invoke", "query": {},
        "form": {"request": ["{...}"]}, "json": null, "auth": "cookie",
        "headers": {"user-agent": "astroquery/0.4.11"},
        "mashup": {"service": "Mast.Caom.Products", "params": {"obsid": "87742159"},
                   "format": "json", "pagesize": 50000, "page": 1, "cacheBreaker": "u1"}});
    let mut ours = aq.clone();
    ours["seq"] = json!(9);
    ours["auth"] = json!("header");
    ours["headers"] = json!({"user-agent": "mastflow/0.1.0"});
    ours["mashup"]["cacheBreaker"] = json!("other");
    assert_eq!(
        diff(&lines(&req(aq.clone())), &lines(&req(ours.clone()))),
        ""
    );
    ours["mashup"]["params"]["obsid"] = json!(87742159);
    let report = diff(&lines(&req(aq)), &lines(&req(ours)));
    assert!(
        report.contains(".mashup.params.obsid: astroquery \"87742159\" | mastflow 87742159"),
        "{report}"
    );
}

#[test]
fn filter_values_are_sets_but_batches_are_not() {
    use serde_json::json;
    let filt = |values: Value, obsid: &str| {
        req(json!({"method": "POST", "path": "/api/v0/invoke",
            "mashup": {"service": "Mast.Caom.Filtered", "params": {"obsid": obsid, "filters": [
                {"paramName": "obs_id", "values": values}]}}}))
    };
    assert_eq!(
        diff(
            &lines(&filt(json!(["b", "a"]), "1,2")),
            &lines(&filt(json!(["a", "b"]), "1,2"))
        ),
        ""
    );
    assert_ne!(
        diff(
            &lines(&filt(json!(["a"]), "1,2")),
            &lines(&filt(json!(["a"]), "2,1"))
        ),
        ""
    );
    let prefetch = req(json!({"method": "POST",
        "path": "/portal/Mashup/Mashup.asmx/columnsconfig", "form": {"colConfigId": ["x"]}}));
    assert!(lines(&prefetch).is_empty());
}
