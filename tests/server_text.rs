//! Server text reaches the terminal and `run.json` sanitised and capped
//! (`docs/security.md`, "Server text"; issue 12 item 11): a hostile sandbox
//! answers every Mashup request with an `ERROR` whose `msg` holds terminal
//! escapes or 10 MB, and the run's stderr and `run.json` are checked.

use assert_cmd::Command;
use mastflow::textsafe::CAP;
use serde_json::Value;
use std::path::Path;

const MANIFEST: &str = r#"
version: 1
name: hostile
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073"}
outputs:
  - {from: observations, path: observations.csv}
"#;

/// The progress line's preview of an error (`cli::progress::PREVIEW`).
const PREVIEW: usize = 200;

/// Runs the manifest against a sandbox whose every invoke answers `ERROR`
/// with `msg`; returns stderr and the parsed `run.json`.
async fn run_against(msg: &str) -> (String, Value, u64) {
    run_with(MANIFEST, &format!("only=invoke,error={msg}")).await
}

/// Runs `manifest` against a sandbox with the global fault spec `faults`.
async fn run_with(manifest: &'static str, faults: &str) -> (String, Value, u64) {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some(faults.to_string()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let (stderr, record, size) = tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), manifest).unwrap();
        let o = mastflow(&base, &["run", "m.yaml", "--no-cache", "--out", "out"], &d);
        assert_eq!(o.status.code(), Some(1), "the step fails");
        let bytes = std::fs::read(d.join("out/run.json")).unwrap();
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        (
            String::from_utf8(o.stderr).unwrap(),
            record,
            bytes.len() as u64,
        )
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
    (stderr, record, size)
}

fn mastflow(base: &str, args: &[&str], dir: &Path) -> std::process::Output {
    Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .env("NO_COLOR", "1")
        .args(args)
        .args(["--base-url", base])
        .current_dir(dir)
        .output()
        .unwrap()
}

fn step_error(record: &Value) -> &str {
    record["steps"][0]["error"].as_str().unwrap()
}

/// Every character a terminal would act on, as `textsafe` lists them.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[tokio::test(flavor = "multi_thread")]
async fn escapes_are_shown_not_obeyed() {
    let msg = "Bad\x1b]0;pwned\x07 query\x1b[2J\x1b[31m\r[ok] forged \u{202e}txt.exe\u{9b}2J\nnext";
    let (stderr, record, _) = run_against(msg).await;
    let bad: Vec<char> = stderr.chars().filter(|&c| is_control(c)).collect();
    assert!(bad.is_empty(), "raw controls {bad:?} in stderr:\n{stderr}");
    for line in stderr.lines() {
        assert!(!line.starts_with("[ok] forged"), "forged line: {line}");
        assert!(
            !line.starts_with("next"),
            "a server newline began a line: {line}"
        );
    }
    let shown = r"Bad\e]0;pwned\x07 query\e[2J\e[31m\r[ok] forged \u{202e}txt.exe\u{9b}2J\nnext";
    assert!(
        stderr.contains(shown),
        "escaped text not visible:\n{stderr}"
    );
    let err = step_error(&record);
    assert!(
        !err.chars().any(is_control) && !err.contains('\n'),
        "raw controls in run.json: {err:?}"
    );
    assert!(err.contains(shown), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ten_megabyte_message_is_capped_and_printed_once() {
    let n = 10_000_000;
    let (stderr, record, size) = run_against(&"Z".repeat(n)).await;
    let zs = stderr.chars().filter(|&c| c == 'Z').count();
    assert!(
        zs <= CAP + PREVIEW,
        "{zs} Z in stderr: more than one capped copy ({} bytes)",
        stderr.len()
    );
    assert!(
        stderr.len() < CAP + PREVIEW + 4_000,
        "{} bytes",
        stderr.len()
    );
    assert!(stderr.contains("more bytes)"), "no cap marker:\n{stderr}");
    let err = step_error(&record);
    // The whole error (mastflow's prefix and the msg) is cut at CAP.
    let kept = err.chars().filter(|&c| c == 'Z').count();
    assert!((CAP - 100..CAP).contains(&kept), "{kept} Z kept: {err}");
    assert!(err.ends_with(" more bytes)"), "{err}");
    assert!(size < 10_000, "run.json is {size} bytes");
}

const TAP_MANIFEST: &str = r#"
version: 1
name: hostile-tap
steps:
  obs:
    kind: tap
    service: mast-caom
    mode: sync
    query: "SELECT obs_id FROM dbo.obspointing WHERE obs_collection = 'JWST'"
outputs:
  - {from: obs, path: obs.csv}
"#;

/// A TAP error document's `INFO` text (XML can carry `\r`, newlines and
/// bidi overrides, not ESC) is sanitised on the same edge.
#[tokio::test(flavor = "multi_thread")]
async fn a_tap_error_document_is_sanitised() {
    let msg = "Bad query\r[ok] forged \u{202e}txt.exe\nnext";
    let (stderr, record, _) = run_with(TAP_MANIFEST, &format!("only=tap,error={msg}")).await;
    assert!(
        !stderr.chars().any(is_control),
        "raw controls in:\n{stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("[ok] forged") || l.starts_with("next")),
        "{stderr}"
    );
    let err = step_error(&record);
    assert!(err.contains(r"[ok] forged \u{202e}txt.exe\nnext"), "{err}");
}
