//! Download plans and `fetch` against hostile input (issue 12 items 2, 4, 5),
//! through the binary:
//!
//! - products whose names sanitise (or case-fold) to one path are refused
//!   when the plan is built, naming both dataURIs (identical dataURIs are
//!   still merged), and `fetch` refuses a hand-made plan with two files at
//!   one path;
//! - a second `fetch` of a plan being fetched refuses, and the first one
//!   completes with the right bytes;
//! - a redirect to another port of the same host (`redirect-port=`) never
//!   receives the token, for an API call or a download;
//! - a `path_lookup` answer holding a newline (`lookup-inject`) is refused
//!   before any plan file is written.

use assert_cmd::Command;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `mastflow ARGS` in `dir`, with the cache there and `env` set.
fn mastflow(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::cargo_bin("mastflow").unwrap();
    c.env_remove("MAST_API_TOKEN")
        .env("MASTFLOW_CACHE_DIR", dir.join("cache"))
        .args(args)
        .current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A manifest whose products are the given `rows:` (YAML flow mappings),
/// planned with `layout`.
fn table_plan(rows: &[&str], layout: &str) -> String {
    let rows: String = rows.iter().map(|r| format!("      - {r}\n")).collect();
    format!(
        "version: 1\nname: p\nsteps:\n  products:\n    kind: table\n    rows:\n{rows}  plan:\n    kind: download_plan\n    from: products\n    layout: {layout}\noutputs:\n  - {{from: plan, path: downloads/plan.json, kind: download_plan}}\n"
    )
}

fn row(uri: &str, file: &str, obs: &str) -> String {
    format!(
        "{{dataURI: \"mast:JWST/product/{uri}\", productFilename: \"{file}\", obs_id: {obs}, size: 10, dataRights: PUBLIC}}"
    )
}

fn run_manifest(dir: &Path, manifest: &str, extra: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("m.yaml"), manifest).unwrap();
    let mut args = vec!["run", "-q", "m.yaml", "--out", "out"];
    args.extend_from_slice(extra);
    mastflow(dir, &args, &[])
}

// ------------------------------------------------------------ collisions

/// evil.py's `collide`: three dataURIs whose names sanitise to
/// `same_name.fits` lost 2 of 3 files and the rerun reported success.
#[test]
fn names_that_sanitise_alike_are_refused_naming_both_uris() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        row("same name.fits", "same name.fits", "o1"),
        row("same_name.fits", "same_name.fits", "o1"),
        row("same?name.fits", "same?name.fits", "o1"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let o = run_manifest(dir.path(), &table_plan(&rows, "flat"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // dataURIs are taken in order: the first two meet at the same path.
    for want in [
        "mast:JWST/product/same name.fits",
        "mast:JWST/product/same?name.fits",
        "`same_name.fits`",
        "sanitise to the same path",
        "layout: nested",
    ] {
        assert!(err.contains(want), "missing {want:?} in: {err}");
    }
    assert!(!dir.path().join("out/downloads/plan.json").exists());
}

/// Paths differing only in case are one file on macOS or Windows: refused
/// (in the nested layout the hint is a filter).
#[test]
fn names_that_differ_only_in_case_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        row("jw01_CAL.fits", "jw01_CAL.fits", "jw01"),
        row("jw01_cal.fits", "jw01_cal.fits", "jw01"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let o = run_manifest(dir.path(), &table_plan(&rows, "nested"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for want in [
        "mast:JWST/product/jw01_CAL.fits",
        "mast:JWST/product/jw01_cal.fits",
        "letter case",
        "filter",
    ] {
        assert!(err.contains(want), "missing {want:?} in: {err}");
    }
    assert!(!dir.path().join("out/downloads/plan.json").exists());
}

/// One dataURI listed twice (two observations share a file) is one file,
/// as before; the same name under two obs_ids is two paths when nested.
#[test]
fn identical_uris_still_merge_and_nested_dirs_separate_names() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        row("a/same name.fits", "same name.fits", "o1"),
        row("a/same name.fits", "same name.fits", "o1"),
        row("b/same name.fits", "same name.fits", "o2"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let o = run_manifest(dir.path(), &table_plan(&rows, "nested"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/downloads/plan.json")).unwrap())
            .unwrap();
    let paths: Vec<&str> = plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "mastDownload/JWST/o1/same_name.fits",
            "mastDownload/JWST/o2/same_name.fits"
        ]
    );
}

/// A hand-made (or older) plan with two entries at one path is refused by
/// `fetch` before anything is downloaded: it used to fetch one, fail the
/// other, and report both complete on the rerun.
#[test]
fn fetch_refuses_a_plan_with_two_files_at_one_path() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        row("x/a.fits", "a.fits", "o1"),
        row("y/b.fits", "b.fits", "o1"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    // Nothing listens there: no test reaches the real MAST, even on old code.
    let nowhere = ["--base-url", "http://127.0.0.1:9"];
    let o = run_manifest(dir.path(), &table_plan(&rows, "flat"), &nowhere);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan = dir.path().join("out/downloads/plan.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    doc["files"][1]["path"] = "A.fits".into();
    std::fs::write(&plan, serde_json::to_vec(&doc).unwrap()).unwrap();
    let o = mastflow(
        dir.path(),
        &["fetch", nowhere[0], nowhere[1], "out/downloads/plan.json"],
        &[],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for want in [
        "mast:JWST/product/x/a.fits",
        "mast:JWST/product/y/b.fits",
        "share the local path `A.fits`",
    ] {
        assert!(err.contains(want), "missing {want:?} in: {err}");
    }
    assert!(!plan.with_file_name("a.fits.part").exists());
    assert!(!plan.with_file_name("plan.fetch-report.json").exists());
}

// ------------------------------------------------------------ concurrent fetch

const SMALL_PLAN: &str = r#"
version: 1
name: small
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073", instrument_name: NIRCAM/IMAGE}
  products:
    kind: products
    from: observations
  small:
    kind: filter
    from: products
    where: {size: {min: 100000, max: 400000}}
  some:
    kind: head
    from: small
    n: 3
  plan:
    kind: download_plan
    from: some
outputs:
  - {from: plan, path: downloads/plan.json, kind: download_plan}
"#;

/// Before the lock, two fetches of one plan at once corrupted it (5/5
/// trials). Now the second refuses at once, and the first completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_fetch_of_a_running_plan_refuses() {
    // 25 kB/s: each file (130-190 kB) takes 5-8 s, ample time for the second.
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some("slow-body=25000,only=download".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let o = run_manifest(&d, SMALL_PLAN, &["--base-url", &base]);
        assert!(o.status.success(), "{}", stderr(&o));
        let plan = d.join("out/downloads/plan.json");
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let files = doc["files"].as_array().unwrap().clone();
        assert_eq!(files.len(), 3);
        let at = |f: &Value| plan.with_file_name(f["path"].as_str().unwrap());
        let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("mastflow"))
            .args(["fetch", "-q", "--base-url", &base])
            .arg(&plan)
            .env_remove("MAST_API_TOKEN")
            .spawn()
            .unwrap();
        // The lock is taken before any download starts: once a .part exists,
        // the first fetch holds it.
        let t0 = Instant::now();
        while !files
            .iter()
            .any(|f| PathBuf::from(format!("{}.part", at(f).display())).exists())
        {
            assert!(t0.elapsed() < Duration::from_secs(60), "no download began");
            std::thread::sleep(Duration::from_millis(20));
        }
        let second = mastflow(
            &d,
            &["fetch", "--base-url", &base, "out/downloads/plan.json"],
            &[],
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first fetch ended before the second started: the test proves nothing"
        );
        let err = stderr(&second);
        assert_eq!(second.status.code(), Some(1), "{err}");
        assert!(
            err.contains("another `mastflow fetch` of this plan is running")
                && err.contains("plan.json.lock"),
            "{err}"
        );
        assert!(
            !plan.with_file_name("plan.fetch-report.json").exists(),
            "the refused fetch wrote a report"
        );
        assert!(first.wait().unwrap().success());
        let report: Value = serde_json::from_slice(
            &std::fs::read(plan.with_file_name("plan.fetch-report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["downloaded"], 3, "{report}");
        for f in &files {
            let size = f["size"].as_u64().unwrap();
            let want =
                mastflow::sandbox::files::FileBytes::new(f["dataURI"].as_str().unwrap(), size)
                    .read(0, size as usize);
            assert!(
                std::fs::read(at(f)).unwrap() == want,
                "{} differs",
                at(f).display()
            );
            assert!(!PathBuf::from(format!("{}.part", at(f).display())).exists());
        }
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}

// ------------------------------------------------------------ redirects

/// A plain listener on another port of 127.0.0.1 that keeps every request
/// it receives (head and body, as text) and answers 404.
fn recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            keep.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).into_owned());
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, seen)
}

/// What the recorder got: at least one request starting with `start`, and
/// neither the token nor an Authorization header in any of them.
fn assert_no_token(seen: &Mutex<Vec<String>>, start: &str) {
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|r| r.starts_with(start)),
        "the redirect never reached the other port: {seen:?}"
    );
    let token = mastflow::sandbox::token();
    for r in seen.iter() {
        assert!(!r.contains(&token), "the token went to another port:\n{r}");
        assert!(
            !r.to_ascii_lowercase().contains("\nauthorization:"),
            "an Authorization header went to another port:\n{r}"
        );
    }
}

/// The sandbox's request log entries for `path`.
async fn logged(base: &str, path: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{base}/_sandbox/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"] == path)
        .cloned()
        .collect()
}

/// An API call (Mashup invoke) redirected to another port of the MAST host
/// carries no token there (it did before: `is_mast_host` ignored the port).
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_port_gets_no_token_for_api_calls() {
    let (port, seen) = recorder();
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some(format!("redirect-port={port},only=invoke")),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let b = base.clone();
    tokio::task::spawn_blocking(move || {
        let manifest = "version: 1\nname: r\nsteps:\n  obs:\n    kind: caom\n    criteria: {obs_collection: JWST, proposal_id: \"1073\"}\noutputs:\n  - {from: obs, path: obs.csv}\n";
        std::fs::write(d.join("m.yaml"), manifest).unwrap();
        let token = mastflow::sandbox::token();
        let o = mastflow(
            &d,
            &["run", "-q", "m.yaml", "--out", "out", "--base-url", &b, "--no-cache"],
            &[("MAST_API_TOKEN", &token)],
        );
        assert!(!o.status.success(), "the redirected call cannot succeed");
    })
    .await
    .unwrap();
    assert_no_token(&seen, "POST /api/v0/invoke");
    // The token was in play: the MAST origin itself received it.
    let at_mast = logged(&base, "/api/v0/invoke").await;
    assert!(at_mast.iter().any(|e| e["auth"] == "header"), "{at_mast:?}");
    sandbox.shutdown().await;
}

/// A download of an exclusive-access file (the token is sent for it)
/// redirected to another port carries no token there.
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_port_gets_no_token_for_downloads() {
    let (port, seen) = recorder();
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some(format!("redirect-port={port},only=download")),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let b = base.clone();
    tokio::task::spawn_blocking(move || {
        let r = "{dataURI: \"mast:JWST/product/jw99_secret.fits\", productFilename: jw99_secret.fits, size: 10, dataRights: EXCLUSIVE_ACCESS}";
        let o = run_manifest(&d, &table_plan(&[r], "flat"), &["--base-url", &b]);
        assert!(o.status.success(), "{}", stderr(&o));
        let token = mastflow::sandbox::token();
        let o = mastflow(
            &d,
            &["fetch", "-q", "--base-url", &b, "out/downloads/plan.json"],
            &[("MAST_API_TOKEN", &token)],
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    })
    .await
    .unwrap();
    assert_no_token(
        &seen,
        "GET /api/v0.1/Download/file?uri=mast:JWST/product/jw99_secret.fits",
    );
    let at_mast = logged(&base, "/api/v0.1/Download/file").await;
    assert!(at_mast.iter().any(|e| e["auth"] == "header"), "{at_mast:?}");
    sandbox.shutdown().await;
}

// ------------------------------------------------------------ path_lookup

/// A `path_lookup` path holding a newline and a second `cp` would have
/// added that command to plan.s5cmd.txt: the run fails naming the product,
/// and no plan file (nor a staging or temporary file) is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_newline_in_path_lookup_writes_no_plan_files() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some("lookup-inject,only=path-lookup".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let manifest = SMALL_PLAN
            .replace("n: 3", "n: 1")
            .replace("from: some\n", "from: some\n    cloud: true\n");
        let o = run_manifest(&d, &manifest, &["--base-url", &base]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("product `mast:JWST/product/")
                && err.contains("attacker-bucket")
                && err.contains("refused"),
            "{err}"
        );
        let out = d.join("out");
        let mut left = Vec::new();
        let mut stack = vec![out.clone()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    stack.push(path.clone());
                }
                if name.starts_with("plan") || name.starts_with(".mastflow") {
                    left.push(path.clone());
                }
                if path.is_file() {
                    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                    assert!(
                        !text
                            .lines()
                            .any(|l| l.starts_with("cp s3://attacker-bucket")),
                        "{} holds the injected command",
                        path.display()
                    );
                }
            }
        }
        assert!(left.is_empty(), "left behind: {left:?}");
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}

/// The shards of a job array run at once (each holds the plan lock shared and
/// its own shard lock), one shard never runs twice, a whole-plan fetch waits
/// for none of them but is refused while they run, and each shard writes its
/// own report.
#[tokio::test(flavor = "multi_thread")]
async fn shards_run_at_once_and_keep_their_own_reports() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some("slow-body=25000,only=download".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let o = run_manifest(&d, SMALL_PLAN, &["--base-url", &base]);
        assert!(o.status.success(), "{}", stderr(&o));
        let plan = d.join("out/downloads/plan.json");
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let files = doc["files"].as_array().unwrap().clone();
        let at = |f: &Value| plan.with_file_name(f["path"].as_str().unwrap());
        let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("mastflow"))
            .args(["fetch", "-q", "--shard", "1/2", "--base-url", &base])
            .arg(&plan)
            .env_remove("MAST_API_TOKEN")
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while !PathBuf::from(format!("{}.part", at(&files[0]).display())).exists() {
            assert!(t0.elapsed() < Duration::from_secs(60), "no download began");
            std::thread::sleep(Duration::from_millis(20));
        }
        let fetch = |extra: &[&str]| {
            let mut args = vec!["fetch", "--base-url", &base];
            args.extend_from_slice(extra);
            args.push("out/downloads/plan.json");
            mastflow(&d, &args, &[])
        };
        let twice = fetch(&["--shard", "1/2"]);
        let whole = fetch(&[]);
        let other = fetch(&["--shard", "2/2"]);
        assert!(
            first.try_wait().unwrap().is_none(),
            "shard 1 ended before the others started: the test proves nothing"
        );
        assert_eq!(twice.status.code(), Some(1), "{}", stderr(&twice));
        assert!(
            stderr(&twice).contains("plan.json.shard-1-of-2.lock"),
            "{}",
            stderr(&twice)
        );
        assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
        assert!(
            stderr(&whole).contains("plan.json.lock"),
            "{}",
            stderr(&whole)
        );
        assert!(
            other.status.success(),
            "shard 2 waited or failed: {}",
            stderr(&other)
        );
        assert!(first.wait().unwrap().success());
        for (shard, mine) in [("1-of-2", [0usize, 2]), ("2-of-2", [1, 1])] {
            let name = format!("plan.shard-{shard}.fetch-report.json");
            let report: Value =
                serde_json::from_slice(&std::fs::read(plan.with_file_name(&name)).unwrap())
                    .unwrap();
            for i in mine {
                assert_eq!(
                    report["files"][i]["status"], "downloaded",
                    "{name}: {report}"
                );
            }
        }
        assert!(!plan.with_file_name("plan.fetch-report.json").exists());
        for f in &files {
            assert_eq!(
                std::fs::metadata(at(f)).unwrap().len(),
                f["size"].as_u64().unwrap()
            );
        }
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}
