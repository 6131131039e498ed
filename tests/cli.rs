//! Integration tests that drive the `mastflow` binary: commands, exit codes,
//! outputs, the run record, determinism, selection, failure handling and
//! interruption.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn mastflow() -> Command {
    Command::cargo_bin("mastflow").expect("binary built")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

fn step<'a>(record: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

#[test]
fn committed_schema_is_fresh() {
    let out = mastflow().arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo().join("schemas/manifest.schema.json")).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "schemas/manifest.schema.json is stale: run `cargo run -- schema > schemas/manifest.schema.json`"
    );
}

#[test]
fn every_shipped_manifest_validates() {
    let mut paths = vec![repo().join("manifests/starter.yaml")];
    for e in std::fs::read_dir(repo().join("manifests/examples")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            paths.push(p);
        }
    }
    assert!(paths.len() >= 3);
    mastflow()
        .arg("validate")
        .args(&paths)
        .assert()
        .success()
        .stderr(predicate::str::contains("ok:"));
}

#[test]
fn example_runs_and_writes_outputs_and_run_record() {
    let out = tempfile::tempdir().unwrap();
    mastflow()
        .args(["run", "manifests/examples/targets-local.yaml", "--out"])
        .arg(out.path())
        .current_dir(repo())
        .assert()
        .success();
    let ecsv = std::fs::read_to_string(out.path().join("targets.ecsv")).unwrap();
    assert!(ecsv.starts_with("# %ECSV 1.0"));
    assert!(
        ecsv.contains("{name: ra, unit: deg, datatype: float64"),
        "{ecsv}"
    );
    assert!(
        ecsv.contains("Trappist-1,346.62236872857875,-5.041399250518333"),
        "{ecsv}"
    );
    let rec = run_json(out.path());
    assert_eq!(rec["status"], "succeeded");
    assert_eq!(rec["exit_code"], 0);
    assert_eq!(rec["manifest"]["name"], "targets-local");
    assert_eq!(rec["manifest"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(rec["params"]["max_radius_deg"], 0.5);
    assert_eq!(step(&rec, "targets")["rows_out"], 4);
    assert_eq!(step(&rec, "converted")["rows_in"], serde_json::json!([4]));
    assert_eq!(step(&rec, "agrees_with_notebook")["status"], "succeeded");
    let outputs = rec["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0]["rows"], 4);
    // no temporary files left behind
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn outputs_are_byte_identical_across_runs() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [&a, &b] {
        mastflow()
            .args([
                "run",
                "manifests/examples/io-observations-local.yaml",
                "-q",
                "--jobs",
                "3",
                "--out",
            ])
            .arg(d.path())
            .current_dir(repo())
            .assert()
            .success();
    }
    let rec = run_json(a.path());
    let outputs = rec["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 4);
    for o in outputs {
        let p = o["path"].as_str().unwrap();
        let (x, y) = (
            std::fs::read(a.path().join(p)).unwrap(),
            std::fs::read(b.path().join(p)).unwrap(),
        );
        assert_eq!(x, y, "{p} differs between runs");
        assert_eq!(
            o["sha256"].as_str().unwrap(),
            mastflow::util::sha256_hex(&x)
        );
    }
    let programs = std::fs::read_to_string(a.path().join("io_programs.ecsv")).unwrap();
    // 34 Io observations in three programs; 4565 is entirely planned (calib_level -1).
    assert!(programs.contains("\n4565,http://www.stsci.edu/cgi-bin/get-proposal-info?id=4565&observatory=JWST,9,9,MIRI/IFU,,"), "{programs}");
    let planned = std::fs::read_to_string(a.path().join("io_planned.csv")).unwrap();
    assert_eq!(
        planned.lines().count(),
        1 + 9
            + rec["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "planned")
                .unwrap()["rows_out"]
                .as_u64()
                .unwrap() as usize
            - 9
    );
}

const FAILING: &str = r#"
version: 1
name: failing
steps:
  t:
    kind: table
    rows: [{a: 1, b: 0}, {a: 2, b: 1}]
  broken:
    kind: derive
    from: t
    columns:
      c: "a + 'x'"
  after_broken:
    kind: sort
    from: broken
    by: [c]
  independent:
    kind: filter
    from: t
    where: {a: 2}
outputs:
  - {from: independent, path: independent.csv}
  - {from: after_broken, path: after.csv}
"#;

#[test]
fn a_failure_skips_dependants_and_keep_going_finishes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "failing.yaml", FAILING);
    let out = dir.path().join("out");
    mastflow()
        .arg("run")
        .arg(&m)
        .args(["--keep-going", "--jobs", "1", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("step `broken` failed"))
        .stderr(predicate::str::contains("failing.yaml:8:3"));
    let rec = run_json(&out);
    assert_eq!(step(&rec, "broken")["status"], "failed");
    assert!(
        step(&rec, "broken")["error"]
            .as_str()
            .unwrap()
            .contains("a + 'x'")
    );
    assert_eq!(step(&rec, "after_broken")["status"], "skipped");
    assert_eq!(step(&rec, "independent")["status"], "succeeded");
    assert_eq!(
        std::fs::read_to_string(out.join("independent.csv")).unwrap(),
        "a,b\n2,1\n"
    );
    assert!(!out.join("after.csv").exists());
    assert_eq!(rec["exit_code"], 1);
}

#[test]
fn without_keep_going_the_run_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "failing.yaml", FAILING);
    let out = dir.path().join("out");
    mastflow()
        .arg("run")
        .arg(&m)
        .args(["--jobs", "1", "--out"])
        .arg(&out)
        .assert()
        .code(1);
    let rec = run_json(&out);
    assert_eq!(step(&rec, "broken")["status"], "failed");
    assert_eq!(step(&rec, "after_broken")["status"], "skipped");
    // With one job, `independent` comes after `broken` in plan order and never starts.
    assert_eq!(step(&rec, "independent")["status"], "cancelled");
}

#[test]
fn assertion_failure_exits_1_but_writes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "gate.yaml",
        r#"
version: 1
name: gate
steps:
  found:
    kind: table
    rows: [{target_name: IO, proposal_id: 1373}, {target_name: IO, proposal_id: 4078}]
  no_duplicates:
    kind: assert
    from: found
    rows: 0
    message: potential duplicates found
outputs:
  - {from: no_duplicates, path: duplicates.csv}
"#,
    );
    let out = dir.path().join("out");
    mastflow()
        .arg("run")
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "potential duplicates found: expected 0 rows, found 2",
        ));
    assert_eq!(
        std::fs::read_to_string(out.join("duplicates.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert_eq!(
        step(&run_json(&out), "no_duplicates")["status"],
        "assertion_failed"
    );
}

#[test]
fn invalid_manifest_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "bad.yaml",
        "version: 1\nname: x\nsteps:\n  a:\n    kind: tabel\n",
    );
    mastflow()
        .args(["validate"])
        .arg(&m)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown step kind `tabel`"))
        .stderr(predicate::str::contains("bad.yaml:5:11"))
        .stderr(predicate::str::contains("did you mean `table`?"));
    mastflow().args(["run"]).arg(&m).assert().code(2);
    mastflow()
        .args(["run", "--jobs", "0", "x.yaml"])
        .assert()
        .code(2);
    mastflow().args(["frobnicate"]).assert().code(2);
    mastflow()
        .args([
            "run",
            "manifests/examples/targets-local.yaml",
            "--dry-run",
            "--set",
            "max_radius=1",
        ])
        .current_dir(repo())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `max_radius_deg`?"));
    mastflow()
        .args([
            "run",
            "manifests/examples/targets-local.yaml",
            "--dry-run",
            "--set",
            "max_radius_deg=big",
        ])
        .current_dir(repo())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`big` is not a number"));
}

#[test]
fn set_overrides_a_param() {
    let out = tempfile::tempdir().unwrap();
    mastflow()
        .args([
            "run",
            "manifests/examples/targets-local.yaml",
            "-q",
            "--set",
            "max_radius_deg=0.1",
            "--out",
        ])
        .arg(out.path())
        .current_dir(repo())
        .assert()
        .success();
    let rec = run_json(out.path());
    assert_eq!(rec["params"]["max_radius_deg"], 0.1);
    // M 31 (0.2 deg) is dropped.
    assert_eq!(step(&rec, "searchable")["rows_out"], 3);
}

#[test]
fn select_runs_a_step_and_what_it_needs() {
    let out = tempfile::tempdir().unwrap();
    mastflow()
        .args([
            "run",
            "manifests/examples/io-observations-local.yaml",
            "-q",
            "--select",
            "planned",
            "--out",
        ])
        .arg(out.path())
        .current_dir(repo())
        .assert()
        .success();
    let rec = run_json(out.path());
    assert_eq!(step(&rec, "io")["status"], "succeeded");
    assert_eq!(step(&rec, "planned")["status"], "succeeded");
    assert_eq!(step(&rec, "executed")["status"], "not_selected");
    let written: Vec<&str> = rec["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(written, ["io_planned.csv"]);
    mastflow()
        .args([
            "plan",
            "manifests/examples/io-observations-local.yaml",
            "--select",
            "nope",
        ])
        .current_dir(repo())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no step named `nope`"));
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    mastflow()
        .args([
            "run",
            "manifests/examples/targets-local.yaml",
            "--dry-run",
            "--out",
        ])
        .arg(&out)
        .current_dir(repo())
        .assert()
        .success()
        .stdout(predicate::str::contains("level 0:"));
    assert!(!out.exists());
}

#[test]
fn templates_reading_a_step_add_the_dag_edge() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "tpl.yaml",
        r#"
version: 1
name: tpl
params:
  level: 3
steps:
  obs:
    kind: table
    rows: [{obs_id: a, calib_level: 2}, {obs_id: b, calib_level: 3}, {obs_id: c, calib_level: 3}]
  config:
    kind: table
    rows: [{min_level: 3}]
  high:
    kind: filter
    from: obs
    where:
      calib_level: "{{ steps.config.first.min_level }}"
  also_high:
    kind: filter
    from: obs
    expr: calib_level >= steps.config.first.min_level and calib_level == params.level
  count:
    kind: derive
    from: high
    columns:
      of_total: "'of ' ~ steps.obs.count"
outputs:
  - {from: count, path: "high-{{ params.level }}.csv"}
"#,
    );
    let plan = mastflow()
        .arg("plan")
        .arg(&m)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(plan.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let high = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "high")
        .unwrap();
    assert_eq!(high["deps"], serde_json::json!(["obs", "config"]));
    assert_eq!(high["inputs"], serde_json::json!(["obs"]));
    let count = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "count")
        .unwrap();
    assert_eq!(count["deps"], serde_json::json!(["high", "obs"]));
    let out = dir.path().join("out");
    mastflow()
        .arg("run")
        .arg(&m)
        .arg("-q")
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(out.join("high-3.csv")).unwrap(),
        "obs_id,calib_level,of_total\nb,3,of 3\nc,3,of 3\n"
    );
    assert_eq!(step(&run_json(&out), "also_high")["rows_out"], 2);
    let dot = mastflow()
        .arg("plan")
        .arg(&m)
        .args(["--format", "dot"])
        .output()
        .unwrap();
    let dot = String::from_utf8(dot.stdout).unwrap();
    assert!(
        dot.contains("\"config\" -> \"high\" [style=dotted];"),
        "{dot}"
    );
    assert!(dot.contains("\"obs\" -> \"high\";"), "{dot}");
}

#[test]
fn init_writes_a_starter_that_runs_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mastflow.yaml");
    mastflow().arg("init").arg(&p).assert().success();
    mastflow()
        .arg("init")
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    let out = dir.path().join("out");
    mastflow()
        .arg("run")
        .arg(&p)
        .arg("-q")
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert!(out.join("targets.ecsv").exists());
}

#[test]
fn completions_and_json_logs() {
    mastflow()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("mastflow"));
    let out = tempfile::tempdir().unwrap();
    let o = mastflow()
        .args([
            "run",
            "manifests/starter.yaml",
            "--log-format",
            "json",
            "--out",
        ])
        .arg(out.path())
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(o.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8(o.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_finished" && e["name"] == "sorted" && e["rows_out"] == 2)
    );
}

/// Ctrl-C while a step is blocked on a server that never answers: exit 130,
/// nothing written, no temporary file left. (A FIFO used to block the step;
/// table files must now be regular files.)
#[cfg(unix)]
#[test]
fn interrupt_leaves_no_half_written_file() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let m = write(
        dir.path(),
        "slow.yaml",
        &format!(
            r#"
version: 1
name: slow
mast_url: {base}
steps:
  fast:
    kind: table
    rows: [{{a: 1}}]
  slow:
    kind: caom
    criteria: {{obs_collection: JWST}}
outputs:
  - {{from: fast, path: fast.csv}}
  - {{from: slow, path: slow.csv}}
"#
        ),
    );
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mastflow"))
        .arg("run")
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // Wait until the slow step has started.
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("[start] slow") {
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "mastflow exited early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("interrupted"), "{rest}");
    let files: Vec<_> = if out.exists() {
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    } else {
        Vec::new()
    };
    assert!(files.is_empty(), "files left after interrupt: {files:?}");
}

#[test]
fn diff_names_exactly_the_changed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = |rows: &str| {
        format!(
            "version: 1\nname: d\nsteps:\n  obs:\n    kind: table\n    rows: {rows}\noutputs:\n  - {{from: obs, path: obs.ecsv}}\n"
        )
    };
    let m1 = write(
        dir.path(),
        "m1.yaml",
        &manifest(
            "[{obs_id: a, calib_level: -1, t_exptime: 100.0}, {obs_id: b, calib_level: 3, t_exptime: 50.0}]",
        ),
    );
    // a is executed (calib_level -1 -> 3), b is withdrawn, c is new.
    let m2 = write(
        dir.path(),
        "m2.yaml",
        &manifest(
            "[{obs_id: a, calib_level: 3, t_exptime: 100.0}, {obs_id: c, calib_level: 2, t_exptime: 7.5}]",
        ),
    );
    let (o1, o2, o3) = (
        dir.path().join("o1"),
        dir.path().join("o2"),
        dir.path().join("o3"),
    );
    for (m, o) in [(&m1, &o1), (&m2, &o2), (&m1, &o3)] {
        mastflow()
            .arg("run")
            .arg(m)
            .arg("-q")
            .arg("--out")
            .arg(o)
            .assert()
            .success();
    }
    mastflow()
        .arg("diff")
        .arg(&o1)
        .arg(&o3)
        .assert()
        .code(0)
        .stdout("obs.ecsv: no change\n");
    mastflow()
        .arg("diff")
        .arg(&o1)
        .arg(&o2)
        .assert()
        .code(3)
        .stdout("obs.ecsv: 1 added, 1 removed, 1 changed (key: obs_id)\n  + c\n  - b\n  ~ a: calib_level: -1 -> 3\n");
    let md = mastflow()
        .arg("diff")
        .arg(&o1)
        .arg(&o2)
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    assert_eq!(md.status.code(), Some(3));
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| `obs.ecsv` | 1 | 1 | 1 |")
            && md.contains("| ~ | `a` | `calib_level`: -1 → 3 |"),
        "{md}"
    );
    let js = mastflow()
        .arg("diff")
        .arg(o1.join("obs.ecsv"))
        .arg(o2.join("obs.ecsv"))
        .args(["--format", "json", "--key", "obs_id"])
        .output()
        .unwrap();
    assert_eq!(js.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(v[0]["diff"]["added"], serde_json::json!(["c"]));
    assert_eq!(v[0]["diff"]["removed"], serde_json::json!(["b"]));
}

#[test]
fn locked_runs_exit_3_when_results_change() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "m.yaml",
        "version: 1\nname: lock\nsteps:\n  obs:\n    kind: table\n    file: obs.csv\n  executed:\n    kind: filter\n    from: obs\n    where: {calib_level: {min: 1}}\noutputs:\n  - {from: executed, path: executed.csv}\n",
    );
    std::fs::write(
        dir.path().join("obs.csv"),
        "obs_id,calib_level\na,-1\nb,3\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = |extra: &str| {
        mastflow()
            .arg("run")
            .arg(&m)
            .args(["-q", extra, "--out"])
            .arg(&out)
            .assert()
    };
    // No lock yet: --locked is a usage error.
    run("--locked")
        .code(2)
        .stderr(predicate::str::contains("run with --update-lock first"));
    run("--update-lock").success();
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("mastflow.lock")).unwrap()).unwrap();
    assert_eq!(lock["manifests"]["lock"]["steps"]["executed"]["rows"], 1);
    run("--locked").success();
    // MAST "changes": a planned observation is executed.
    std::fs::write(dir.path().join("obs.csv"), "obs_id,calib_level\na,2\nb,3\n").unwrap();
    run("--locked")
        .code(3)
        .stderr(predicate::str::contains(
            "step `executed`: 2 rows, the lock has 1",
        ))
        .stderr(predicate::str::contains(
            "step `obs`: same 2 rows, different content",
        ))
        .stderr(predicate::str::contains(
            "output `executed.csv` differs from the lock",
        ))
        .stderr(predicate::str::contains("manifest changed").not());
}
