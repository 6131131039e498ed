//! Units are never guessed and ranges are checked (issue 13 item 4): a
//! radius or duration without its unit is refused with the fix, radii outside
//! (0, 180°] and NaN range ends are refused at file:line:col, a params-only
//! template is checked with the params it will get, a row template when it is
//! rendered, and `plan` shows each search's criteria and cone.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("m.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn mastflow(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .current_dir(dir)
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn cone(radius: &str) -> String {
    format!(
        "version: 1\nname: cone\nsteps:\n  obs:\n    kind: caom\n    criteria: {{obs_collection: JWST}}\n    position: {{ra: 10, dec: 20, radius: {radius}}}\n"
    )
}

#[test]
fn a_radius_without_a_unit_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &cone("5"));
    let (code, _, err) = mastflow(
        dir.path(),
        &["validate", "--message-format", "short", "m.yaml"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("m.yaml:7:41: error[bad_position]: the radius `5` has no unit (help: write `5deg` or `5arcmin`"),
        "{err}"
    );
    write(dir.path(), &cone("5arcmin"));
    let (code, out, err) = mastflow(dir.path(), &["validate", "m.yaml"]);
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn radii_outside_the_sky_and_nan_ranges_are_refused_where_written() {
    let dir = tempfile::tempdir().unwrap();
    for (radius, says) in [
        ("300deg", "is 300°, more than the largest allowed, 180°"),
        ("1e9deg", "is 1000000000°, more than the largest allowed"),
        ("-5m", "must be greater than 0"),
        ("0s", "must be greater than 0"),
        (".nan", "is not an angle"),
    ] {
        write(dir.path(), &cone(radius));
        let (code, _, err) = mastflow(
            dir.path(),
            &["validate", "--message-format", "short", "m.yaml"],
        );
        assert_eq!(code, Some(2), "{radius}: {err}");
        assert!(
            err.contains("m.yaml:7:41:") && err.contains(says),
            "{radius}: {err}"
        );
    }
    write(
        dir.path(),
        "version: 1\nname: nan\nsteps:\n  obs:\n    kind: caom\n    criteria: {obs_collection: JWST, t_exptime: {min: .nan}}\n  long:\n    kind: filter\n    from: obs\n    where: {t_exptime: {max: .inf}}\n",
    );
    let (code, _, err) = mastflow(
        dir.path(),
        &["validate", "--message-format", "short", "m.yaml"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("m.yaml:6:55: error[bad_range]: range min `NaN` is not a finite number"),
        "{err}"
    );
    assert!(
        err.contains("m.yaml:10:30: error[bad_range]: range max `inf` is not a finite number"),
        "{err}"
    );
}

#[test]
fn a_duration_without_a_unit_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "version: 1\nname: d\nsteps:\n  obs:\n    kind: caom\n    criteria: {obs_collection: JWST}\n    deadline: 600\n  quoted:\n    kind: caom\n    criteria: {obs_collection: JWST}\n    deadline: \"600\"\n",
    );
    let (code, _, err) = mastflow(
        dir.path(),
        &["validate", "--message-format", "short", "m.yaml"],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("m.yaml:7:15: error[wrong_type]: `steps.obs.deadline` must be a string, found an integer (help: the duration `600` has no unit: write `600s` or `600min`)"),
        "{err}"
    );
    assert!(
        err.contains("m.yaml:11:15: error[bad_value]: the duration `600` has no unit (help: write `600s` or `600min`)"),
        "{err}"
    );
    let (code, _, err) = mastflow(dir.path(), &["cache", "prune", "--older-than", "30"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the duration `30` has no unit"), "{err}");
}

const TEMPLATED: &str = r#"
version: 1
name: templated
params:
  r: {type: string, default: 2m}
  program: {type: string, default: "1073"}
steps:
  obs:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "{{ params.program }}", t_exptime: {min: 100}}
    position: {ra: "23:06:29.37", dec: "-05:02:29.0", radius: 30s}
  ring:
    kind: caom
    position: {object: M 57, radius: "{{ params.r }}"}
"#;

#[test]
fn a_params_template_is_checked_with_the_value_it_gets() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), TEMPLATED);
    let (code, _, err) = mastflow(
        dir.path(),
        &[
            "validate",
            "--message-format",
            "short",
            "m.yaml",
            "--set",
            "r=5",
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "m.yaml:14:38: error[bad_position]: `{{ params.r }}` gives `5`: the radius `5` has no unit"
        ),
        "{err}"
    );
    let (code, _, err) = mastflow(dir.path(), &["validate", "m.yaml", "--set", "r=5m"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn plan_shows_each_searchs_criteria_and_cone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), TEMPLATED);
    let (code, out, err) = mastflow(dir.path(), &["plan", "m.yaml", "--set", "program=2733"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("Mast.Caom.Filtered.Position where obs_collection = JWST, proposal_id = 2733, t_exptime 100..; cone (23:06:29.37, -05:02:29.0) radius 30s = 0.00833°"),
        "{out}"
    );
    assert!(
        out.contains("Mast.Caom.Filtered.Position in a cone around `M 57` radius 2m = 0.0333°"),
        "{out}"
    );
}

#[test]
fn a_row_template_radius_is_checked_when_rendered() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        r#"
version: 1
name: rows
steps:
  targets:
    kind: table
    rows:
      - {ra: 10.0, dec: 20.0, radius: "5"}
  obs:
    kind: caom
    for_each: targets
    criteria: {obs_collection: JWST}
    position: {ra: "{{ row.ra }}", dec: "{{ row.dec }}", radius: "{{ row.radius }}"}
"#,
    );
    let (code, out, err) = mastflow(dir.path(), &["run", "--sandbox", "m.yaml", "--out", "out"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("position radius: the radius `5` has no unit; write `5deg` or `5arcmin`"),
        "{err}"
    );
}
