//! Set-up shared by the integration tests (each test binary includes it with
//! `mod common;` and uses a part of it):
//!
//! - where things are: [`repo`], [`interop_dir`], and the Python the interop
//!   tests run, [`python`] (`MASTFLOW_PYTHON`, default `python3`);
//! - the rule for a missing peer (a Python package, `stilts`, DaCHS, a
//!   linter...): the test prints `SKIPPED: ...` and passes, unless
//!   `MASTFLOW_REQUIRE_INTEROP=1` (CI), which makes it fail
//!   ([`skip_or_fail`], and the probes [`available`], [`python_peer`],
//!   [`python_imports`], [`succeeds`]);
//! - one sandbox shared by every test of a binary, [`shared_sandbox`].

#![allow(dead_code)]

use std::fmt::Display;
use std::path::PathBuf;
use std::process::Command;

/// The crate's root directory (`CARGO_MANIFEST_DIR`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/interop`: the Python scripts the interop tests run.
pub fn interop_dir() -> PathBuf {
    repo().join("tests").join("interop")
}

/// The Python interpreter of the interop tests: `$MASTFLOW_PYTHON`, or
/// `python3` (from PATH) when it is not set.
pub fn python() -> String {
    std::env::var("MASTFLOW_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether interop is mandatory: `MASTFLOW_REQUIRE_INTEROP=1`, as in CI
/// (`.ci/test`), where a test whose peer is missing must fail, not skip.
pub fn interop_required() -> bool {
    std::env::var("MASTFLOW_REQUIRE_INTEROP").as_deref() == Ok("1")
}

/// The rule for a test that cannot run because a peer is missing (`why`
/// says which, and how to get it): prints `SKIPPED: {why}` so the test can
/// return and pass, or panics with `MASTFLOW_REQUIRE_INTEROP=1 but {why}`
/// when [`interop_required`].
pub fn skip_or_fail(why: impl Display) {
    if interop_required() {
        panic!("MASTFLOW_REQUIRE_INTEROP=1 but {why}");
    }
    println!("SKIPPED: {why}");
}

/// Whether a test may use `peer`: `true` when it is `present`; otherwise
/// [`skip_or_fail`] with `{peer} not installed`, and `false`.
pub fn available(peer: &str, present: bool) -> bool {
    if !present {
        skip_or_fail(format!("{peer} not installed"));
    }
    present
}

/// Whether `cmd args...` runs and exits with status 0.
pub fn succeeds(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether [`python`] can `import {modules}` (e.g. `"numpy, astropy"`);
/// `Err` says why not (the command and the last line of its error, or why
/// it could not run).
pub fn python_imports(modules: &str) -> Result<(), String> {
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .output();
    match probe {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let last = stderr.trim().lines().last().unwrap_or("").to_string();
            Err(format!("`{py} -c 'import {modules}'` fails: {last}"))
        }
        Err(e) => Err(format!("cannot run `{py}`: {e}")),
    }
}

/// Whether a test may use the Python package `peer`: `true` when
/// [`python`] can `import {modules}`; otherwise [`skip_or_fail`] with
/// `{peer} not installed (...)`, and `false`.
pub fn python_peer(peer: &str, modules: &str) -> bool {
    match python_imports(modules) {
        Ok(()) => true,
        Err(why) => {
            skip_or_fail(format!(
                "{peer} not installed ({why}; pip install -r .ci/requirements.txt)"
            ));
            false
        }
    }
}

/// The base URL of one sandbox (default config) shared by every test of the
/// test binary. It runs on its own runtime, in a thread of its own, so that
/// it outlives the runtime of the `#[tokio::test]` that first asks for it and
/// every test can use it.
pub async fn shared_sandbox() -> String {
    use mastflow::sandbox::{self, Config};
    static SANDBOX: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    SANDBOX
        .get_or_init(|| async {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let r = sandbox::start(Config::default()).await.unwrap();
                    tx.send(r.base_url.clone()).unwrap();
                    r.handle.await.ok();
                });
            });
            rx.recv().unwrap()
        })
        .await
        .clone()
}
