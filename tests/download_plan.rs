//! Download plans: program 1073's UNCAL files from the sandbox as
//! plan.json (valid against its committed schema), curl/wget scripts, an
//! aria2c input, s5cmd commands and a CSV listing; deterministic; and the
//! curl script actually fetches the files from the sandbox.

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const MANIFEST: &str = r#"
version: 1
name: plan
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073", instrument_name: NIRCAM/IMAGE}
  products:
    kind: products
    from: observations
  uncal:
    kind: filter_products
    from: products
    where: {productSubGroupDescription: UNCAL}
  first:
    kind: head
    from: uncal
    n: 3
  plan:
    kind: download_plan
    from: first
    cloud: true
outputs:
  - {from: plan, path: downloads/plan.json, kind: download_plan}
"#;

fn run(dir: &Path) -> Value {
    std::fs::write(dir.join("m.yaml"), MANIFEST).unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .args(["run", "--sandbox", "-q"])
        .arg(dir.join("m.yaml"))
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("out/downloads/plan.json")).unwrap()).unwrap()
}

#[test]
fn committed_plan_schema_is_fresh() {
    let committed =
        std::fs::read_to_string(repo().join("schemas/download-plan.schema.json")).unwrap();
    assert!(
        mastflow::output::plan_schema_text() == committed,
        "schemas/download-plan.schema.json is stale: run `cargo run -- schema --download-plan > schemas/download-plan.schema.json`"
    );
}

#[test]
fn plan_json_and_scripts() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plan = run(a.path());
    assert_eq!(plan["version"], 1);
    let files = plan["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(plan["totals"]["files"], 3);
    let bytes: u64 = files.iter().map(|f| f["size"].as_u64().unwrap()).sum();
    assert_eq!(plan["totals"]["bytes"], bytes);
    let mut paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    let sorted = {
        let mut p = paths.clone();
        p.sort();
        p
    };
    assert_eq!(paths, sorted, "files are sorted by path");
    paths.dedup();
    assert_eq!(paths.len(), 3);
    for f in files {
        let p = f["path"].as_str().unwrap();
        assert!(
            p.starts_with("mastDownload/JWST/") && p.ends_with("_uncal.fits"),
            "{p}"
        );
        assert!(
            f["url"]
                .as_str()
                .unwrap()
                .contains("/api/v0.1/Download/file?uri=mast:JWST/product/")
        );
        if f["access"] == "PUBLIC" {
            assert!(
                f["cloud_uri"]
                    .as_str()
                    .unwrap()
                    .starts_with("s3://stpubdata/jwst/"),
                "{f}"
            );
        }
    }
    // Scripts beside plan.json.
    let dir = a.path().join("out/downloads");
    let curl = std::fs::read_to_string(dir.join("plan.curl.sh")).unwrap();
    assert_eq!(curl.matches("\nfetch 'http").count(), 3);
    assert!(curl.contains("curl --fail --location") && curl.contains("-C -"));
    assert!(
        std::fs::read_to_string(dir.join("plan.wget.sh"))
            .unwrap()
            .contains("wget --continue")
    );
    assert!(
        std::fs::read_to_string(dir.join("plan.aria2.txt"))
            .unwrap()
            .contains("  out=mastDownload/JWST/")
    );
    assert!(
        std::fs::read_to_string(dir.join("plan.s5cmd.txt"))
            .unwrap()
            .contains("cp 's3://stpubdata/")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("plan.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    // Deterministic: a second run writes the same bytes (each --sandbox run
    // listens on its own port, which the URLs carry).
    run(b.path());
    let port_free = |p: &Path| {
        let t = std::fs::read_to_string(p).unwrap();
        let mut out = String::new();
        let mut rest = t.as_str();
        while let Some(i) = rest.find("127.0.0.1:") {
            out.push_str(&rest[..i + 10]);
            rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
        }
        out + rest
    };
    for f in [
        "plan.json",
        "plan.curl.sh",
        "plan.wget.sh",
        "plan.aria2.txt",
        "plan.s5cmd.txt",
        "plan.csv",
    ] {
        assert!(
            port_free(&dir.join(f)) == port_free(&b.path().join("out/downloads").join(f)),
            "{f} differs between runs"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_curl_script_fetches_the_plan() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: curl not installed");
        return;
    }
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let plan: Value = tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), MANIFEST).unwrap();
        let o = Command::cargo_bin("mastflow")
            .unwrap()
            .env_remove("MAST_API_TOKEN")
            .args(["run", "-q", "--base-url", &base])
            .arg(d.join("m.yaml"))
            .arg("--out")
            .arg(d.join("out"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = std::process::Command::new("bash")
            .arg(d.join("out/downloads/plan.curl.sh"))
            .env("MAST_API_TOKEN", mastflow::sandbox::token())
            .output()
            .unwrap();
        assert!(
            s.status.success(),
            "curl script failed: {}",
            String::from_utf8_lossy(&s.stderr)
        );
        serde_json::from_slice(&std::fs::read(d.join("out/downloads/plan.json")).unwrap()).unwrap()
    })
    .await
    .unwrap();
    for f in plan["files"].as_array().unwrap() {
        let p = dir
            .path()
            .join("out/downloads")
            .join(f["path"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            f["size"].as_u64().unwrap(),
            "{}",
            p.display()
        );
        assert!(!p.with_extension("fits.part").exists());
    }
    sandbox.shutdown().await;
}

/// Run `mastflow run` on the plan manifest against `base`; the plan path.
fn make_plan(base: &str, dir: &Path, n: usize) -> PathBuf {
    std::fs::write(
        dir.join("m.yaml"),
        MANIFEST.replace("n: 3", &format!("n: {n}")),
    )
    .unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .args(["run", "-q", "--base-url", base])
        .arg(dir.join("m.yaml"))
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join("out/downloads/plan.json")
}

fn fetch(base: &str, plan: &Path, extra: &[&str]) -> (std::process::Output, Value) {
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .args(["fetch", "--base-url", base])
        .args(extra)
        .arg(plan)
        .output()
        .unwrap();
    // A shard writes its own report (`plan.shard-I-of-N.fetch-report.json`).
    let name = match extra.iter().position(|a| *a == "--shard") {
        Some(i) => format!(
            "plan.shard-{}.fetch-report.json",
            extra[i + 1].replace('/', "-of-")
        ),
        None => "plan.fetch-report.json".to_string(),
    };
    let report: Value =
        serde_json::from_slice(&std::fs::read(plan.with_file_name(name)).unwrap()).unwrap();
    (o, report)
}

fn statuses(report: &Value) -> Vec<String> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_downloads_resumes_skips_and_shards() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let plan = make_plan(&base, &d, 4);
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let files: Vec<(PathBuf, u64)> = doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    plan.with_file_name(f["path"].as_str().unwrap()),
                    f["size"].as_u64().unwrap(),
                )
            })
            .collect();
        // Shards partition the plan.
        let (o, r) = fetch(&base, &plan, &["--shard", "1/2"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            statuses(&r),
            ["downloaded", "skipped", "downloaded", "skipped"]
        );
        let (o, r) = fetch(&base, &plan, &["--shard", "2/2"]);
        assert!(o.status.success());
        assert_eq!(
            statuses(&r),
            ["skipped", "downloaded", "skipped", "downloaded"]
        );
        for (p, size) in &files {
            assert_eq!(std::fs::metadata(p).unwrap().len(), *size);
        }
        // Everything is there: nothing is fetched again.
        let (_, r) = fetch(&base, &plan, &[]);
        assert_eq!(statuses(&r), ["complete"; 4]);
        assert_eq!(r["bytes"], 0);
        // A partial file resumes from where it stopped, to the same bytes.
        let (p, size) = &files[0];
        let full = std::fs::read(p).unwrap();
        std::fs::remove_file(p).unwrap();
        let part = PathBuf::from(format!("{}.part", p.display()));
        std::fs::write(&part, &full[..full.len() / 3]).unwrap();
        let (o, r) = fetch(&base, &plan, &[]);
        assert!(o.status.success());
        assert_eq!(statuses(&r)[0], "resumed");
        assert_eq!(
            r["files"][0]["bytes"].as_u64().unwrap(),
            size - (full.len() / 3) as u64,
            "only the rest was fetched"
        );
        assert_eq!(std::fs::read(p).unwrap(), full);
        assert!(!part.exists());
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}

/// SIGKILL in the middle of a download; the rerun completes every file
/// without fetching any twice in full, and no partial file sits at a final path.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn fetch_survives_sigkill() {
    // The first downloads trickle (so the kill lands mid-body); later ones are fast.
    let config = mastflow::sandbox::Config {
        faults: Some("slow-body=4000000,only=download,first=2".into()),
        ..Default::default()
    };
    let sandbox = mastflow::sandbox::start(config).await.unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let plan = make_plan(&base, &d, 2);
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mastflow"))
            .args(["fetch", "-q", "--base-url", &base])
            .arg(&plan)
            .spawn()
            .unwrap();
        // Wait until both partial files hold some bytes, then kill -9.
        let parts: Vec<PathBuf> = doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                PathBuf::from(format!(
                    "{}.part",
                    plan.with_file_name(f["path"].as_str().unwrap()).display()
                ))
            })
            .collect();
        let t0 = std::time::Instant::now();
        while !parts
            .iter()
            .all(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 1_000_000))
        {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(60),
                "downloads never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let before: Vec<u64> = parts
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect();
        for f in doc["files"].as_array().unwrap() {
            assert!(
                !plan.with_file_name(f["path"].as_str().unwrap()).exists(),
                "nothing at a final path yet"
            );
        }
        let (o, r) = fetch(&base, &plan, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(statuses(&r), ["resumed", "resumed"]);
        for (i, f) in doc["files"].as_array().unwrap().iter().enumerate() {
            let size = f["size"].as_u64().unwrap();
            assert_eq!(
                std::fs::metadata(plan.with_file_name(f["path"].as_str().unwrap()))
                    .unwrap()
                    .len(),
                size
            );
            assert_eq!(
                r["files"][i]["bytes"].as_u64().unwrap(),
                size - before[i],
                "only the missing bytes were fetched"
            );
            assert!(!parts[i].exists());
        }
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}

/// A plan of many files is fetched with few file descriptors: at most
/// `--jobs` files are open at once.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn many_files_with_a_low_open_file_limit() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config::default())
        .await
        .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let manifest = r#"
version: 1
name: many
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, calib_level: [2, 3]}
  products:
    kind: products
    from: observations
    batch: 50
  small:
    kind: filter
    from: products
    where: {size: {max: 200000}}
  some:
    kind: head
    from: small
    n: 300
  plan:
    kind: download_plan
    from: some
outputs:
  - {from: plan, path: plan.json, kind: download_plan}
"#;
        std::fs::write(d.join("m.yaml"), manifest).unwrap();
        let o = Command::cargo_bin("mastflow")
            .unwrap()
            .env_remove("MAST_API_TOKEN")
            .args(["run", "-q", "--base-url", &base])
            .arg(d.join("m.yaml"))
            .arg("--out")
            .arg(d.join("out"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let plan = d.join("out/plan.json");
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let n = doc["files"].as_array().unwrap().len();
        assert!(n >= 200, "only {n} small files in the plan");
        let bin = assert_cmd::cargo::cargo_bin("mastflow");
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -n 64 && exec '{}' fetch -q --only-public --base-url '{base}' '{}'",
                bin.display(),
                plan.display()
            ))
            .env_remove("MAST_API_TOKEN")
            .output()
            .unwrap();
        let report: Value =
            serde_json::from_slice(&std::fs::read(d.join("out/plan.fetch-report.json")).unwrap())
                .unwrap();
        assert!(
            o.status.success(),
            "{} failed: {}",
            report["failed"],
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(report["failed"], 0);
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}
