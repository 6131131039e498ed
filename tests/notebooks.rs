//! The three MAST notebooks as manifests (`manifests/examples/`), run end to
//! end with `--sandbox`. The sandbox carries the real rows MAST returned to
//! the notebooks, so their counts are anchors: program 1073 NIRCam imaging
//! has 15 observations (2024-02-20), and `target_name: Io*` finds 34.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run(example: &str, out: &Path) -> std::process::Output {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Command::cargo_bin("mastflow")
        .unwrap()
        .current_dir(&repo)
        .env_remove("MAST_API_TOKEN")
        .args(["run", "--sandbox", "-q"])
        .arg(format!("manifests/examples/{example}.yaml"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn step(out: &Path, name: &str) -> Value {
    let rec: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
        .clone()
}

fn csv_column(t: &mastflow::table::Table, name: &str) -> Vec<String> {
    t.column(name)
        .unwrap()
        .iter()
        .map(|v| v.display())
        .collect()
}

#[test]
fn large_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let o = run("large-downloads", dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(step(dir.path(), "observations")["rows_out"], 15);
    let products = step(dir.path(), "products");
    // 15 observations in batches of 5: three requests.
    assert_eq!(products["requests"], 3);
    let notes = products["notes"][0].as_str().unwrap();
    assert!(
        notes.starts_with("dropped ") && notes.ends_with(" duplicate rows (same dataURI)"),
        "{notes}"
    );
    let uncal =
        mastflow::table::io::read_path(&dir.path().join("uncal_products.ecsv"), None).unwrap();
    assert!(uncal.num_rows() > 0);
    let uris = csv_column(&uncal, "dataURI");
    let mut distinct = uris.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), uris.len(), "the plan is de-duplicated");
    assert!(
        csv_column(&uncal, "productFilename")
            .iter()
            .all(|f| f.ends_with("_uncal.fits"))
    );
    let volume = std::fs::read_to_string(dir.path().join("volume.csv")).unwrap();
    assert!(
        volume.starts_with(&format!(
            "obs_collection,files,bytes\nJWST,{},",
            uncal.num_rows()
        )),
        "{volume}"
    );
    check_download_plan(&dir.path().join("downloads"), &uris);
}

/// The notebook's point: a download plan of the UNCAL files and the curl
/// script that fetches them. The script parses (`bash -n`), and run with a
/// stand-in `curl` it writes exactly the plan's files, each from its URL.
fn check_download_plan(downloads: &Path, uris: &[String]) {
    let plan: Value =
        serde_json::from_slice(&std::fs::read(downloads.join("plan.json")).unwrap()).unwrap();
    let files = plan["files"].as_array().unwrap();
    let mut planned: Vec<&str> = files
        .iter()
        .map(|f| f["dataURI"].as_str().unwrap())
        .collect();
    let mut wanted: Vec<&str> = uris.iter().map(String::as_str).collect();
    planned.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(planned, wanted, "the plan holds every UNCAL file, once");
    let script = downloads.join("plan.curl.sh");
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A `curl` that writes its URL into its `-o` file.
    let bin = tempfile::tempdir().unwrap();
    let curl = bin.path().join("curl");
    std::fs::write(
        &curl,
        "#!/usr/bin/env bash\nout=\nwhile [ $# -gt 1 ]; do [ \"$1\" = -o ] && out=$2; shift; done\nprintf %s \"$1\" > \"$out\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&curl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = std::process::Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .env_remove("MAST_API_TOKEN")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "plan.curl.sh: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in files {
        let (url, rel) = (f["url"].as_str().unwrap(), f["path"].as_str().unwrap());
        assert!(
            rel.starts_with("mastDownload/JWST/") && !rel.contains(".."),
            "{rel}"
        );
        assert!(
            url.ends_with(&format!("?uri={}", f["dataURI"].as_str().unwrap())),
            "{url}"
        );
        assert_eq!(
            std::fs::read_to_string(downloads.join(rel)).unwrap(),
            url,
            "{rel}"
        );
        assert!(!downloads.join(format!("{rel}.part")).exists());
    }
}

#[test]
fn si_keyword_exoplanet_search() {
    let dir = tempfile::tempdir().unwrap();
    let o = run("si-keyword-exoplanets", dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let keywords = mastflow::table::io::read_path(&dir.path().join("keywords.ecsv"), None).unwrap();
    assert!(keywords.num_rows() > 0);
    // Every file is a NIRISS SOSS time series of a COM or ERS program, in the window.
    assert!(
        csv_column(&keywords, "exp_type")
            .iter()
            .all(|x| x == "NIS_SOSS")
    );
    assert!(
        csv_column(&keywords, "category")
            .iter()
            .all(|x| x == "COM" || x == "ERS")
    );
    let mjd = keywords.column("date_obs_mjd").unwrap();
    assert!(
        mjd.iter()
            .all(|v| v.as_f64().is_some_and(|m| (59731.0..=59795.0).contains(&m)))
    );
    let obs = mastflow::table::io::read_path(&dir.path().join("observations.ecsv"), None).unwrap();
    assert!(obs.num_rows() > 0);
    assert!(
        csv_column(&obs, "instrument_name")
            .iter()
            .all(|x| x.starts_with("NIRISS"))
    );
    let spectra = mastflow::table::io::read_path(&dir.path().join("spectra.ecsv"), None).unwrap();
    assert!(
        csv_column(&spectra, "productType")
            .iter()
            .all(|x| x == "SCIENCE" || x == "INFO")
    );
    assert!(
        csv_column(&spectra, "dataproduct_type")
            .iter()
            .all(|x| x == "spectrum")
    );
}

#[test]
fn duplication_check_gates_ci() {
    let dir = tempfile::tempdir().unwrap();
    let o = run("duplication-check", dir.path());
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("potential duplicates found"));
    assert_eq!(step(dir.path(), "duplicates.moving")["rows_out"], 34);
    let report = mastflow::table::io::read_path(&dir.path().join("duplicates.ecsv"), None).unwrap();
    let targets = csv_column(&report, "target");
    assert!(targets.iter().any(|t| t == "Io"));
    // Io has executed (1373) and planned (calib_level -1) programs.
    let planned: i64 = (0..report.num_rows())
        .filter(|&i| targets[i] == "Io")
        .map(|i| match report.column("planned").unwrap().get(i) {
            mastflow::table::ValueRef::Int(n) => n,
            _ => 0,
        })
        .sum();
    assert!(planned > 0);
    assert!(
        csv_column(&report, "proposal_URL")
            .iter()
            .all(|u| u.starts_with("https://www.stsci.edu/cgi-bin/get-proposal-info?id="))
    );
}

#[test]
fn an_object_name_position_matches_the_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(
        &m,
        r#"
version: 1
name: by-name
steps:
  by_name:
    kind: count
    criteria: {obs_collection: JWST}
    position: {object: M 57, radius: 2m}
  by_coords:
    kind: count
    criteria: {obs_collection: JWST}
    position: {ra: "18:53:35.0967659112", dec: "+33:01:44.883287544", radius: 2m}
  unknown:
    kind: count
    criteria: {obs_collection: JWST}
    position: {object: Nowhere-at-all-42, radius: 2m}
outputs:
  - {from: by_name, path: by_name.csv}
  - {from: by_coords, path: by_coords.csv}
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .args(["run", "--sandbox", "--keep-going"])
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "the unknown name fails its step");
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("could not resolve the object name `Nowhere-at-all-42`")
    );
    let by_name = std::fs::read_to_string(out.join("by_name.csv")).unwrap();
    assert_eq!(
        by_name,
        std::fs::read_to_string(out.join("by_coords.csv")).unwrap()
    );
    assert_ne!(by_name, "count\n0\n");
}

#[test]
fn server_side_crossmatch_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(
        &m,
        r#"
version: 1
name: xmatch
steps:
  targets:
    kind: table
    rows: [{name: Trappist-1, ra: 346.62236872857875, dec: -5.041399250518333}]
  matched:
    kind: crossmatch
    left: targets
    against: caom
    radius: 30s
  counted:
    kind: count
    criteria: {}
    position: {ra: 346.62236872857875, dec: -5.041399250518333, radius: 30s}
outputs:
  - {from: matched, path: matched.csv}
  - {from: counted, path: counted.csv}
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .args(["run", "--sandbox", "-q"])
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let matched = std::fs::read_to_string(out.join("matched.csv")).unwrap();
    let count: usize = std::fs::read_to_string(out.join("counted.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(count > 0);
    // Every observation whose footprint meets the 30" cone, as a position count finds.
    assert_eq!(matched.lines().count() - 1, count);
    assert!(matched.lines().next().unwrap().contains("distance"));
}

/// Responses are cached under their canonical request key; `--offline`
/// replays a run from the cache alone, byte for byte, and names a step whose
/// response is missing.
#[tokio::test(flavor = "multi_thread")]
async fn offline_replay_from_the_response_cache() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = |out: &str, extra: &[&str]| {
        let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Command::cargo_bin("mastflow")
            .unwrap()
            .current_dir(&repo)
            .env("MASTFLOW_CACHE_DIR", &cache)
            .env("MAST_API_TOKEN", "s3cret-cache-token")
            .args(["run", "-q", "--base-url", &base])
            .args(extra)
            .arg("manifests/examples/large-downloads.yaml")
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    let (a, b) = tokio::task::block_in_place(|| (run("online", &[]), run("again", &[])));
    assert!(a.status.success() && b.status.success());
    let again = step(&dir.path().join("again"), "products");
    assert_eq!(
        again["requests"], 0,
        "the second run is served by the cache"
    );
    assert_eq!(again["cache_hits"], 3);
    sandbox.shutdown().await;
    // MAST is gone: --offline still reproduces every output.
    let o = tokio::task::block_in_place(|| run("offline", &["--offline"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["observations.ecsv", "uncal_products.ecsv", "volume.csv"] {
        assert_eq!(
            std::fs::read(dir.path().join("online").join(f)).unwrap(),
            std::fs::read(dir.path().join("offline").join(f)).unwrap(),
            "{f}"
        );
    }
    // The token is never in the cache.
    for e in std::fs::read_dir(&cache).unwrap().flatten() {
        for f in std::fs::read_dir(e.path()).unwrap().flatten() {
            assert!(
                !String::from_utf8_lossy(&std::fs::read(f.path()).unwrap())
                    .contains("s3cret-cache-token")
            );
        }
    }
    // A request never made online cannot be replayed: the step says so.
    std::fs::remove_dir_all(&cache).unwrap();
    let o = tokio::task::block_in_place(|| run("missing", &["--offline"]));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("step `observations` failed: --offline: no cached response for this Mast.Caom.Filtered request"), "{err}");
}

/// The lock records what each remote step asked of MAST, so `--locked` tells
/// a changed request (here a `--set` param; the manifest file is unchanged)
/// from MAST answering the same request differently.
#[tokio::test(flavor = "multi_thread")]
async fn the_lock_names_steps_whose_requests_changed() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let m = dir.path().join("large-downloads.yaml");
    std::fs::copy(repo.join("manifests/examples/large-downloads.yaml"), &m).unwrap();
    let run = |extra: &[&str]| {
        Command::cargo_bin("mastflow")
            .unwrap()
            .args(["run", "-q", "--no-cache", "--base-url", &base])
            .args(extra)
            .arg(&m)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap()
    };
    let first = tokio::task::block_in_place(|| run(&["--update-lock"]));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("mastflow.lock")).unwrap()).unwrap();
    let steps = &lock["manifests"]["large-downloads"]["steps"];
    let requests = steps["observations"]["requests"].as_str().unwrap();
    assert_eq!(requests.len(), 64, "a SHA-256: {requests}");
    assert_ne!(
        steps["products"]["requests"],
        steps["observations"]["requests"]
    );
    assert!(
        steps["volume"].get("requests").is_none(),
        "a local step asks nothing"
    );
    let same = tokio::task::block_in_place(|| run(&["--locked"]));
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let other = tokio::task::block_in_place(|| run(&["--locked", "--set", "program=2079"]));
    assert_eq!(other.status.code(), Some(3));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains("step `observations`: sends different requests"),
        "{err}"
    );
    assert!(!err.contains("manifest changed"), "{err}");
    sandbox.shutdown().await;
}

/// MAST changes under an unchanged manifest: a new observation appears in
/// program 1073. `--locked` says the same request got a different answer
/// (not that we asked differently), and `diff` names the new observation.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_observation_in_mast_fails_locked_and_shows_in_diff() {
    let dir = tempfile::tempdir().unwrap();
    let header = "obsid,obs_id,obs_collection,instrument_name,proposal_id,s_ra,s_dec,calib_level,dataRights\n";
    let row = |obsid: u64, obs_id: &str| {
        format!("{obsid},{obs_id},JWST,NIRCAM/IMAGE,1073,53.16,-27.78,3,PUBLIC\n")
    };
    let before = format!(
        "{header}{}{}",
        row(90000001, "jw01073-o001_t001_nircam_clear-f090w"),
        row(90000002, "jw01073-o002_t001_nircam_clear-f090w")
    );
    let after = format!(
        "{before}{}",
        row(90000003, "jw01073-o003_t001_nircam_clear-f090w")
    );
    let serve = |name: &str, csv: &str| {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("observations.csv"), csv).unwrap();
        mastflow::sandbox::start(mastflow::sandbox::Config {
            data_dir: Some(data),
            ..Default::default()
        })
    };
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let m = dir.path().join("large-downloads.yaml");
    std::fs::copy(repo.join("manifests/examples/large-downloads.yaml"), &m).unwrap();
    let run = |base: &str, out: &str, flag: &str| {
        Command::cargo_bin("mastflow")
            .unwrap()
            .args(["run", "-q", "--no-cache", "--base-url", base, flag])
            .arg(&m)
            .arg("--out")
            .arg(dir.path().join(out))
            .output()
            .unwrap()
    };
    let old = serve("before", &before).await.unwrap();
    let o = tokio::task::block_in_place(|| run(&old.base_url, "before-out", "--update-lock"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    old.shutdown().await;
    let new = serve("after", &after).await.unwrap();
    let o = tokio::task::block_in_place(|| run(&new.base_url, "after-out", "--locked"));
    new.shutdown().await;
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("step `observations`: 3 rows, the lock has 2"),
        "{err}"
    );
    assert!(
        err.contains("output `observations.ecsv` differs from the lock"),
        "{err}"
    );
    assert!(
        !err.contains("step `observations`: sends different requests"),
        "{err}"
    );
    assert!(!err.contains("manifest changed"), "{err}");
    let d = Command::cargo_bin("mastflow")
        .unwrap()
        .arg("diff")
        .arg(dir.path().join("before-out"))
        .arg(dir.path().join("after-out"))
        .output()
        .unwrap();
    assert_eq!(d.status.code(), Some(3));
    let text = String::from_utf8_lossy(&d.stdout);
    assert!(
        text.contains("jw01073-o003_t001_nircam_clear-f090w"),
        "{text}"
    );
    assert!(
        !text.contains("jw01073-o001_t001_nircam_clear-f090w"),
        "{text}"
    );
}
