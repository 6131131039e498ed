//! Outputs removed from a manifest are not left in `--out` without a word
//! (issue 13 item 9): the run that stops writing them names them, and
//! run.json lists them (`stale_outputs`) on every run until they are deleted.

use assert_cmd::Command;

fn run(dir: &std::path::Path, outputs: &str) -> String {
    let m = format!(
        "version: 1\nname: t\nsteps:\n  t:\n    kind: table\n    rows: [{{a: 1}}]\noutputs:\n{outputs}"
    );
    std::fs::write(dir.join("m.yaml"), m).unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .current_dir(dir)
        .args(["run", "m.yaml", "--out", "out"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn outputs_no_longer_written_are_named() {
    let d = tempfile::tempdir().unwrap();
    let both = "  - {from: t, path: a.csv}\n  - {from: t, path: old/b.ecsv}\n";
    let err = run(d.path(), both);
    assert!(!err.contains("were not written by this one"), "{err}");
    let err = run(d.path(), "  - {from: t, path: a.csv}\n");
    assert!(
        err.contains("note: 1 output(s) of the previous run") && err.contains("old/b.ecsv"),
        "{err}"
    );
    assert!(!err.contains("a.csv;"), "{err}");
    // Left as they were, not deleted behind the user's back.
    assert!(d.path().join("out/old/b.ecsv").is_file());
    assert_eq!(stale_in_run_json(d.path()), vec!["old/b.ecsv"]);
    // Still listed by the next run (no longer an output of the previous one).
    let err = run(d.path(), "  - {from: t, path: a.csv}\n");
    assert!(err.contains("old/b.ecsv"), "{err}");
    assert_eq!(stale_in_run_json(d.path()), vec!["old/b.ecsv"]);
    // Deleted: no longer listed.
    std::fs::remove_file(d.path().join("out/old/b.ecsv")).unwrap();
    let err = run(d.path(), "  - {from: t, path: a.csv}\n");
    assert!(!err.contains("old/b.ecsv"), "{err}");
    assert!(stale_in_run_json(d.path()).is_empty());
}

fn stale_in_run_json(dir: &std::path::Path) -> Vec<String> {
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/run.json")).unwrap()).unwrap();
    rec["stale_outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}
