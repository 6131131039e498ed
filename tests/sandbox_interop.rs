//! Real clients against the sandbox: runs `tests/interop/astroquery_*.py`
//! (unmodified astroquery from PyPI) against in-process sandboxes.
//!
//! Python comes from `MASTFLOW_PYTHON` (default `python3`). When astroquery
//! cannot be imported the test prints `SKIPPED: astroquery not installed`
//! and passes, unless `MASTFLOW_REQUIRE_INTEROP=1`, which makes it fail.

mod common;

use common::{interop_dir, python};
use mastflow::sandbox::{self, Config};
use std::process::Command;

fn run_script(script: &str, base_url: &str) {
    let out = Command::new(python())
        .arg(interop_dir().join(script))
        .current_dir(interop_dir())
        .env("MASTFLOW_SANDBOX_URL", base_url)
        .env("MASTFLOW_SANDBOX_TOKEN", sandbox::token())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let oks = stdout.lines().filter(|l| l.starts_with("ok: ")).count();
    println!("{script}: {oks} checks passed");
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn astroquery_against_the_sandbox() {
    if !common::python_peer("astroquery", "astroquery.mast") {
        return;
    }
    let plain = sandbox::start(Config::default())
        .await
        .expect("start sandbox");
    let faulty = sandbox::start(Config {
        faults: Some("executing=2,only=invoke".into()),
        latency_ms: 5,
        ..Config::default()
    })
    .await
    .expect("start faulty sandbox");
    let (a, b) = (plain.base_url.clone(), faulty.base_url.clone());
    tokio::task::spawn_blocking(move || {
        run_script("astroquery_observations.py", &a);
        run_script("astroquery_si_keywords.py", &a);
        run_script("astroquery_missions.py", &a);
        run_script("astroquery_faults.py", &b);
    })
    .await
    .expect("scripts ran");
    plain.shutdown().await;
    faulty.shutdown().await;
}
