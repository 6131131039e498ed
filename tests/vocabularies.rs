//! Criterion values outside CAOM's known vocabularies (issue 13 item 3): a
//! warning with a did-you-mean at file:line:col, the run still allowed; an
//! error with `--strict`. Patterns, other missions and params-only templates.

use assert_cmd::Command;
use std::path::Path;

fn validate(dir: &Path, manifest: &str, extra: &[&str]) -> (Option<i32>, String) {
    std::fs::write(dir.join("m.yaml"), manifest).unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .current_dir(dir)
        .args(["validate", "--message-format", "short", "m.yaml"])
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const WRONG: &str = r#"version: 1
name: vocab
steps:
  ifu:
    kind: caom
    criteria: {obs_collection: JWST, instrument_name: NIRSPEC, dataRights: publik}
  spelled:
    kind: caom
    criteria: {obs_collection: JWST, instrument_name: [NIRSpec IFU, "MIRI*"], intentType: SCIENCE}
"#;

#[test]
fn an_unknown_value_warns_with_the_spelling_mast_uses() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = validate(dir.path(), WRONG, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(
        "m.yaml:6:55: warning[unknown_value]: `NIRSPEC` is not a known value of `instrument_name`: MAST would find no rows (help: MAST spells it with the mode: `NIRSPEC/IFU`, `NIRSPEC/MSA`, `NIRSPEC/SLIT`; or `NIRSPEC*` for every mode (known values as of 2024-02-20; `--strict` makes this an error))"
    ), "{err}");
    assert!(
        err.contains(
            "m.yaml:6:76: warning[unknown_value]: `publik` is not a known value of `dataRights`"
        ) && err.contains("did you mean `PUBLIC`?"),
        "{err}"
    );
    assert!(
        err.contains("m.yaml:9:56: warning[unknown_value]: `NIRSpec IFU`")
            && err.contains("did you mean `NIRSPEC/IFU`?"),
        "{err}"
    );
    // A pattern that matches known values, and a value in another case, pass.
    assert_eq!(err.matches("warning[unknown_value]").count(), 3, "{err}");
}

#[test]
fn strict_makes_it_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = validate(dir.path(), WRONG, &["--strict"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("error[unknown_value]").count(), 3, "{err}");
    assert!(!err.contains("`--strict` makes this an error"), "{err}");
}

#[test]
fn known_values_patterns_and_other_missions_pass_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = validate(
        dir.path(),
        r#"version: 1
name: fine
steps:
  a:
    kind: caom
    criteria: {obs_collection: JWST, instrument_name: "NIRSPEC*", dataproduct_type: cube, calib_level: [2, 3], dataRights: public}
  b:
    kind: caom
    criteria: {obs_collection: HST, instrument_name: ACS/WFC}
"#,
        &["--strict"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("unknown_value"), "{err}");
}

#[test]
fn a_params_template_is_checked_with_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let m = r#"version: 1
name: templated
params:
  instrument: {type: string, default: NIRSPEC/IFU}
steps:
  a:
    kind: caom
    criteria: {obs_collection: JWST, instrument_name: "{{ params.instrument }}"}
"#;
    let (code, err) = validate(dir.path(), m, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("unknown_value"), "{err}");
    let (code, err) = validate(dir.path(), m, &["--set", "instrument=NIRCAM"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("m.yaml:8:55: warning[unknown_value]: `NIRCAM` is not a known value of `instrument_name`"),
        "{err}"
    );
}
