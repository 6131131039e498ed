//! Bounds on every server conversation (issue 12 item 6), against a hostile
//! sandbox of the test's own: paging that never ends, a huge page, a gzip
//! bomb on an API answer and on a download. Each ends as a clear step error
//! naming the step, with run.json written, after a bounded number of requests;
//! a download is written as sent, never decompressed.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const SEARCH: &str = r#"
version: 1
name: bounds
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
    let (m, args): (String, Vec<String>) = (
        manifest.into(),
        extra.iter().map(|s| s.to_string()).collect(),
    );
    let b = base.clone();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), m).unwrap();
        let o = Command::cargo_bin("mastflow")
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
                &b,
            ])
            .args(&args)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
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
        stderr,
        run_json,
        invokes,
    }
}

/// The step failed with `says` in its error, in stderr and in run.json.
fn failed_with(r: &Ran, step: &str, says: &str) {
    assert_ne!(r.code, Some(0), "{}", r.stderr);
    assert!(r.code.is_some(), "killed by a signal: {}", r.stderr);
    assert!(
        r.stderr.contains(step),
        "stderr does not name {step}: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(says),
        "stderr lacks `{says}`: {}",
        r.stderr
    );
    let run = r.run_json.as_ref().expect("run.json is written");
    let text = run.to_string();
    assert!(text.contains("failed"), "{text}");
    assert!(text.contains(says), "run.json lacks `{says}`: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_that_never_ends_stops_at_the_second_page() {
    let r = run("pages-forever,only=invoke", SEARCH, &[]).await;
    failed_with(&r, "observations", "changed its paging");
    assert!(r.invokes <= 4, "{} invoke requests", r.invokes);
}

#[tokio::test(flavor = "multi_thread")]
async fn more_pages_than_max_pages_is_refused_at_the_first() {
    let r = run("pages-forever,only=invoke", SEARCH, &["--max-pages", "1"]).await;
    failed_with(&r, "observations", "more than --max-pages 1");
    assert!(r.invokes <= 2, "{} invoke requests", r.invokes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_page_is_refused_at_the_byte_cap() {
    let r = run(
        "huge-page=8,only=invoke",
        SEARCH,
        &["--max-response-bytes", "2MiB"],
    )
    .await;
    failed_with(
        &r,
        "observations",
        "larger than 2 MiB (--max-response-bytes)",
    );
    // Not retried: the same answer would come again.
    assert!(r.invokes <= 2, "{} invoke requests", r.invokes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_bomb_is_capped_after_decompression() {
    let r = run(
        "gzip-bomb=64,only=invoke",
        SEARCH,
        &["--max-response-bytes", "4MiB"],
    )
    .await;
    failed_with(&r, "observations", "counted after decompression");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_page_within_the_cap_is_data() {
    // The padding is JSON whitespace: under a cap that admits it, the
    // answer is read as usual (the cap refuses size, not content).
    let r = run(
        "huge-page=1,only=invoke",
        SEARCH,
        &["--max-response-bytes", "8MiB"],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn sizes_are_read_with_binary_and_decimal_units() {
    for (arg, ok) in [
        ("1MiB", true),
        ("500kB", true),
        ("12", true),
        ("0", false),
        ("3 parsecs", false),
    ] {
        let o = Command::cargo_bin("mastflow")
            .unwrap()
            .args([
                "run",
                "--dry-run",
                "nonexistent.yaml",
                "--max-response-bytes",
                arg,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(!err.contains("--max-response-bytes"), ok, "{arg}: {err}");
    }
}

const PLAN: &str = r#"
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
    n: 1
  plan:
    kind: download_plan
    from: first
outputs:
  - {from: plan, path: downloads/plan.json, kind: download_plan}
"#;

/// Every file under `dir`, with its first bytes and its length.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            let b = std::fs::read(&p).unwrap();
            let n = b.len() as u64;
            out.push((p, b.into_iter().take(2).collect(), n));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_are_not_decompressed() {
    // The server answers a download with a gzip stream that expands to
    // 64 MiB. mastflow asks for `identity` and writes what was sent: the
    // file is the 64 kB gzip stream (wrong size, so the file fails), never
    // 64 MiB of expanded zeros.
    let (ok, stderr, _, _, dir) = fetch_with("gzip-bomb=64,only=download", |_, _| {}).await;
    assert!(!ok, "a gzip stream passed as the planned file: {stderr}");
    let got = files(&dir.path().join("out/downloads"));
    let fits: Vec<_> = got
        .iter()
        .filter(|(p, _, _)| p.to_string_lossy().contains(".fits"))
        .collect();
    assert!(
        !fits.is_empty(),
        "nothing kept to show what was sent: {got:?}\n{stderr}"
    );
    for (p, head, n) in fits {
        assert!(
            *n < 1 << 20,
            "{} holds {n} bytes: decompressed",
            p.display()
        );
        assert_eq!(
            head,
            &[0x1f, 0x8b],
            "{} is not the gzip stream as sent",
            p.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paged_tap_query_stops_at_max_pages() {
    // 200-row pages of every JWST observation need more than 2 pages.
    let m = "version: 1\nname: paged\nsteps:\n  obs:\n    kind: tap\n    service: mast-caom\n    query: SELECT obsid, obs_id FROM dbo.obspointing WHERE obs_collection = 'JWST'\n    overflow: page\n    page_by: obsid\n    page_size: 200\noutputs:\n  - {from: obs, path: obs.ecsv}\n";
    let r = run("", m, &["--max-pages", "2"]).await;
    failed_with(&r, "obs", "stopped at --max-pages 2");
    let r = run("", m, &[]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

/// Run PLAN against a sandbox with `faults`, then `fetch` it; `before`
/// may prepare the download directory. Returns fetch's success, stderr, the
/// planned file's path and planned size.
async fn fetch_with(
    faults: &str,
    before: fn(&Path, u64),
) -> (bool, String, std::path::PathBuf, u64, tempfile::TempDir) {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some(faults.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), PLAN).unwrap();
        let mf = |args: &[&str]| {
            Command::cargo_bin("mastflow")
                .unwrap()
                .env_remove("MAST_API_TOKEN")
                .current_dir(&d)
                .args(args)
                .args(["--base-url", &base])
                .timeout(std::time::Duration::from_secs(120))
                .output()
                .unwrap()
        };
        let o = mf(&["run", "-q", "m.yaml", "--out", "out", "--no-cache"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let plan = d.join("out/downloads/plan.json");
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let path = plan.with_file_name(doc["files"][0]["path"].as_str().unwrap());
        let size = doc["files"][0]["size"].as_u64().expect("a planned size");
        before(&path, size);
        let o = mf(&["fetch", "out/downloads/plan.json"]);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            path,
            size,
        )
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
    (out.0, out.1, out.2, out.3, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_download_stops_at_the_planned_size() {
    // Before the cap an endless stream wrote 3 GB for a 1,000-byte entry.
    let (ok, stderr, path, _, _dir) = fetch_with("endless,only=download", |_, _| {}).await;
    assert!(!ok, "{stderr}");
    assert!(!path.exists(), "an endless stream became the file");
    assert!(!Path::new(&format!("{}.part", path.display())).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_part_is_restarted_not_fatal() {
    // A `.part` larger than the planned size failed every later run while
    // the message said it was "kept for the next run".
    let (ok, stderr, path, size, _dir) = fetch_with("", |path, size| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            format!("{}.part", path.display()),
            vec![7u8; size as usize + 4096],
        )
        .unwrap();
    })
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    assert!(!Path::new(&format!("{}.part", path.display())).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_columns_of_one_name_are_refused_not_emptied() {
    // Before: a duplicate column name from the server gave an empty table
    // and success.
    let r = run("dup-column,only=invoke", SEARCH, &[]).await;
    failed_with(&r, "observations", "two columns named");
    assert!(!r.stderr.contains("[ok]"), "{}", r.stderr);
}
