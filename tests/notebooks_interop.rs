//! The three notebook manifests against the notebooks' own astroquery code,
//! both run against the same sandbox: the same rows.
//!
//! Python comes from `MASTFLOW_PYTHON` (default `python3`). Without
//! astroquery the test says it is skipped and passes, unless
//! `MASTFLOW_REQUIRE_INTEROP=1` (CI), which makes it fail.

mod common;

use assert_cmd::Command;
use common::{interop_dir, python, repo};
use mastflow::table::{Table, ValueRef};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn strings(t: &Table, col: &str) -> Vec<String> {
    let mut v: Vec<String> = t.column(col).unwrap().iter().map(|x| x.display()).collect();
    v.sort();
    v
}

fn read(dir: &Path, file: &str) -> Table {
    mastflow::table::io::read_path(&dir.join(file), None).unwrap()
}

fn run_manifest(example: &str, base: &str, out: &Path) -> std::process::Output {
    Command::cargo_bin("mastflow")
        .unwrap()
        .current_dir(repo())
        .env_remove("MAST_API_TOKEN")
        .args(["run", "-q", "--base-url", base])
        .arg(format!("manifests/examples/{example}.yaml"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_find_the_same_rows_as_the_notebooks_astroquery() {
    if !common::python_peer("astroquery", "astroquery.mast") {
        return;
    }
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let (b, d) = (base.clone(), dir.path().to_path_buf());
    let (astro, outs) = tokio::task::spawn_blocking(move || {
        let astro = std::process::Command::new(python())
            .arg("notebooks_astroquery.py")
            .current_dir(interop_dir())
            .env("MASTFLOW_SANDBOX_URL", &b)
            .output()
            .unwrap();
        let outs: Vec<std::process::Output> = [
            "large-downloads",
            "si-keyword-exoplanets",
            "duplication-check",
        ]
        .iter()
        .map(|e| run_manifest(e, &b, &d.join(e)))
        .collect();
        (astro, outs)
    })
    .await
    .unwrap();
    assert!(
        astro.status.success(),
        "astroquery script failed:\n{}",
        String::from_utf8_lossy(&astro.stderr)
    );
    let want: Value = serde_json::from_slice(&astro.stdout).unwrap();
    assert!(
        outs[0].status.success() && outs[1].status.success(),
        "{}",
        String::from_utf8_lossy(&outs[1].stderr)
    );
    assert_eq!(
        outs[2].status.code(),
        Some(1),
        "the duplication gate fails: duplicates exist"
    );

    // Large downloads: the same observations, unique products and UNCAL files.
    let ld = dir.path().join("large-downloads");
    let w = &want["large_downloads"];
    assert_eq!(
        serde_json::to_value(strings(&read(&ld, "observations.ecsv"), "obs_id")).unwrap(),
        w["observations"]
    );
    let uncal = read(&ld, "uncal_products.ecsv");
    assert_eq!(
        serde_json::to_value(strings(&uncal, "dataURI")).unwrap(),
        w["uncal"]
    );
    let bytes: i64 = uncal
        .column("size")
        .unwrap()
        .iter()
        .map(|v| if let ValueRef::Int(n) = v { n } else { 0 })
        .sum();
    assert_eq!(bytes, w["uncal_bytes"].as_i64().unwrap());
    let rec: Value = serde_json::from_slice(&std::fs::read(ld.join("run.json")).unwrap()).unwrap();
    let products = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "products")
        .unwrap();
    assert_eq!(products["rows_out"], w["unique_products"]);

    // SI keywords: the same files, obs_ids, observations, products, spectra.
    let si = dir.path().join("si-keyword-exoplanets");
    let w = &want["si_keywords"];
    assert_eq!(
        serde_json::to_value(strings(&read(&si, "keywords.ecsv"), "filename")).unwrap(),
        w["files"]
    );
    assert_eq!(
        serde_json::to_value(strings(&read(&si, "observations.ecsv"), "obs_id")).unwrap(),
        w["observations"]
    );
    assert_eq!(
        serde_json::to_value(strings(&read(&si, "spectra.ecsv"), "dataURI")).unwrap(),
        w["spectra"]
    );
    let rec: Value = serde_json::from_slice(&std::fs::read(si.join("run.json")).unwrap()).unwrap();
    let step = |n: &str| {
        rec["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        step("obs_ids")["rows_out"].as_u64().unwrap() as usize,
        w["obs_ids"].as_array().unwrap().len()
    );
    assert_eq!(step("products")["rows_out"], w["unique_products"]);

    // Duplication: per target, the same programs with the same numbers of observations.
    let dup = read(&dir.path().join("duplication-check"), "duplicates.ecsv");
    let mut ours: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for i in 0..dup.num_rows() {
        let target = dup.column("target").unwrap().get(i).display();
        let program = dup.column("proposal_id").unwrap().get(i).display();
        let n = match dup.column("observations").unwrap().get(i) {
            ValueRef::Int(n) => n,
            _ => 0,
        };
        ours.entry(target).or_default().insert(program, n);
    }
    for (target, found) in want["duplication"].as_object().unwrap() {
        let theirs: BTreeMap<String, i64> = found["programs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        assert_eq!(
            ours.get(target).cloned().unwrap_or_default(),
            theirs,
            "target {target}"
        );
    }
    sandbox.shutdown().await;
}
