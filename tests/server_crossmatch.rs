//! Server-side cross-match (`crossmatch` with `against: caom`) run by the
//! binary against the sandbox: sexagesimal targets are sent in degrees,
//! every matched row names the target it matched, and the step's note
//! counts requests and rows (no `usize::MAX` "batch").

use assert_cmd::Command;
use mastflow::table::Table;
use serde_json::Value;
use std::path::Path;

fn run(dir: &Path, manifest: &str) -> std::process::Output {
    let m = dir.join("m.yaml");
    std::fs::write(&m, manifest).unwrap();
    Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .env("MASTFLOW_CACHE_DIR", dir.join("cache"))
        .args(["run", "--sandbox", "-q", "--color", "never"])
        .arg(&m)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap()
}

fn count(out: &Path, name: &str) -> usize {
    let t = std::fs::read_to_string(out.join(format!("{name}.csv"))).unwrap();
    t.lines().nth(1).unwrap().trim().parse().unwrap()
}

const TARGETS: &str = r#"
version: 1
name: xmatch
steps:
  targets:
    kind: table
    rows:
      - {name: Trappist-1, ra: "23:06:29.3684948589", dec: "-05:02:29.037301866"}
      - {name: WASP-39, ra: "14h29m18.3864s", dec: "-03d26m40.2s"}
      - {name: nowhere, ra: null, dec: null}
  matched:
    kind: crossmatch
    left: targets
    against: caom
    radius: 30s
  trappist:
    kind: count
    criteria: {}
    position: {ra: 346.62236872857875, dec: -5.041399250518333, radius: 30s}
  wasp:
    kind: count
    criteria: {}
    position: {ra: 217.32661, dec: -3.4445, radius: 30s}
outputs:
  - {from: matched, path: matched.csv}
  - {from: trappist, path: trappist.csv}
  - {from: wasp, path: wasp.csv}
"#;

#[test]
fn sexagesimal_targets_match_and_each_row_names_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), TARGETS);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("out");
    let t: Table = mastflow::table::io::read_path(&out.join("matched.csv"), None).unwrap();
    let names: Vec<&str> = t.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names[..3], ["name", "ra", "dec"], "{names:?}");
    assert!(names.contains(&"obs_id") && names.contains(&"distance"));
    let (name, ra, dec) = (
        t.column("name").unwrap(),
        t.column("ra").unwrap(),
        t.column("dec").unwrap(),
    );
    let rows = |who: &str| {
        (0..t.num_rows())
            .filter(|&r| name.get(r).display() == who)
            .count()
    };
    // Each target's rows are exactly its own cone's observations.
    let (n_trappist, n_wasp) = (rows("Trappist-1"), rows("WASP-39"));
    assert_eq!(n_trappist, count(&out, "trappist"));
    assert_eq!(n_wasp, count(&out, "wasp"));
    assert!(n_trappist > 0 && n_wasp > 0);
    assert_eq!(n_trappist + n_wasp, t.num_rows());
    // The positions went (and came back) in degrees: astropy's hourangle
    // conversion, bit for bit, and 14h29m18.3864s = 217.32661°.
    for r in 0..t.num_rows() {
        let (a, d) = (ra.get(r).as_f64().unwrap(), dec.get(r).as_f64().unwrap());
        if name.get(r).display() == "Trappist-1" {
            assert_eq!((a, d), (346.62236872857875, -5.041399250518333));
        } else {
            assert!(
                (a - 217.32661).abs() < 1e-9 && (d + 3.4445).abs() < 1e-9,
                "{a} {d}"
            );
        }
    }
    let rec: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let step = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "matched")
        .unwrap();
    let notes: Vec<&str> = step["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        [
            "1 request(s) for all 3 rows",
            "1 row(s) without a position were not sent"
        ]
    );
    assert_eq!(step["requests"], 1);
}

#[test]
fn a_target_without_a_readable_position_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        "version: 1\nname: x\nsteps:\n  targets:\n    kind: table\n    rows: [{name: a, ra: \"05:35:17.3\", dec: \"-05:23:28\"}, {name: b, ra: \"5h35\", dec: north}]\n  m:\n    kind: crossmatch\n    left: targets\n    against: caom\n    radius: 2s\noutputs:\n  - {from: m, path: m.csv}\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("left row 1"), "{err}");
    assert!(err.contains("north"), "{err}");
    assert!(
        err.contains("sexagesimal (RA in hours `05:35:17.3`"),
        "{err}"
    );
    assert!(!dir.path().join("out/m.csv").exists());
}
