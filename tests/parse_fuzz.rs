//! No input panics the manifest parser, the validator, the planner or the
//! diagnostics renderer.
//!
//! Four property tests, ~2300 cases in all (under a second in debug):
//! - `arbitrary_text`: arbitrary strings (any Unicode, control characters,
//!   tabs, YAML punctuation, manifest words), alone or after a manifest-shaped
//!   prefix, are parsed, validated and their problems rendered;
//! - `arbitrary_values`: a valid manifest with one to three values, keys or
//!   names replaced by arbitrary strings, so arbitrary text reaches
//!   validation, templates, expressions and the planner;
//! - `mutated_manifests`: real manifests (the shipped ones, inline valid
//!   seeds, the invalid fixtures) with random line edits, token swaps and
//!   plausible typos; when a mutant is still valid its plan is built and
//!   rendered too;
//! - `mutated_non_ascii_manifests`: the same with accented and emoji target
//!   names and non-ASCII insertions (combining marks, BOM, NEL, U+2028, RTL),
//!   which stress byte/char offset conversions.
//!
//! Plus `hostile_inputs` (deep nesting, alias bombs, huge numbers, CRLF, BOM)
//! and random `--set` values in every case.
//!
//! Runs are deterministic (fixed RNG seed) so a failure reproduces; set
//! `PROPTEST_RNG_SEED=<u64>` to explore other inputs and `PROPTEST_CASES=<n>`
//! to change the number of cases of each test. Failures are not persisted to
//! files: a panic found here is recorded as an `#[ignore]`d regression test at
//! the bottom of this file.

use mastflow::diag::Problems;
use mastflow::manifest;
use mastflow::plan::Plan;
use mastflow::validate::{self, Options};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

// ------------------------------------------------------------------ driver

/// How far each input got, for the summary printed by each test.
#[derive(Default)]
struct Stats {
    yaml_or_schema_error: AtomicUsize,
    validate_error: AtomicUsize,
    valid: AtomicUsize,
}

impl Stats {
    fn summary(&self) -> String {
        format!(
            "rejected by parse: {}, rejected by validate: {}, valid (planned): {}",
            self.yaml_or_schema_error.load(Ordering::Relaxed),
            self.validate_error.load(Ordering::Relaxed),
            self.valid.load(Ordering::Relaxed)
        )
    }
}

fn opts(sets: Vec<(String, String)>) -> Options {
    // Relative: cargo runs tests in the package root. Table `file:` paths in
    // the seeds resolve (or fail to) against the fixture directory.
    Options {
        sets,
        base_dir: PathBuf::from("tests/fixtures/invalid"),
        allow_read: Vec::new(),
        strict: false,
    }
}

/// Render problems the two ways the CLI does; both must not panic.
fn render(p: &Problems) {
    let long = p.render(false, 100);
    let short = p.render_short();
    assert!(
        long.contains(&p.source.name),
        "the summary line names the file"
    );
    // Not `lines().count() == items.len()`: a message may quote a name that
    // contains a newline.
    assert!(
        short.lines().count() >= p.items.len(),
        "a short line per problem:\n{short}"
    );
    for item in &p.items {
        let _ = p.source.line_col(item.span.offset);
    }
}

/// Everything `mastflow validate` and `mastflow plan` do with a manifest text.
fn exercise(text: &str, sets: Vec<(String, String)>, stats: &Stats) {
    let loaded = match manifest::parse("fuzz.yaml", text) {
        Ok(l) => l,
        Err(p) => {
            assert!(p.has_errors(), "parse failed without an error");
            render(&p);
            stats.yaml_or_schema_error.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    match validate::validate(&loaded, &opts(sets)) {
        Ok(m) => {
            stats.valid.fetch_add(1, Ordering::Relaxed);
            // Validation promises an acyclic graph with resolved ids.
            let plan = Plan::build(&m, &[])
                .unwrap_or_else(|e| panic!("a validated manifest must plan: {e}"));
            assert_eq!(plan.order.len(), m.steps.len());
            let _ = plan.text(&m);
            let _ = plan.dot(&m);
            let _ = plan.json(&m);
            for s in &m.steps {
                let _ = mastflow::plan::describe(&m, m.step_id(&s.name).unwrap());
                // Selecting any step (and its downstream) plans too.
                let _ = Plan::build(&m, &[s.name.clone(), format!("{}+", s.name)]).unwrap();
            }
        }
        Err(p) => {
            assert!(p.has_errors(), "validate failed without an error");
            render(&p);
            stats.validate_error.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A runner with a fixed seed (unless `PROPTEST_RNG_SEED` is set), no
/// failure files, and `cases` cases (unless `PROPTEST_CASES` is set).
fn runner(cases: u32) -> TestRunner {
    let mut config = Config {
        failure_persistence: None,
        max_shrink_time: 20_000,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(0x6d61_7374_666c_6f77); // "mastflow"
    }
    TestRunner::new(config)
}

fn run_property<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    f: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let started = std::time::Instant::now();
    let mut r = runner(cases);
    if let Err(e) = r.run(&strategy, f) {
        panic!("{name}: {e}");
    }
    eprintln!(
        "{name}: {} cases in {:.1?}",
        r.config().cases,
        started.elapsed()
    );
}

// ------------------------------------------------------------- vocabulary

const KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "params",
    "env",
    "steps",
    "outputs",
    "kind",
    "from",
    "where",
    "expr",
    "columns",
    "rows",
    "csv",
    "file",
    "format",
    "by",
    "keys",
    "keep",
    "n",
    "tag",
    "left",
    "right",
    "on",
    "how",
    "suffixes",
    "aggregates",
    "not_null",
    "unique",
    "accepted_values",
    "message",
    "severity",
    "needs",
    "path",
    "type",
    "default",
    "enum",
    "min",
    "max",
    "column",
    "descending",
    "nulls",
    "unit",
    "ucd",
];

const KINDS: &[&str] = &[
    "table", "filter", "select", "drop", "rename", "derive", "sort", "unique", "head", "union",
    "join", "group", "assert",
];

const COLUMNS: &[&str] = &[
    "obs_id",
    "obsid",
    "calib_level",
    "t_exptime",
    "productType",
    "dataURI",
    "productFilename",
    "size",
    "target_name",
    "s_ra",
    "s_dec",
    "ra",
    "dec",
    "radius",
    "ra_deg",
    "dec_deg",
    "radius_arcsec",
    "filters",
    "instrument_name",
];

const STEP_NAMES: &[&str] = &[
    "targets", "degrees", "small", "sorted", "check", "obs", "products", "joined", "both", "long",
];

const SYMBOLS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "|",
    ">",
    "&a",
    "*a",
    "!!str",
    "!!map",
    "<<: *a",
    "---",
    "...",
    "~",
    "?",
    "null",
    "true",
    "no",
    "1e999",
    "-1",
    "0",
    "18446744073709551616",
    "0x1F",
    ".inf",
    ".nan",
    "1.5",
    "params.max_radius_arcsec",
    "params.nope",
    "steps.targets.count",
    "steps.nope.first.x",
    "env.HOME",
    "count",
    "sum(size)",
    "median(size)",
    "hms_to_deg(ra)",
    "-t_exptime",
    "../x.csv",
    "/abs.csv",
    "x.parquet",
    "a.vot",
    "{{ params.max_radius_arcsec }}",
    "{{ steps.sorted.count }}",
    "{{ env.HOME }}",
    "{{ x |",
    "\"{{\"",
    "\t",
    "\\",
    "%",
    "@",
    "`",
    "MAST_API_TOKEN",
    "{min: 3, max: 1}",
    "[]",
    "{}",
    "''",
    "\"\"",
    "a: b: c",
];

const NON_ASCII: &[&str] = &[
    "Étoile de Barnard",
    "🪐",
    "🌌 Saturne",
    "M 31 — Andromède",
    "ß",
    "e\u{301}",
    "日本語",
    "שלום",
    "\u{200D}",
    "\u{FEFF}",
    "\u{85}",
    "\u{2028}",
    "\u{A0}",
    "ﬁ",
    "İ",
    "Ω",
    "ǅ",
    "\u{10FFFF}",
    "déclinaison",
    "ascension_droité",
    "\u{0}",
    "\u{1B}[31m",
];

// ------------------------------------------------------------------ seeds

/// A few valid manifests that use every step kind and the trickier features.
const INLINE_SEEDS: &[&str] = &[
    r#"version: 1
name: derived-chain
params:
  min_hours: {type: number, default: 0.5, description: Shortest exposure kept.}
  program: {default: "02736", enum: ["02736", "02739"]}
env: [HOME]
steps:
  obs:
    kind: table
    rows:
      - {obs_id: jw02736-o001_t001_nircam_clear-f090w, obsid: 87613001, t_exptime: 7537.6, s_ra: 110.8375, s_dec: -73.4391, calib_level: 3}
      - {obs_id: jw02736-o002_t001_miri_f770w, obsid: 87613003, t_exptime: 1121.1, s_ra: 110.8375, s_dec: -73.4391, calib_level: 2}
    columns:
      s_ra: {type: float, unit: deg, ucd: pos.eq.ra}
  hours:
    kind: derive
    from: obs
    columns:
      t_exptime_h: "t_exptime / 3600"
      long_exposure: {expr: "t_exptime_h > params.min_hours", type: bool}
      program: "obs_id[2:7]"
  long:
    kind: filter
    from: hours
    where:
      long_exposure: true
      program: "{{ params.program }}"
      calib_level: [{min: 2, max: 3}, 4]
      obs_id: "jw*"
    expr: t_exptime_h > 0.5 and calib_level in [2, 3]
  ids:
    kind: select
    from: long
    columns: [obs_id, obsid, t_exptime_h, program]
  renamed:
    kind: rename
    from: ids
    columns: {t_exptime_h: exptime_hours}
  slim:
    kind: drop
    from: renamed
    columns: [program]
  sorted:
    kind: sort
    from: slim
    by: [-exptime_hours, {column: obs_id, nulls: first, descending: false}]
  first:
    kind: head
    from: sorted
    n: 10
  one:
    kind: unique
    from: first
    keys: [obsid]
    keep: last
  check:
    kind: assert
    from: one
    rows: {min: 0, max: 100}
    not_null: [exptime_hours]
    unique: [[obs_id, obsid], obsid]
    accepted_values: {obsid: [87613001, 87613003]}
    expr: exptime_hours >= 0
    message: odd exposure times
    severity: warn
outputs:
  - from: sorted
    path: "long_{{ params.program }}.ecsv"
    columns: [obs_id, exptime_hours]
  - from: one
    path: one.vot
    format: votable-binary2
"#,
    r#"version: 1
name: join-union-group
steps:
  obs:
    kind: table
    csv: |
      obsid,obs_id,target_name,size
      87614001,jw01345-o001_t021_nircam_clear-f115w,CEERS,1
      87614002,jw01345-o002_t021_miri_f770w,CEERS,2
  products:
    kind: table
    rows:
      - {parent_obsid: 87614001, productFilename: jw01345-o001_t021_nircam_clear-f115w_i2d.fits, size: 2831155200, productType: SCIENCE, dataURI: "mast:JWST/product/jw01345-o001_t021_nircam_clear-f115w_i2d.fits"}
  joined:
    kind: join
    left: obs
    right: products
    on: {obsid: parent_obsid}
    how: left
    suffixes: [_obs, _product]
  nircam:
    kind: filter
    from: obs
    expr: "'nircam' in obs_id"
  miri:
    kind: filter
    from: obs
    where: {obs_id: "*miri*"}
  both:
    kind: union
    from: [nircam, miri]
    tag: from_step
    needs: [joined]
  per_step:
    kind: group
    from: both
    by: [from_step]
    aggregates:
      n: count
      total: sum(size)
      targets: concat(target_name)
      first_obs: first(obs_id)
      distinct: count_distinct(obsid)
      biggest: max(size)
  check:
    kind: assert
    from: per_step
    rows: 2
    expr: "n >= 1 and steps.joined.count > 0"
outputs:
  - {from: joined, path: joined.csv}
  - {from: per_step, path: per_step.json}
"#,
];

/// Seeds with non-ASCII text in names, values, comments and descriptions.
const NON_ASCII_SEEDS: &[&str] = &[
    r#"version: 1
name: cibles-étoiles
description: "Cibles JWST — amas, nébuleuses 🌌 et planètes 🪐"
params:
  rayon_max: {type: number, default: 60, description: "Rayon maximal (″)"}
steps:
  cibles:
    kind: table
    rows:
      - {target_name: "Étoile de Barnard", ra: "17:57:48.5", dec: "+04:41:36.2", radius: 30s, "déclinaison": 4.69}
      - {target_name: "NGC 602 — région H II", ra: "01:29:31.0", dec: "-73:33:15", radius: 2m, "déclinaison": -73.55}
      - {target_name: "🪐 Saturne", ra: "20:45:00", dec: "-18:30:00", radius: 12m, "déclinaison": -18.5}
  degres:
    kind: derive
    from: cibles
    columns:
      ra_deg: {expr: "hms_to_deg(ra)", unit: deg, description: "ascension droite (°)"}
      rayon: "angle_deg(radius) * 3600"
  petites:
    kind: filter
    from: degres
    where: {target_name: ["Étoile*", "*Saturne"], "déclinaison": {min: -90, max: 90}}
    expr: rayon <= params.rayon_max
  triees:
    kind: sort
    from: petites
    by: [-ra_deg]
outputs:
  - from: triees
    path: "cibles_é.ecsv"
"#,
    r#"# Commentaire : manifeste « minimal » — ß, Ω, 日本語
version: 1
name: 日本語の観測
steps:
  kansoku:
    kind: table
    csv: |
      obs_id,target_name,t_exptime
      jw02736-o001,"Ωmega Cen — ω",1000
      jw02736-o002,"Andromède",2000
  nagai:
    kind: filter
    from: kansoku
    expr: t_exptime > 1500 and target_name != 'Ωmega'
"#,
];

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_yaml(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// Valid seeds: the inline ones and the shipped manifests.
static VALID_SEEDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut files = Vec::new();
    collect_yaml(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests"),
        &mut files,
    );
    files.sort();
    let mut seeds: Vec<String> = INLINE_SEEDS.iter().map(|s| s.to_string()).collect();
    seeds.extend(files.iter().filter_map(|f| std::fs::read_to_string(f).ok()));
    seeds
});

/// The invalid fixtures (mutating an invalid manifest can make it valid, and
/// exercises the error paths).
static INVALID_SEEDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut files = Vec::new();
    collect_yaml(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid"),
        &mut files,
    );
    files.sort();
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
});

// --------------------------------------------------------------- mutation

/// One edit. Indices are reduced modulo the current sizes when applied.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Add (positive) or remove (negative) leading spaces.
    Indent(usize, i8),
    /// Replace the `k`-th word of a line.
    ReplaceWord(usize, usize, String),
    /// Replace the `k`-th word of a line, if it is a known key, kind, column
    /// or step name, by another word of the same class (a "plausible typo").
    Retarget(usize, usize, usize),
    /// Insert text at a char position of a line.
    Insert(usize, usize, String),
    /// Insert a whole new line made of words.
    InsertLine(usize, String),
    /// Cut the text at a char position.
    Truncate(usize),
}

fn word(non_ascii: bool) -> BoxedStrategy<String> {
    let pick = |v: &'static [&'static str]| proptest::sample::select(v).prop_map(str::to_string);
    let ident = "[a-z_][a-z0-9_]{0,8}";
    if non_ascii {
        prop_oneof![
            3 => pick(NON_ASCII),
            1 => pick(KEYS),
            1 => pick(COLUMNS),
            1 => pick(SYMBOLS),
            1 => "\\PC{1,6}",
        ]
        .boxed()
    } else {
        prop_oneof![
            2 => pick(KEYS),
            2 => pick(KINDS),
            2 => pick(COLUMNS),
            1 => pick(STEP_NAMES),
            3 => pick(SYMBOLS),
            1 => ident,
        ]
        .boxed()
    }
}

fn mutation(non_ascii: bool) -> impl Strategy<Value = Mutation> {
    let i = 0usize..10_000;
    prop_oneof![
        2 => i.clone().prop_map(Mutation::DeleteLine),
        1 => i.clone().prop_map(Mutation::DuplicateLine),
        1 => (i.clone(), i.clone()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        2 => (i.clone(), -4i8..=4).prop_map(|(a, d)| Mutation::Indent(a, d)),
        4 => (i.clone(), 0usize..12, word(non_ascii)).prop_map(|(a, k, w)| Mutation::ReplaceWord(a, k, w)),
        4 => (i.clone(), 0usize..12, 0usize..100).prop_map(|(a, k, p)| Mutation::Retarget(a, k, p)),
        3 => (i.clone(), 0usize..120, word(non_ascii)).prop_map(|(a, c, w)| Mutation::Insert(a, c, w)),
        1 => (i.clone(), proptest::collection::vec(word(non_ascii), 1..5))
            .prop_map(|(a, ws)| Mutation::InsertLine(a, ws.join(" "))),
        1 => i.prop_map(Mutation::Truncate),
    ]
}

/// Byte ranges of the words of a line: runs of alphanumerics, `_`, `.`, `-`
/// (keys, kinds, columns, step names).
fn word_spans(l: &str) -> Vec<(usize, usize)> {
    let is_w = |c: char| c.is_alphanumeric() || "_.-".contains(c);
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in l.char_indices() {
        match (is_w(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, l.len()));
    }
    spans
}

fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for m in muts {
        let n = lines.len().max(1);
        if lines.is_empty() {
            lines.push(String::new());
        }
        match m {
            Mutation::DeleteLine(a) => {
                lines.remove(a % n);
            }
            Mutation::DuplicateLine(a) => {
                let l = lines[a % n].clone();
                lines.insert(a % n, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::Indent(a, d) => {
                let l = &mut lines[a % n];
                if *d >= 0 {
                    l.insert_str(0, &" ".repeat(*d as usize));
                } else {
                    let strip = l
                        .chars()
                        .take((-*d) as usize)
                        .take_while(|c| *c == ' ')
                        .count();
                    l.drain(..strip);
                }
            }
            Mutation::ReplaceWord(a, k, w) => {
                let spans = word_spans(&lines[a % n]);
                if !spans.is_empty() {
                    let (s, e) = spans[k % spans.len()];
                    lines[a % n].replace_range(s..e, w);
                }
            }
            Mutation::Retarget(a, k, p) => {
                let spans = word_spans(&lines[a % n]);
                if !spans.is_empty() {
                    let (s, e) = spans[k % spans.len()];
                    let w = &lines[a % n][s..e];
                    if let Some(class) = [KEYS, KINDS, COLUMNS, STEP_NAMES]
                        .into_iter()
                        .find(|c| c.contains(&w))
                    {
                        let new = class[p % class.len()];
                        lines[a % n].replace_range(s..e, new);
                    }
                }
            }
            Mutation::Insert(a, c, w) => {
                let l = &mut lines[a % n];
                let at = l
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(l.len()))
                    .nth(c % (l.chars().count() + 1));
                l.insert_str(at.unwrap_or(l.len()), w);
            }
            Mutation::InsertLine(a, w) => lines.insert(a % (n + 1), w.clone()),
            Mutation::Truncate(c) => {
                let joined = lines.join("\n");
                let chars = joined.chars().count();
                let keep = if chars == 0 { 0 } else { c % chars };
                let cut: String = joined.chars().take(keep).collect();
                lines = cut.split('\n').map(str::to_string).collect();
            }
        }
    }
    lines.join("\n")
}

fn sets() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        proptest::sample::select(
            &[
                "max_radius_arcsec",
                "min_hours",
                "program",
                "rayon_max",
                "nope",
                ""
            ][..]
        )
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ];
    let value = prop_oneof![
        proptest::sample::select(
            &[
                "60", "-1", "1e999", "NaN", "true", "x,y,,z", "", "02739", "🪐", " 7 "
            ][..]
        )
        .prop_map(str::to_string),
        "\\PC{0,6}",
    ];
    proptest::collection::vec((name, value), 0..3)
}

// ------------------------------------------------------------------ tests

/// Arbitrary text, weighted towards what YAML and manifests are made of.
fn text(max_pieces: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<char>().prop_map(|c| c.to_string()),
        2 => proptest::sample::select(&[" ", "  ", "\n", "\n  ", "\t", "\r\n", ":", ": ", "- ", "[", "]", "{", "}", ",", "\"", "'", "#", "|", ">", "&", "*", "!", "%", "@", "`", "\0", "\u{7f}", "\u{85}", "\u{feff}"][..])
            .prop_map(str::to_string),
        2 => word(false),
        1 => word(true),
    ];
    proptest::collection::vec(piece, 0..max_pieces).prop_map(|v| v.concat())
}

#[test]
fn arbitrary_text() {
    let stats = Stats::default();
    // A manifest-shaped prefix makes the schema stage reachable.
    let prefix = proptest::sample::select(
        &[
            "",
            "version: 1\nname: x\nsteps:\n",
            "version: 1\nname: x\nsteps:\n  a:\n    kind: ",
        ][..],
    );
    run_property(
        "arbitrary_text",
        600,
        (prefix, text(120), sets()),
        |(prefix, text, sets)| {
            exercise(&format!("{prefix}{text}"), sets, &stats);
            Ok(())
        },
    );
    eprintln!("arbitrary_text: {}", stats.summary());
}

/// A valid manifest whose `@N@` holes each get a sensible value or an arbitrary
/// string (as a YAML double-quoted scalar), so arbitrary text reaches
/// validation, templates, expressions and the planner.
const HOLES_TEMPLATE: &str = r#"version: 1
name: @0@
description: @1@
params:
  @2@: @3@
  min_exptime: 1000
env: [@4@]
steps:
  obs:
    kind: table
    rows:
      - {obs_id: jw02736-o001_t001_nircam_clear-f090w, t_exptime: 1500, target_name: SMACS-0723, @5@: @6@}
  @7@:
    kind: filter
    from: obs
    where: {@8@: @9@}
    expr: @10@
  derived:
    kind: derive
    from: obs
    columns: {@11@: @12@}
  sorted:
    kind: sort
    from: derived
    by: [@13@]
  grouped:
    kind: group
    from: obs
    by: [target_name]
    aggregates: {n: @14@}
  both: {kind: union, from: [obs, sorted], tag: @15@}
  first: {kind: head, from: both, n: 3, needs: [@16@]}
outputs:
  - from: sorted
    path: @17@
"#;

const HOLE_DEFAULTS: &[&str] = &[
    "holes",
    "A manifest with holes",
    "p",
    "1",
    "HOME",
    "s_ra",
    "110.8375",
    "long",
    "obs_id",
    "jw*",
    "t_exptime > params.min_exptime",
    "hours",
    "t_exptime / 3600",
    "-hours",
    "sum(t_exptime)",
    "src",
    "grouped",
    "out_{{ params.p }}.csv",
];

fn fill_holes(fill: &[(usize, String)]) -> String {
    let mut out = HOLES_TEMPLATE.to_string();
    for (i, d) in HOLE_DEFAULTS.iter().enumerate() {
        let v = fill
            .iter()
            .rev()
            .find(|(h, _)| h % HOLE_DEFAULTS.len() == i)
            .map_or(*d, |(_, v)| v.as_str());
        out = out.replace(&format!("@{i}@"), &serde_json::to_string(v).unwrap());
    }
    out
}

#[test]
fn arbitrary_values() {
    let stats = Stats::default();
    // One to three holes get arbitrary text; the others keep their defaults.
    let holes = proptest::collection::vec((0..HOLE_DEFAULTS.len(), text(12)), 1..4);
    run_property("arbitrary_values", 600, (holes, sets()), |(fill, sets)| {
        exercise(&fill_holes(&fill), sets, &stats);
        Ok(())
    });
    eprintln!("arbitrary_values: {}", stats.summary());
    assert!(
        stats.valid.load(Ordering::Relaxed) > 0,
        "no filled manifest was valid"
    );
}

#[test]
fn mutated_manifests() {
    let stats = Stats::default();
    let (valid, invalid) = (&*VALID_SEEDS, &*INVALID_SEEDS);
    assert!(
        valid.len() >= 3 && invalid.len() >= 45,
        "seeds: {} valid, {} invalid",
        valid.len(),
        invalid.len()
    );
    // Half the cases start from a valid manifest, half from an invalid fixture.
    let seed = prop_oneof![
        (0..valid.len()).prop_map(|i| (true, i)),
        (0..invalid.len()).prop_map(|i| (false, i))
    ];
    let strategy = (
        seed,
        proptest::collection::vec(mutation(false), 1..4),
        sets(),
    );
    run_property(
        "mutated_manifests",
        700,
        strategy,
        |((ok, i), muts, sets)| {
            let seed = if ok { &valid[i] } else { &invalid[i] };
            exercise(&apply(seed, &muts), sets, &stats);
            Ok(())
        },
    );
    eprintln!("mutated_manifests: {}", stats.summary());
    assert!(
        stats.valid.load(Ordering::Relaxed) > 0,
        "no mutant was valid: validate/plan never ran on a good manifest"
    );
}

#[test]
fn mutated_non_ascii_manifests() {
    let stats = Stats::default();
    let strategy = (
        0..NON_ASCII_SEEDS.len(),
        proptest::collection::vec(mutation(true), 1..4),
        sets(),
    );
    run_property(
        "mutated_non_ascii_manifests",
        400,
        strategy,
        |(seed, muts, sets)| {
            exercise(&apply(NON_ASCII_SEEDS[seed], &muts), sets, &stats);
            Ok(())
        },
    );
    eprintln!("mutated_non_ascii_manifests: {}", stats.summary());
    assert!(
        stats.valid.load(Ordering::Relaxed) > 0,
        "no mutant was valid"
    );
}

/// The seeds themselves: the inline ones must be valid (or the mutation
/// tests would mostly exercise error paths).
#[test]
fn inline_seeds_are_valid() {
    let holes = fill_holes(&[]);
    for s in INLINE_SEEDS
        .iter()
        .chain(NON_ASCII_SEEDS)
        .chain([&holes.as_str()])
    {
        let loaded =
            manifest::parse("seed.yaml", s).unwrap_or_else(|p| panic!("{}", p.render(false, 100)));
        let m = validate::validate(&loaded, &opts(Vec::new()))
            .unwrap_or_else(|p| panic!("{}", p.render(false, 100)));
        Plan::build(&m, &[]).unwrap();
    }
}

/// Inputs that have broken YAML tooling elsewhere: deep nesting, alias
/// expansion, huge numbers, very long lines.
#[test]
fn hostile_inputs() {
    let stats = Stats::default();
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let cases = [
        "[".repeat(10_000),
        "{".repeat(10_000),
        "- ".repeat(300),
        format!("version: 1\nname: x\nsteps:\n{}", "  a:\n".repeat(2_000)),
        format!("version: 1\nname: {}\nsteps: {{}}\n", "x".repeat(200_000)),
        bomb.to_string(),
        format!("version: 1\nname: x\n{bomb}steps: {{}}\n"),
        "version: 18446744073709551616\nname: x\nsteps: {}\n".into(),
        "version: 1\nname: x\nsteps:\n  h: {kind: head, from: h, n: 18446744073709551615}\n".into(),
        "<<: {version: 1}\nname: x\nsteps: {}\n".into(),
        "<<: [1, 2]\n".into(),
        "--- 1\n--- 2\n".into(),
        "\u{feff}version: 1\nname: x\nsteps: {}\n".into(),
        "version: 1\r\nname: x\r\nsteps:\r\n  a: {kind: table, rows: [{a: 1}]}\r\n  b: {kind: filter, from: a, where: {z: 1}}\r\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, csv: \"\"}\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, file: \"\"}\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, file: \".\"}\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, rows: []}\n  b: {kind: filter, from: a, expr: \"\"}\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, rows: [{}]}\n  b: {kind: derive, from: a, columns: {\"\": \"1\"}}\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, rows: [{x: 1}]}\noutputs: [{from: a, path: \"\"}, {from: a, path: \"{{ }}\"}]\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, rows: [{x: 1}]}\n  b: {kind: filter, from: a, expr: \"{% for i in range(10) %}{% endfor %}\"}\n".into(),
        "version: 1\nname: x\nsteps:\n  a: {kind: table, rows: [{x: 1}]}\n  b: {kind: filter, from: a, where: {x: \"{% for i in range(999999999) %}{% endfor %}\"}}\n".into(),
    ];
    for c in &cases {
        exercise(c, Vec::new(), &stats);
    }
    eprintln!("hostile_inputs: {}", stats.summary());
}

// ------------------------------------------------- regressions (if any)

/// Runs `input` through [`exercise`] in a child process (this test binary,
/// re-run on one test), so a stack overflow, which aborts the process,
/// fails this test instead of killing the whole test run.
fn survives_in_child(test_name: &str, input: impl FnOnce() -> String) {
    const CHILD: &str = "MASTFLOW_PARSE_FUZZ_CHILD";
    if std::env::var_os(CHILD).is_some() {
        exercise(&input(), Vec::new(), &Stats::default());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            test_name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{test_name}: the child process died ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Found by `hostile_inputs`: 2000 nested block sequences (`- - - ...`, a
/// 4 KB line) overflow the stack of a test thread (2 MiB) and abort the
/// process; `mastflow validate` (8 MiB main thread) aborts with SIGABRT on
/// `- ` repeated 10 000 times (20 KB). The recursion is yaml_rust2's
/// `Parser::load` (`load_node` → `load_sequence` → ...) called from
/// `manifest::spans::SpanIndex::build`, which runs before serde_yaml (whose
/// recursion limit of 128 would have rejected the input cleanly).
#[test]

fn regression_deep_block_sequence_does_not_overflow() {
    survives_in_child("regression_deep_block_sequence_does_not_overflow", || {
        "- ".repeat(20_000)
    });
}

/// The same with nested block mappings (`a:` indented one more space per line).
#[test]

fn regression_deep_block_mapping_does_not_overflow() {
    survives_in_child("regression_deep_block_mapping_does_not_overflow", || {
        (0..2_500)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect()
    });
}

/// Nesting well past serde_yaml's recursion limit (128) but below the depth
/// that overflows: rejected cleanly. Guards the child-process harness too.
#[test]
fn moderately_deep_nesting_is_rejected_cleanly() {
    survives_in_child("moderately_deep_nesting_is_rejected_cleanly", || {
        "- ".repeat(300)
    });
}
