//! Concurrency per Mashup service (issue 11): `Mast.Caom.Products` requests go
//! one at a time by default, as astroquery sends them; the manifest's
//! `per_service` and `--per-service SERVICE=N` raise it. Measured on the
//! sandbox's request log, whose entries say how many requests of their
//! service were being served when they arrived (`in_flight`).

mod common;

use assert_cmd::Command;
use common::repo;
use serde_json::Value;
use std::path::Path;

const PRODUCTS: &str = "Mast.Caom.Products";

/// Run `manifest` with `extra` flags on a fresh sandbox whose every answer
/// takes 150 ms (so requests sent together overlap); the products requests'
/// `in_flight` counts.
async fn products_in_flight(manifest: &Path, extra: &[&str]) -> Vec<u64> {
    let config = mastflow::sandbox::Config {
        latency_ms: 150,
        ..mastflow::sandbox::Config::default()
    };
    let sandbox = mastflow::sandbox::start(config).await.unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let (m, d) = (manifest.to_path_buf(), dir.path().to_path_buf());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let b = base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .env_remove("MAST_API_TOKEN")
            .args(["run", "-q", "--no-cache", "--base-url", &b])
            .args(&extra)
            .arg(&m)
            .arg("--out")
            .arg(d.join("out"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mashup"]["service"] == PRODUCTS)
        .map(|r| r["in_flight"].as_u64().unwrap())
        .collect()
}

/// The SI-keyword example with products looked up one observation per
/// request (many requests, all ready at once), and `extra_yaml` appended.
fn manifest(dir: &Path, extra_yaml: &str) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(repo().join("manifests/examples/si-keyword-exoplanets.yaml"))
            .unwrap()
            .replace("batch: 5", "batch: 1");
    let path = dir.join("m.yaml");
    std::fs::write(&path, format!("{text}\n{extra_yaml}")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn products_lookups_go_one_at_a_time_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let seen = products_in_flight(&manifest(dir.path(), ""), &[]).await;
    assert!(seen.len() >= 3, "want several products requests: {seen:?}");
    assert!(seen.iter().all(|&n| n == 1), "in flight at once: {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_and_the_flag_raise_the_products_limit() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "per_service:\n  Mast.Caom.Products: 3\n");
    let seen = products_in_flight(&m, &[]).await;
    let most = seen.iter().copied().max().unwrap_or(0);
    assert!((2..=3).contains(&most), "manifest per_service 3: {seen:?}");

    // The flag overrides the manifest.
    let seen = products_in_flight(&m, &["--per-service", "Mast.Caom.Products=1"]).await;
    assert!(
        seen.iter().all(|&n| n == 1),
        "flag =1 over manifest 3: {seen:?}"
    );

    let plain = manifest(dir.path(), "");
    let seen = products_in_flight(&plain, &["--per-service", "Mast.Caom.Products=2"]).await;
    assert_eq!(seen.iter().copied().max(), Some(2), "flag =2: {seen:?}");
}

#[test]
fn a_bad_per_service_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        "per_service:\n  Mast.Caom.Products: 0\n  Caom.Products: 2\n",
    );
    let out = Command::cargo_bin("mastflow")
        .unwrap()
        .args(["validate", "--color", "never"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("out of range") && err.contains("1 to 16"),
        "{err}"
    );
    assert!(
        err.contains("`Caom.Products` is not a Mashup service name"),
        "{err}"
    );
    assert!(err.contains("m.yaml:"), "located: {err}");

    let out = Command::cargo_bin("mastflow")
        .unwrap()
        .args(["run", "--per-service", "Mast.Caom.Products=99"])
        .arg(&m)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a number from 1 to 16"), "{err}");
}
