//! Real TAP peers against the sandbox's TAP service: pyvo
//! (`tests/interop/pyvo_tap.py`: run_sync, run_async, search with maxrec,
//! DALQueryError, the job API), STILTS `tapquery` (sync and async, errors)
//! and STILTS `taplint`, which must report no `E-` line.
//!
//! Python comes from `MASTFLOW_PYTHON` (default `python3`). A peer that is
//! not installed (`import pyvo` fails, no `stilts` on the PATH) is skipped
//! with `SKIPPED: …`, unless `MASTFLOW_REQUIRE_INTEROP=1`, which makes the
//! test fail. STILTS is the Debian package `stilts` (`apt-get install -y
//! --no-install-recommends stilts`).

mod common;

use common::{available, interop_dir, python};
use mastflow::sandbox::{self, Config, Running};
use std::process::{Command, Output};

async fn start() -> (Running, String) {
    let r = sandbox::start(Config::default())
        .await
        .expect("start sandbox");
    let url = format!("{}/vo-tap/api/v0.1/caom", r.base_url);
    (r, url)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvo_against_the_sandbox() {
    if !common::python_peer("pyvo", "pyvo") {
        return;
    }
    let (running, _) = start().await;
    let base = running.base_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(interop_dir().join("pyvo_tap.py"))
            .current_dir(interop_dir())
            .env("MASTFLOW_SANDBOX_URL", base)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&out);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("PYVO TAP CHECKS OK"),
        "pyvo_tap.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    running.shutdown().await;
}

fn stilts(args: &[String]) -> Output {
    Command::new("stilts")
        .args(args)
        .output()
        .expect("run stilts")
}

fn tapquery(url: &str, adql: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "tapquery".to_string(),
        format!("tapurl={url}"),
        format!("adql={adql}"),
        "ofmt=csv".to_string(),
        "out=-".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    stilts(&args)
}

fn stilts_present() -> bool {
    common::succeeds("stilts", &["-version"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stilts_tapquery_sync_and_async() {
    if !available("stilts", stilts_present()) {
        return;
    }
    let (running, url) = start().await;
    let q = "SELECT TOP 6 obsid, obs_id FROM dbo.obspointing WHERE calib_level = 3 ORDER BY obsid";
    let expected = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{url}/sync"))
        .form(&[("LANG", "ADQL"), ("QUERY", q), ("RESPONSEFORMAT", "csv")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let u = url.clone();
    let (sync, asyn, maxrec, bad) = tokio::task::spawn_blocking(move || {
        (
            tapquery(&u, q, &["sync=true"]),
            tapquery(&u, q, &["poll=100"]),
            tapquery(&u, q, &["sync=true", "maxrec=2"]),
            tapquery(&u, "SELECT nope FROM ivoa.obscore", &["sync=true"]),
        )
    })
    .await
    .unwrap();
    let rows = |o: &Output| -> Vec<String> { text(o).0.lines().map(str::to_string).collect() };
    let want: Vec<String> = expected.lines().map(str::to_string).collect();
    assert_eq!(want.len(), 7, "{expected}");
    assert!(sync.status.success(), "{:?}", text(&sync));
    assert_eq!(rows(&sync), want, "sync");
    assert!(asyn.status.success(), "{:?}", text(&asyn));
    assert_eq!(rows(&asyn), want, "async");
    let log = text(&asyn).1;
    assert!(
        log.contains("COMPLETED") && log.contains("DELETED"),
        "{log}"
    );
    assert_eq!(rows(&maxrec), want[..3].to_vec(), "maxrec=2");
    assert!(!bad.status.success());
    assert!(
        text(&bad).1.contains("unknown column 'nope'"),
        "{:?}",
        text(&bad)
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taplint_reports_no_errors() {
    if !available("stilts", stilts_present()) {
        return;
    }
    let (running, url) = start().await;
    let out =
        tokio::task::spawn_blocking(move || stilts(&["taplint".into(), format!("tapurl={url}")]))
            .await
            .unwrap();
    let (stdout, stderr) = text(&out);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("E-")).collect();
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("W-")).collect();
    println!(
        "taplint warnings ({}):\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    println!(
        "{}",
        stdout
            .lines()
            .filter(|l| l.starts_with("Totals"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stdout.contains("Totals:"),
        "taplint did not finish:\n{stdout}\n{stderr}"
    );
    assert!(errors.is_empty(), "taplint errors:\n{}", errors.join("\n"));
    running.shutdown().await;
}
