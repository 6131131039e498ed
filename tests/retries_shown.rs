//! Retries are never silent (issue 13 item 7): each one is a progress line
//! (or a JSON `retry` event) naming the URL, the reason, the attempt and the
//! wait, with the server's Retry-After.

use assert_cmd::Command;

const MANIFEST: &str = r#"
version: 1
name: retries
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073"}
outputs:
  - {from: observations, path: obs.csv}
"#;

async fn stderr_of(faults: &str, extra: &[&str]) -> (bool, String) {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some(faults.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let o = tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), MANIFEST).unwrap();
        Command::cargo_bin("mastflow")
            .unwrap()
            .env_remove("MAST_API_TOKEN")
            .current_dir(&d)
            .args([
                "run",
                "m.yaml",
                "--out",
                "out",
                "--no-cache",
                "--base-url",
                &base,
            ])
            .args(&extra)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_retry_is_a_line_with_its_reason_and_wait() {
    let (ok, err) = stderr_of("status=503,retry-after=1,first=2,only=invoke", &[]).await;
    assert!(ok, "{err}");
    let retries: Vec<&str> = err.lines().filter(|l| l.starts_with("[retry] ")).collect();
    assert_eq!(retries.len(), 2, "{err}");
    assert!(
        retries[0].contains("/api/v0/invoke: HTTP 503; attempt 2 of 6 in"),
        "{err}"
    );
    assert!(retries[1].contains("attempt 3 of 6"), "{err}");
    assert!(retries[0].contains("Retry-After"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_are_json_events_with_log_format_json() {
    let (ok, err) = stderr_of(
        "status=503,retry-after=1,first=1,only=invoke",
        &["--log-format", "json"],
    )
    .await;
    assert!(ok, "{err}");
    let events: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["event"] == "retry")
        .collect();
    assert_eq!(events.len(), 1, "{err}");
    assert_eq!(events[0]["why"], "HTTP 503");
    assert_eq!(events[0]["attempt"], 2);
    assert_eq!(events[0]["retry_after_s"], 1.0);
}
