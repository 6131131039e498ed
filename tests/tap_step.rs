//! `tap` steps end to end against the sandbox's TAP service: the same rows
//! as the Mashup search, sync and async, an injection attempt, overflow as
//! error / warning / pages, errors served with HTTP 200, the gateway 504
//! falling back to async, a killed run resuming its job, offline replay.

use assert_cmd::Command;
use mastflow::sandbox::{self, Config};
use mastflow::table::Table;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const TAP: &str = "/vo-tap/api/v0.1/caom";

async fn start(faults: Option<&str>) -> sandbox::Running {
    sandbox::start(Config {
        faults: faults.map(str::to_string),
        ..Config::default()
    })
    .await
    .unwrap()
}

/// Run `manifest` (text) against `base`; returns (exit code, stderr).
fn run(dir: &Path, base: &str, manifest: &str, extra: &[&str]) -> (i32, String) {
    let m = dir.join("m.yaml");
    std::fs::write(&m, manifest).unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env("MASTFLOW_CACHE_DIR", dir.join("cache"))
        .args(["run", "-q", "--base-url", base, "--out"])
        .arg(dir.join("out"))
        .args(extra)
        .arg(&m)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn table(dir: &Path, file: &str) -> Table {
    mastflow::table::io::read_path(&dir.join("out").join(file), None).unwrap()
}

fn strings(t: &Table, col: &str) -> Vec<String> {
    t.column(col)
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect()
}

fn step(dir: &Path, name: &str) -> Value {
    let r: Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/run.json")).unwrap()).unwrap();
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap()
}

async fn stats(base: &str) -> Value {
    reqwest::get(format!("{base}/_sandbox/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn requests_to(stats: &Value, path: &str) -> u64 {
    stats["by_path"][path].as_u64().unwrap_or(0)
}

const SAME_AS_MASHUP: &str = r#"
version: 1
name: tap-vs-mashup
params:
  program: "1073"
steps:
  tap_sync:
    kind: tap
    service: mast-caom
    mode: sync
    query: |
      SELECT obsid, obs_id, instrument_name, t_exptime
      FROM dbo.obspointing
      WHERE obs_collection = 'JWST' AND proposal_id = {{ params.program | adql_string }}
        AND instrument_name LIKE 'NIRCAM%'
  tap_async:
    kind: tap
    service: mast-caom
    mode: async
    query: |
      SELECT obsid, obs_id, instrument_name, t_exptime
      FROM dbo.obspointing
      WHERE obs_collection = 'JWST' AND proposal_id = {{ params.program | adql_string }}
        AND instrument_name LIKE 'NIRCAM%'
  mashup:
    kind: caom
    criteria:
      obs_collection: JWST
      proposal_id: "{{ params.program }}"
      instrument_name: "NIRCAM*"
    columns: [obsid, obs_id, instrument_name, t_exptime]
outputs:
  - {from: tap_sync, path: sync.csv}
  - {from: tap_async, path: async.csv}
  - {from: mashup, path: mashup.csv}
"#;

/// TAP (sync and async) and the Mashup search answer the same question with
/// the same observations; the async job is deleted once read.
#[tokio::test(flavor = "multi_thread")]
async fn tap_gives_the_mashup_rows_sync_and_async() {
    let sb = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = tokio::task::block_in_place(|| {
        run(dir.path(), &sb.base_url, SAME_AS_MASHUP, &["--no-cache"])
    });
    assert_eq!(code, 0, "{err}");
    let set = |f: &str| -> BTreeSet<String> {
        strings(&table(dir.path(), f), "obs_id")
            .into_iter()
            .collect()
    };
    let mashup = set("mashup.csv");
    assert!(mashup.len() >= 15, "program 1073 NIRCam: {}", mashup.len());
    assert_eq!(set("sync.csv"), mashup);
    assert_eq!(set("async.csv"), mashup);
    let a = step(dir.path(), "tap_async");
    let job = a["jobs"][0].as_str().unwrap().to_string();
    assert!(job.contains(&format!("{TAP}/async/")), "{job}");
    let gone = reqwest::get(&job).await.unwrap().status();
    assert_eq!(gone, 404, "the job was deleted after its result was read");
    assert!(!dir.path().join("out/run.jobs.json").exists());
    sb.shutdown().await;
}

/// A value spliced through `adql_string` stays one literal: the classic
/// `' OR 1=1 --` finds nothing instead of everything. Without a quoting
/// filter the manifest does not validate.
#[tokio::test(flavor = "multi_thread")]
async fn an_injection_attempt_finds_nothing() {
    let sb = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = |splice: &str| {
        format!(
            r#"
version: 1
name: injection
params:
  target: "x' OR 1=1 --"
steps:
  obs:
    kind: tap
    service: mast-caom
    query: "SELECT obs_id FROM ivoa.obscore WHERE target_name = {splice}"
outputs:
  - {{from: obs, path: obs.csv}}
"#
        )
    };
    let (code, err) = tokio::task::block_in_place(|| {
        run(
            dir.path(),
            &sb.base_url,
            &manifest("{{ params.target | adql_string }}"),
            &[],
        )
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(dir.path(), "obs.csv").num_rows(), 0);
    // The same text spliced raw would have matched every row; it is refused.
    let (code, err) = tokio::task::block_in_place(|| {
        run(
            dir.path(),
            &sb.base_url,
            &manifest("'{{ params.target }}'"),
            &[],
        )
    });
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("inside quotes"), "{err}");
    sb.shutdown().await;
}

fn overflow_manifest(policy: &str, extra: &str) -> String {
    format!(
        r#"
version: 1
name: overflow
steps:
  obs:
    kind: tap
    service: mast-caom
    query: SELECT obsid, obs_id FROM dbo.obspointing WHERE obs_collection = 'JWST'
    maxrec: 100
    overflow: {policy}
{extra}
  all:
    kind: tap
    service: mast-caom
    query: SELECT obsid, obs_id FROM dbo.obspointing WHERE obs_collection = 'JWST'
outputs:
  - {{from: obs, path: obs.csv}}
  - {{from: all, path: all.csv}}
"#
    )
}

/// MAXREC below the row count: `error` fails naming it, `warn` keeps the
/// truncated rows, `page` (keyset or OFFSET) gets exactly the full answer.
#[tokio::test(flavor = "multi_thread")]
async fn overflow_errors_warns_or_pages_to_completion() {
    let sb = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let go = |m: String| {
        tokio::task::block_in_place(|| run(d, &sb.base_url, &m, &["--no-cache", "--keep-going"]))
    };
    let (code, err) = go(overflow_manifest("error", ""));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("truncated the result at 100 rows") && err.contains("MAXREC=100"),
        "{err}"
    );
    let (code, err) = go(overflow_manifest("warn", ""));
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(d, "obs.csv").num_rows(), 100);
    assert!(
        step(d, "obs")["notes"]
            .to_string()
            .contains("warning: the TAP service truncated")
    );
    let all = strings(&table(d, "all.csv"), "obs_id");
    assert!(all.len() > 250, "JWST rows in the sandbox: {}", all.len());
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    for extra in [
        "    page_by: obsid\n    page_size: 100",
        "    page_size: 100",
    ] {
        let mut m = overflow_manifest("page", extra);
        if !extra.contains("page_by") {
            m = m.replace(
                "WHERE obs_collection = 'JWST'\n    maxrec",
                "WHERE obs_collection = 'JWST' ORDER BY obsid\n    maxrec",
            );
        }
        let (code, err) = go(m);
        assert_eq!(code, 0, "{extra}: {err}");
        let paged = strings(&table(d, "obs.csv"), "obs_id");
        assert_eq!(paged.len(), all.len(), "{extra}: every row, none twice");
        assert_eq!(sorted(paged), sorted(all.clone()), "{extra}");
        let pages = all.len().div_ceil(100) + usize::from(all.len() % 100 == 0);
        assert_eq!(
            step(d, "obs")["requests"].as_u64().unwrap() as usize,
            pages,
            "{extra}"
        );
    }
    sb.shutdown().await;
}

/// An ADQL error comes back with HTTP 200 and QUERY_STATUS=ERROR: the step
/// fails quoting the service's message (sync and async alike).
#[tokio::test(flavor = "multi_thread")]
async fn a_query_error_quotes_the_service() {
    let sb = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    for mode in ["sync", "async"] {
        let m = format!(
            "version: 1\nname: err\nsteps:\n  obs:\n    kind: tap\n    service: mast-caom\n    mode: {mode}\n    query: SELECT nope FROM ivoa.obscore\n"
        );
        let (code, err) =
            tokio::task::block_in_place(|| run(dir.path(), &sb.base_url, &m, &["--no-cache"]));
        assert_eq!(code, 1, "{mode}: {err}");
        assert!(
            err.contains("rejected the query") && err.contains("nope"),
            "{mode}: {err}"
        );
    }
    sb.shutdown().await;
}

/// MAST's gateway answers a slow sync query with 504: `auto` resubmits it as
/// an async job at once (no sync retries), `sync` fails saying what to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_timeout_goes_async() {
    let sb = start(Some("status=504,only=tap-sync")).await;
    let dir = tempfile::tempdir().unwrap();
    let m = |mode: &str| {
        format!(
            "version: 1\nname: gw\nsteps:\n  obs:\n    kind: tap\n    service: mast-caom\n    mode: {mode}\n    query: SELECT TOP 5 obs_id FROM ivoa.obscore\noutputs:\n  - {{from: obs, path: obs.csv}}\n"
        )
    };
    let (code, err) =
        tokio::task::block_in_place(|| run(dir.path(), &sb.base_url, &m("auto"), &["--no-cache"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(dir.path(), "obs.csv").num_rows(), 5);
    assert!(
        step(dir.path(), "obs")["notes"]
            .to_string()
            .contains("ran it as an async job")
    );
    let s = stats(&sb.base_url).await;
    assert_eq!(requests_to(&s, &format!("{TAP}/sync")), 1, "{s}");
    let (code, err) =
        tokio::task::block_in_place(|| run(dir.path(), &sb.base_url, &m("sync"), &["--no-cache"]));
    assert_eq!(code, 1);
    assert!(err.contains("mode: async"), "{err}");
    sb.shutdown().await;
}

/// A run killed (SIGKILL) while its async job executes leaves the job in
/// the journal; the next run resumes that job instead of submitting the
/// query again, and the run record names it.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_resumes_its_job() {
    let sb = start(Some("tap-exec=4000")).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = d.join("m.yaml");
    std::fs::write(
        &m,
        "version: 1\nname: resume\nsteps:\n  obs:\n    kind: tap\n    service: mast-caom\n    mode: async\n    query: SELECT TOP 7 obs_id FROM ivoa.obscore ORDER BY obs_id\noutputs:\n  - {from: obs, path: obs.csv}\n",
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mastflow");
    let mut child = std::process::Command::new(&bin)
        .args([
            "run",
            "-q",
            "--no-cache",
            "--base-url",
            &sb.base_url,
            "--out",
        ])
        .arg(d.join("out"))
        .arg(&m)
        .spawn()
        .unwrap();
    let journal = d.join("out/run.jobs.json");
    let t0 = std::time::Instant::now();
    while !journal.exists() && t0.elapsed().as_secs() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        journal.exists(),
        "the job is journalled as soon as it exists"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let recorded: Value = serde_json::from_slice(&std::fs::read(&journal).unwrap()).unwrap();
    let job = recorded["obs"]["job"].as_str().unwrap().to_string();
    let (code, err) = tokio::task::block_in_place(|| {
        run(
            d,
            &sb.base_url,
            &std::fs::read_to_string(&m).unwrap(),
            &["--no-cache"],
        )
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(table(d, "obs.csv").num_rows(), 7);
    let s = step(d, "obs");
    assert_eq!(s["jobs"][0].as_str(), Some(job.as_str()), "{s}");
    assert!(s["notes"].to_string().contains("resumed job"), "{s}");
    let st = stats(&sb.base_url).await;
    assert_eq!(
        requests_to(&st, &format!("{TAP}/async")),
        1,
        "one job was created in all: {st}"
    );
    assert!(!journal.exists());
    sb.shutdown().await;
}

/// A second run is answered by the response cache; with the sandbox gone,
/// `--offline` reproduces the outputs byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn offline_replays_tap_results() {
    let sb = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = "version: 1\nname: cached\nsteps:\n  obs:\n    kind: tap\n    service: mast-caom\n    query: SELECT obsid, obs_id, s_ra FROM dbo.obspointing WHERE obs_collection = 'JWST'\n    overflow: page\n    page_by: obsid\n    page_size: 200\noutputs:\n  - {from: obs, path: obs.ecsv}\n";
    let (code, err) = tokio::task::block_in_place(|| run(d, &sb.base_url, m, &[]));
    assert_eq!(code, 0, "{err}");
    let online = std::fs::read(d.join("out/obs.ecsv")).unwrap();
    let pages = step(d, "obs")["requests"].as_u64().unwrap();
    assert!(pages >= 2);
    let base = sb.base_url.clone();
    sb.shutdown().await;
    let (code, err) = tokio::task::block_in_place(|| run(d, &base, m, &["--offline"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(d.join("out/obs.ecsv")).unwrap(), online);
    let s = step(d, "obs");
    assert_eq!(
        (s["requests"].as_u64(), s["cache_hits"].as_u64()),
        (Some(0), Some(pages))
    );
}

/// The shipped example: TAP cone → Mashup products. Every observation whose
/// pointing is in the cone is one the Mashup footprint search also finds
/// (a footprint overlapping the cone is the wider test), and every science
/// product belongs to one of them.
#[tokio::test(flavor = "multi_thread")]
async fn the_tap_example_chains_into_products() {
    let sb = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(repo.join("manifests/examples/tap-trappist1.yaml"))
        .unwrap()
        .replace(
            "\noutputs:",
            "\n  mashup_cone:\n    kind: caom\n    criteria: {obs_collection: JWST}\n    position: {ra: 346.6223683, dec: -5.0413975, radius: 0.05deg}\n    columns: [obs_id]\n\noutputs:\n  - {from: mashup_cone, path: mashup_cone.csv}",
        );
    let (code, err) =
        tokio::task::block_in_place(|| run(dir.path(), &sb.base_url, &example, &["--no-cache"]));
    assert_eq!(code, 0, "{err}");
    let tap: BTreeSet<String> = strings(&table(dir.path(), "observations.ecsv"), "obs_id")
        .into_iter()
        .collect();
    let mashup: BTreeSet<String> = strings(&table(dir.path(), "mashup_cone.csv"), "obs_id")
        .into_iter()
        .collect();
    assert!(tap.len() > 50, "TRAPPIST-1 observations: {}", tap.len());
    assert!(
        tap.is_subset(&mashup),
        "{:?}",
        tap.difference(&mashup).collect::<Vec<_>>()
    );
    let science = table(dir.path(), "science_products.ecsv");
    assert!(science.num_rows() > 0);
    let parents: BTreeSet<String> = table(dir.path(), "observations.ecsv")
        .column("obsid")
        .unwrap()
        .iter()
        .map(|v| v.display())
        .collect();
    // Products of a level-3 observation carry their member's obsID and the
    // requested observation as parent_obsid.
    let parent = science.column("parent_obsid").unwrap();
    assert!(parent.iter().all(|v| parents.contains(&v.display())));
    sb.shutdown().await;
}

/// 502/503/504 are retried with backoff (Retry-After honoured): the first
/// two TAP requests answer 503, and the step still succeeds, sync and async.
#[tokio::test(flavor = "multi_thread")]
async fn unavailable_is_retried() {
    for (mode, route) in [("sync", "tap-sync"), ("async", "tap-async")] {
        let spec = format!("status=503,retry-after=0,first=2,only={route}");
        let sb = start(Some(&spec)).await;
        let dir = tempfile::tempdir().unwrap();
        let m = format!(
            "version: 1\nname: retry\nsteps:\n  obs:\n    kind: tap\n    service: mast-caom\n    mode: {mode}\n    query: SELECT TOP 3 obs_id FROM ivoa.obscore ORDER BY obs_id\noutputs:\n  - {{from: obs, path: obs.csv}}\n"
        );
        let (code, err) =
            tokio::task::block_in_place(|| run(dir.path(), &sb.base_url, &m, &["--no-cache"]));
        assert_eq!(code, 0, "{mode}: {err}");
        assert_eq!(table(dir.path(), "obs.csv").num_rows(), 3, "{mode}");
        let s = step(dir.path(), "obs");
        let requests = s["requests"].as_u64().unwrap();
        let unfaulted = if mode == "sync" { 1 } else { 5 };
        assert!(
            requests >= unfaulted + 2,
            "{mode}: the two 503s were retried ({requests} requests)"
        );
        sb.shutdown().await;
    }
}
