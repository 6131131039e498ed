//! Diagnostics for invalid manifests, recorded as insta snapshots.
//!
//! Every `tests/fixtures/invalid/*.yaml` is a small manifest with one or more
//! deliberate mistakes. Each is parsed and validated (relative files resolve
//! against the fixture directory) and the full report is snapshotted as
//! `tests/snapshots/diagnostics__<fixture stem>.snap`: the graphical rendering
//! (`render(false, 100)`) followed by the one-line-per-problem form
//! (`render_short()`).
//!
//! A fixture may pass `--set` values to validation with header comments:
//!
//! ```yaml
//! # --set max_rows=ten
//! ```
//!
//! Two more header comments record known shortcomings of the current
//! diagnostics, so the corpus can keep those fixtures while the test passes:
//!
//! - `# known-gap: WHY` — the mistake is not caught at all: the fixture is
//!   currently *accepted* and its snapshot says so. When validation starts to
//!   reject it the test fails: remove the header and review the new snapshot.
//! - `# known-bug: span-outside-source` — some problem's span runs past the
//!   end of the text (or splits a character); the violation is written into
//!   the snapshot instead of failing. When it is fixed the test fails: remove
//!   the header.
//!
//! Regenerate after a deliberate change with
//! `INSTA_UPDATE=always cargo test --test diagnostics`, then review the diff.
//!
//! The second half checks the other direction: every manifest shipped in
//! `manifests/` and a few tricky but valid inline manifests validate cleanly.

use mastflow::diag::Problems;
use mastflow::manifest;
use mastflow::plan::Plan;
use mastflow::validate::{self, Manifest, Options};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// At least this many invalid fixtures must exist (guards against a moved directory).
const MIN_FIXTURES: usize = 45;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn invalid_dir() -> PathBuf {
    root().join("tests/fixtures/invalid")
}

/// The invalid fixtures, sorted by file name.
fn invalid_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(invalid_dir())
        .expect("tests/fixtures/invalid exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    v.sort();
    v
}

/// `--set` pairs declared in a fixture's header comments (`# --set name=value`).
fn sets_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("# --set "))
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("`# --set name=value`");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// Parse and validate; `Ok` means the manifest is valid.
fn check(display_name: &str, text: &str, opts: &Options) -> Result<Manifest, Problems> {
    let loaded = manifest::parse(display_name, text)?;
    validate::validate(&loaded, opts)
}

/// A header comment `# KEY: value` of a fixture.
fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix("# ")?
                .strip_prefix(key)?
                .strip_prefix(':')
                .map(str::trim)
        })
}

/// Spans of problems that do not lie within the source or split a character.
fn bad_spans(text: &str, problems: &Problems) -> Vec<String> {
    let mut bad = Vec::new();
    for p in &problems.items {
        let spans = std::iter::once((p.span, p.label.as_str()))
            .chain(p.related.iter().map(|(s, l)| (*s, l.as_str())));
        for (s, label) in spans {
            let end = s.offset + s.len;
            if end > text.len() {
                bad.push(format!(
                    "[{}] {:?}: span {}..{end} (label {label:?}) is outside the source ({} bytes)",
                    p.code,
                    p.message,
                    s.offset,
                    text.len()
                ));
            } else if !text.is_char_boundary(s.offset) || !text.is_char_boundary(end) {
                bad.push(format!(
                    "[{}] {:?}: span {}..{end} (label {label:?}) splits a character",
                    p.code, p.message, s.offset
                ));
            }
        }
    }
    bad
}

fn report(problems: &Problems) -> String {
    format!(
        "{}\n---- short ----\n{}",
        problems.render(false, 100),
        problems.render_short()
    )
}

#[test]
fn invalid_manifests_are_reported() {
    let fixtures = invalid_fixtures();
    assert!(
        fixtures.len() >= MIN_FIXTURES,
        "only {} invalid fixtures (want at least {MIN_FIXTURES})",
        fixtures.len()
    );
    let mut failures: Vec<String> = Vec::new();
    for path in &fixtures {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let file_name = path.file_name().unwrap().to_str().unwrap();
        // A stable, relative name, so snapshots do not depend on the checkout location.
        let display = format!("invalid/{file_name}");
        let text = std::fs::read_to_string(path).unwrap();
        // Relative (cargo runs tests in the package root), so messages that
        // show a resolved path are the same on every machine.
        let opts = Options {
            sets: sets_of(&text),
            base_dir: PathBuf::from("tests/fixtures/invalid"),
            allow_read: Vec::new(),
            strict: false,
        };
        let known_gap = header(&text, "known-gap");
        let known_span_bug = header(&text, "known-bug") == Some("span-outside-source");
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let rendered = match (check(&display, &text, &opts), known_gap) {
                (Ok(_), None) => panic!(
                    "{display} is valid, but every fixture in tests/fixtures/invalid must be rejected"
                ),
                (Ok(_), Some(why)) => format!("ACCEPTED: no problem reported (known gap: {why})\n"),
                (Err(p), Some(_)) => panic!(
                    "{display} is now rejected: remove its `# known-gap` header and review the snapshot:\n{}",
                    report(&p)
                ),
                (Err(problems), None) => {
                    assert_eq!(
                        &*problems.source.text, text,
                        "{display}: problems carry a different source text"
                    );
                    assert!(
                        problems.errors() >= 1,
                        "{display}: rejected without a single error:\n{}",
                        report(&problems)
                    );
                    let bad = bad_spans(&text, &problems);
                    match (bad.is_empty(), known_span_bug) {
                        (true, false) => report(&problems),
                        (false, false) => panic!("{display}: {}", bad.join("\n")),
                        (true, true) => {
                            panic!("{display}: spans are fine now: remove the `# known-bug` header")
                        }
                        (false, true) => format!(
                            "{}\n---- KNOWN BUG: bad spans ----\n{}\n",
                            report(&problems),
                            bad.join("\n")
                        ),
                    }
                }
            };
            let mut settings = insta::Settings::clone_current();
            settings.set_prepend_module_to_snapshot(true);
            settings.set_omit_expression(true);
            settings.set_input_file(path);
            settings.set_description(format!("{display} (sets: {:?})", opts.sets));
            settings.bind(|| insta::assert_snapshot!(stem.as_str(), rendered));
        }));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            failures.push(format!("{file_name}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}

/// Snapshots whose fixture was renamed or removed would otherwise linger unnoticed.
#[test]
fn no_orphan_snapshots() {
    let stems: Vec<String> = invalid_fixtures()
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    let dir = root().join("tests/snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut orphans = Vec::new();
    for e in entries {
        let name = e.unwrap().file_name().to_str().unwrap().to_string();
        let Some(stem) = name
            .strip_prefix("diagnostics__")
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        // Only the fixture snapshots are numbered.
        if stem.starts_with(|c: char| c.is_ascii_digit()) && !stems.iter().any(|s| s == stem) {
            orphans.push(name);
        }
    }
    assert!(
        orphans.is_empty(),
        "snapshots without a fixture: {orphans:?}"
    );
}

#[test]
fn fixture_headers_are_read() {
    let text = "# --set a=1\n# --set b = x,y\n# known-gap: not caught\nversion: 1\n";
    let sets = sets_of(text);
    assert_eq!(
        sets,
        vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "x,y".to_string())
        ]
    );
    assert_eq!(header(text, "known-gap"), Some("not caught"));
    assert_eq!(header(text, "known-bug"), None);
    assert_eq!(header("version: 1\n# known-gap: x\n", "known-gap"), None);
}

// ------------------------------------------------------------------ valid

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            manifest_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

fn assert_valid(name: &str, text: &str, base_dir: &Path) -> Manifest {
    let opts = Options {
        sets: Vec::new(),
        base_dir: base_dir.to_path_buf(),
        allow_read: Vec::new(),
        strict: false,
    };
    match check(name, text, &opts) {
        Ok(m) => {
            Plan::build(&m, &[])
                .unwrap_or_else(|e| panic!("{name}: validates but the plan fails: {e}"));
            m
        }
        Err(p) => panic!("{name} should be valid:\n{}", report(&p)),
    }
}

#[test]
fn shipped_manifests_are_valid() {
    let mut files = Vec::new();
    manifest_files(&root().join("manifests"), &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("manifests/starter.yaml")),
        "manifests/starter.yaml is missing"
    );
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(root()).unwrap().display().to_string();
        assert_valid(&name, &text, f.parent().unwrap());
    }
}

fn columns_of(m: &Manifest, step: &str) -> Option<Vec<String>> {
    m.steps[m.step_id(step).unwrap_or_else(|| panic!("no step {step}"))]
        .columns
        .clone()
}

#[test]
fn derived_column_is_usable_downstream() {
    let text = r#"
version: 1
name: derived-chain
steps:
  obs:
    kind: table
    rows:
      - {obs_id: jw02736-o001_t001_nircam_clear-f090w, obsid: 87613001, t_exptime: 7537.6, s_ra: 110.8375, s_dec: -73.4391}
      - {obs_id: jw02736-o002_t001_miri_f770w, obsid: 87613003, t_exptime: 1121.1, s_ra: 110.8375, s_dec: -73.4391}
  hours:
    kind: derive
    from: obs
    columns:
      t_exptime_h: "t_exptime / 3600"
      long_exposure: {expr: "t_exptime_h > 1", type: bool}
      program: "obs_id[2:7]"
  ids:
    kind: select
    from: hours
    columns: [obs_id, t_exptime_h, long_exposure, program]
  long:
    kind: filter
    from: ids
    where:
      long_exposure: true
      program: "02736"
    expr: t_exptime_h > 0.5
  renamed:
    kind: rename
    from: long
    columns: {t_exptime_h: exptime_hours}
  sorted:
    kind: sort
    from: renamed
    by: [-exptime_hours, {column: program, nulls: first}]
  check:
    kind: assert
    from: sorted
    not_null: [exptime_hours]
    unique: [[obs_id, program]]
outputs:
  - from: sorted
    path: long.ecsv
    columns: [obs_id, exptime_hours]
"#;
    let m = assert_valid("derived-chain", text, &invalid_dir());
    assert_eq!(
        columns_of(&m, "sorted").unwrap(),
        ["obs_id", "exptime_hours", "long_exposure", "program"]
            .map(String::from)
            .to_vec()
    );
}

#[test]
fn join_on_pairs_is_valid() {
    let text = r#"
version: 1
name: join-pairs
steps:
  obs:
    kind: table
    rows:
      - {obsid: 87614001, obs_id: jw01345-o001_t021_nircam_clear-f115w, size: 1}
  products:
    kind: table
    rows:
      - {parent_obsid: 87614001, productFilename: jw01345-o001_t021_nircam_clear-f115w_i2d.fits, size: 2831155200}
  joined:
    kind: join
    left: obs
    right: products
    on: {obsid: parent_obsid}
    how: left
    suffixes: [_obs, _product]
  big:
    kind: filter
    from: joined
    expr: size_product > 1000000
outputs:
  - from: big
    path: joined.csv
    columns: [obs_id, productFilename, size_obs, size_product]
"#;
    let m = assert_valid("join-pairs", text, &invalid_dir());
    let cols = columns_of(&m, "joined").unwrap();
    assert!(cols.contains(&"productFilename".to_string()), "{cols:?}");
}

#[test]
fn union_with_tag_is_valid() {
    let text = r#"
version: 1
name: union-tag
steps:
  nircam:
    kind: table
    rows:
      - {obs_id: jw01345-o001_t021_nircam_clear-f115w, instrument_name: NIRCAM, t_exptime: 2834.5}
  miri:
    kind: table
    rows:
      - {obs_id: jw01345-o002_t021_miri_f770w, instrument_name: MIRI, t_exptime: 1532.0}
  both:
    kind: union
    from: [nircam, miri]
    tag: from_step
  per_step:
    kind: group
    from: both
    by: [from_step]
    aggregates:
      n: count
      total: sum(t_exptime)
      instruments: concat(instrument_name)
  check:
    kind: assert
    from: per_step
    rows: 2
    accepted_values:
      from_step: [nircam, miri]
"#;
    let m = assert_valid("union-tag", text, &invalid_dir());
    assert_eq!(
        columns_of(&m, "per_step").unwrap(),
        ["from_step", "n", "total", "instruments"]
            .map(String::from)
            .to_vec()
    );
}
