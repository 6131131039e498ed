//! Timeouts and retries (issue 13 item 7), against `mastflow sandbox` with
//! faults: per-request, per-step and per-run timeouts as flags and manifest
//! keys; a step's bound covers its retries; a run timeout keeps the outputs
//! of finished steps; a body cut short is retried like a reset; run.json
//! counts requests and retries of failed steps too; each error ends with
//! what to do (pinned in tests/snapshots).

use assert_cmd::Command;
use serde_json::Value;
use std::time::{Duration, Instant};

const SEARCH: &str = r#"
version: 1
name: timeouts
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073"}
outputs:
  - {from: observations, path: obs.csv}
"#;

struct Ran {
    code: Option<i32>,
    stderr: String,
    run_json: Option<Value>,
    invokes: usize,
    took: Duration,
    out: tempfile::TempDir,
}

impl Ran {
    fn step(&self, name: &str) -> &Value {
        let steps = self.run_json.as_ref().expect("run.json")["steps"]
            .as_array()
            .unwrap();
        steps.iter().find(|s| s["name"] == name).expect(name)
    }

    fn error_of(&self, name: &str) -> String {
        self.step(name)["error"].as_str().unwrap_or("").to_string()
    }
}

async fn run(faults: &str, manifest: &str, extra: &[&str]) -> Ran {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some(faults.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let m = manifest.to_string();
    let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let b = base.clone();
    let t0 = Instant::now();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), m).unwrap();
        let o = Command::cargo_bin("mastflow")
            .unwrap()
            .env_remove("MAST_API_TOKEN")
            .current_dir(&d)
            .args(["run", "m.yaml", "--out", "out", "--no-cache", "--base-url"])
            .arg(&b)
            .args(&args)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    let took = t0.elapsed();
    let log: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    sandbox.shutdown().await;
    let invokes = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/invoke")))
        .count();
    let run_json = std::fs::read(dir.path().join("out/run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ran {
        code,
        stderr: stderr.replace(&base, "http://SANDBOX"),
        run_json,
        invokes,
        took,
        out: dir,
    }
}

/// `text` with the sandbox's port masked: `http://127.0.0.1:PORT`.
fn stable(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("http://127.0.0.1:") {
        out.push_str(&rest[..i]);
        out.push_str("http://127.0.0.1:PORT");
        let tail = &rest[i + "http://127.0.0.1:".len()..];
        let digits = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

fn with_step_key(key: &str) -> String {
    SEARCH.replace(
        "    criteria: {obs_collection: JWST, proposal_id: \"1073\"}\n",
        &format!("    criteria: {{obs_collection: JWST, proposal_id: \"1073\"}}\n    {key}\n"),
    )
}

fn with_timeouts(t: &str) -> String {
    SEARCH.replace("steps:\n", &format!("timeouts: {t}\nsteps:\n"))
}

// ------------------------------------------------------------ request

#[tokio::test(flavor = "multi_thread")]
async fn a_request_timeout_flag_retries_a_slow_answer() {
    let r = run(
        "latency=4000,first=1,only=invoke",
        SEARCH,
        &["--request-timeout", "1s"],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("[retry] ") && l.contains("timed out")),
        "{}",
        r.stderr
    );
    assert!(r.took < Duration::from_secs(4), "took {:?}", r.took);
    assert_eq!(r.step("observations")["retries"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_request_timeout_applies_and_the_flag_wins() {
    let m = with_timeouts("{request: 1s}");
    let r = run("latency=3000,first=1,only=invoke", &m, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.step("observations")["retries"], 1, "{}", r.stderr);
    // The flag overrides the manifest: 10 s is long enough, no retry.
    let r = run(
        "latency=3000,first=1,only=invoke",
        &m,
        &["--request-timeout", "10s"],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.step("observations")["retries"], 0, "{}", r.stderr);
}

// ------------------------------------------------------------ step

#[tokio::test(flavor = "multi_thread")]
async fn a_step_deadline_bounds_its_retries() {
    // Each 503 asks for 5 s: six attempts would take 25 s.
    let r = run(
        "status=503,retry-after=5,only=invoke",
        &with_step_key("deadline: 3s"),
        &[],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
    let e = r.error_of("observations");
    assert!(
        e.starts_with("did not finish within 3 s (its `deadline`)"),
        "{e}"
    );
    assert!(e.contains("still retrying after HTTP 503"), "{e}");
    assert!(e.contains("raise the step's `deadline`"), "{e}");
    assert!(
        r.stderr
            .contains("step `observations` failed: did not finish within 3 s")
    );
    // Requests made before the deadline are counted.
    assert_eq!(r.step("observations")["requests"], r.invokes as u64);
    assert!(r.invokes >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn step_timeout_flag_and_key_bound_steps_without_a_deadline() {
    let r = run(
        "status=503,retry-after=5,only=invoke",
        SEARCH,
        &["--step-timeout", "2s"],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(9), "took {:?}", r.took);
    let e = r.error_of("observations");
    assert!(
        e.starts_with("did not finish within 2 s (--step-timeout)"),
        "{e}"
    );
    insta::assert_snapshot!("step_timeout_error", stable(&e));

    let r = run(
        "status=503,retry-after=5,only=invoke",
        &with_timeouts("{step: 2s}"),
        &[],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(9), "took {:?}", r.took);
    assert!(r.error_of("observations").contains("within 2 s"));
}

// ------------------------------------------------------------ run

const TWO_BRANCHES: &str = r#"
version: 1
name: timeouts
steps:
  targets:
    kind: table
    rows: [{target: M57}]
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073"}
outputs:
  - {from: targets, path: targets.csv}
  - {from: observations, path: obs.csv}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_timeout_cuts_off_running_steps_and_keeps_finished_outputs() {
    let r = run(
        "latency=20000,only=invoke",
        TWO_BRANCHES,
        &["--run-timeout", "2s"],
    )
    .await;
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
    let rec = r.run_json.as_ref().expect("run.json");
    assert_eq!(rec["status"], "timed_out");
    assert_eq!(rec["exit_code"], 124);
    assert_eq!(r.step("targets")["status"], "succeeded");
    assert_eq!(r.step("observations")["status"], "timed_out");
    assert!(r.error_of("observations").contains("raise --run-timeout"));
    let targets = std::fs::read_to_string(r.out.path().join("out/targets.csv")).unwrap();
    assert_eq!(targets, "target\nM57\n");
    assert!(!r.out.path().join("out/obs.csv").exists());
    assert!(
        r.stderr
            .contains("error: the run timeout (2 s) passed; steps cut off: observations;"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_run_timeout_applies() {
    let m = TWO_BRANCHES.replace("steps:\n", "timeouts: {run: 2s}\nsteps:\n");
    let r = run("latency=20000,only=invoke", &m, &[]).await;
    assert_eq!(r.code, Some(124), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(10), "took {:?}", r.took);
}

#[test]
fn timeouts_need_units_and_must_fit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), SEARCH).unwrap();
    for (flag, value, says) in [
        (
            "--step-timeout",
            "30",
            "`30` has no unit: write `30s`, `30min` or `30h`",
        ),
        (
            "--run-timeout",
            "99999999999999999999h",
            "too long for a duration",
        ),
        ("--request-timeout", "0s", "is zero"),
        ("--request-timeout", "soon", "is not a duration"),
    ] {
        let o = Command::cargo_bin("mastflow")
            .unwrap()
            .current_dir(dir.path())
            .args(["run", "m.yaml", "--dry-run", flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
    let m = with_timeouts("{request: \"60\", run: 99999999999999999999h}");
    std::fs::write(dir.path().join("bad.yaml"), m).unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .current_dir(dir.path())
        .args(["validate", "bad.yaml", "--message-format", "short"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml:4:"), "{err}");
    assert!(
        err.contains("`timeouts.request`: `60` has no unit"),
        "{err}"
    );
    assert!(
        err.contains("`timeouts.run`: `99999999999999999999h` is too long"),
        "{err}"
    );
}

// ------------------------------------------------------------ cut short

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_in_transit_is_retried() {
    // Content-Length says the whole page; the connection closes at half.
    let r = run("short-body,first=1,only=invoke", SEARCH, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let retry: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("[retry] "))
        .collect();
    assert_eq!(retry.len(), 1, "{}", r.stderr);
    assert!(retry[0].contains("cut short"), "{}", retry[0]);
    assert_eq!(r.step("observations")["retries"], 1);
    assert_eq!(r.invokes, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_whose_json_ends_early_is_retried() {
    // A complete HTTP message whose JSON stops half-way (a proxy that
    // closed early and announced only what it sent).
    let r = run("truncate,first=1,only=invoke", SEARCH, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let retry: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("[retry] "))
        .collect();
    assert_eq!(retry.len(), 1, "{}", r.stderr);
    assert!(retry[0].contains("its JSON ends early"), "{}", retry[0]);
    let rows = std::fs::read_to_string(r.out.path().join("out/obs.csv")).unwrap();
    assert!(rows.lines().count() > 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_always_cut_short_fails_saying_what_to_do() {
    let r = run("short-body,only=invoke", SEARCH, &["--retries", "1"]).await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let e = r.error_of("observations");
    assert_eq!(r.step("observations")["requests"], 2);
    insta::assert_snapshot!("cut_short_error", stable(&e));
}

// ------------------------------------------------------------ counts

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_records_its_requests_and_retries() {
    let r = run(
        "status=503,retry-after=0,only=invoke",
        SEARCH,
        &["--retries", "2"],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let s = r.step("observations");
    assert_eq!(s["status"], "failed");
    assert_eq!(s["requests"], 3, "{s}");
    assert_eq!(s["retries"], 2, "{s}");
    assert_eq!(r.invokes, 3);
    let e = r.error_of("observations");
    assert!(e.contains("HTTP 503 after 3 attempts"), "{e}");
    assert!(e.contains("check https://mast.stsci.edu"), "{e}");
    insta::assert_snapshot!("http_503_error", stable(&e));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_step_records_its_retries() {
    let r = run("status=503,retry-after=0,first=2,only=invoke", SEARCH, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let s = r.step("observations");
    assert_eq!(s["retries"], 2, "{s}");
    assert_eq!(s["requests"], r.invokes as u64, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_timing_out_on_every_attempt_says_what_to_do() {
    let r = run(
        "latency=3000,only=invoke",
        SEARCH,
        &["--request-timeout", "500ms", "--retries", "1"],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.step("observations")["requests"], 2);
    insta::assert_snapshot!("request_timeout_error", stable(&r.error_of("observations")));
}

const TAP: &str = r#"
version: 1
name: timeouts
steps:
  obs:
    kind: tap
    service: mast-caom
    mode: sync
    query: |
      SELECT obsid, obs_id FROM dbo.obspointing
      WHERE obs_collection = 'JWST' AND proposal_id = '1073'
outputs:
  - {from: obs, path: obs.csv}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_tap_answer_cut_short_is_retried() {
    // The VOTable stops half-way, without `</VOTABLE>`.
    let r = run("truncate,first=1,only=tap-sync", TAP, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let retry: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("[retry] "))
        .collect();
    assert_eq!(retry.len(), 1, "{}", r.stderr);
    assert!(
        retry[0].contains("the VOTable ends without"),
        "{}",
        retry[0]
    );
    assert_eq!(r.step("obs")["retries"], 1);
}
