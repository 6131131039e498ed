//! Name resolution goes through the response cache (issue 13 item 2): a
//! manifest that names its target replays `--offline` with MAST gone, and a
//! name never resolved online fails at once with what to do.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const MANIFEST: &str = r#"
version: 1
name: by-name
steps:
  ring:
    kind: caom
    criteria: {obs_collection: JWST}
    position: {object: M 57, radius: 2m}
outputs:
  - {from: ring, path: ring.csv}
"#;

fn run(dir: &Path, base: &str, out: &str, extra: &[&str]) -> std::process::Output {
    Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .current_dir(dir)
        .args(["run", "-q", "m.yaml", "--out", out, "--base-url", base])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(extra)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap()
}

async fn lookups(base: &str) -> usize {
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
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.to_string().contains("Mast.Name.Lookup"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_target_replays_offline() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    std::fs::write(d.join("m.yaml"), MANIFEST).unwrap();
    let (d1, b1) = (d.clone(), base.clone());
    let o = tokio::task::spawn_blocking(move || run(&d1, &b1, "online", &[]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(lookups(&base).await, 1, "the first run resolves M 57 once");
    // `cache ls` says what each entry answers (issue 13 item 9).
    let ls = Command::cargo_bin("mastflow")
        .unwrap()
        .args(["cache", "ls", "--cache-dir"])
        .arg(d.join("cache"))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(listing.contains("Mast.Name.Lookup M 57"), "{listing}");
    assert!(
        listing
            .lines()
            .any(|l| l.contains("Mast.Caom.Filtered.Position")
                && l.contains("obs_collection")
                && l.contains("page 1")),
        "{listing}"
    );
    let (d2, b2) = (d.clone(), base.clone());
    let o = tokio::task::spawn_blocking(move || run(&d2, &b2, "again", &[]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        lookups(&base).await,
        1,
        "a second run resolves from the cache"
    );
    sandbox.shutdown().await;

    // MAST gone (the sandbox is shut down). Offline, the run is the same run.
    let d3 = d.clone();
    let o = tokio::task::spawn_blocking(move || run(&d3, &base, "offline", &["--offline"]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let online = std::fs::read(d.join("online/ring.csv")).unwrap();
    let offline = std::fs::read(d.join("offline/ring.csv")).unwrap();
    assert!(online.len() > 100, "M 57 found nothing");
    assert_eq!(online, offline);
}

#[test]
fn a_name_never_resolved_fails_offline_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), MANIFEST).unwrap();
    let o = run(dir.path(), "http://127.0.0.1:9", "out", &["--offline"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`M 57` was never resolved online"), "{err}");
    assert!(err.contains("run once without"), "{err}");
    // No network attempt: the refused port would show up as a transport error.
    assert!(!err.contains("127.0.0.1:9"), "{err}");
}
