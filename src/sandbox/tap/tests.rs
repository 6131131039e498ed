//! ADQL evaluation over small archives: every construct of the subset, the
//! errors (LIMIT, unknown names, unsupported constructs), cones across RA
//! 0/360 and near a pole (index and full scan agree), keyset and OFFSET
//! paging, and garbage queries that must never panic.

use super::adql::{AdqlError, compile};
use super::catalog::catalog;
use super::eval::{Output, Src, run};
use crate::sandbox::data::Archive;
use crate::table::{Table, Value};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Observations placed to test the geometry: across RA 0/360, around the
/// north pole, far away, plus 60 rows for paging and aggregates.
fn geo_archive() -> &'static Archive {
    static A: OnceLock<Archive> = OnceLock::new();
    A.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from(
            "obsid,obs_id,obs_collection,instrument_name,target_name,s_ra,s_dec,s_region,calib_level,t_exptime,em_min,dataURL\n",
        );
        let sq = |ra: f64, dec: f64| {
            let d = 0.001;
            format!("POLYGON {} {} {} {} {} {} {} {}", ra - d, dec - d, ra + d, dec - d, ra + d, dec + d, ra - d, dec + d)
        };
        let fixed: [(i64, &str, f64, f64, i64); 7] = [
            (1, "west_of_0", 359.995, 0.0, 2),
            (2, "east_of_0", 0.005, 0.0, 2),
            (3, "antipode", 180.0, 0.0, 3),
            (4, "pole_a", 10.0, 89.95, 3),
            (5, "pole_b", 190.0, 89.95, 3),
            (6, "below_pole", 10.0, 88.0, 1),
            (7, "planned", 45.0, -30.0, -1),
        ];
        for (id, name, ra, dec, level) in fixed {
            csv.push_str(&format!("{id},{name},JWST,NIRCAM/IMAGE,T{id},{ra},{dec},{},{level},100.5,900,mast:JWST/product/{name}_cal.fits\n", sq(ra, dec)));
        }
        for i in 0..60i64 {
            let coll = if i % 3 == 0 { "HST" } else { "JWST" };
            let em_min = if i % 7 == 0 { String::new() } else { format!("{}", 500 + i) };
            let target = if i % 5 == 0 { "O'Brien".to_string() } else { format!("field {}", i % 4) };
            csv.push_str(&format!(
                "{},obs_{:03},{coll},MIRI/IMAGE,\"{target}\",{},{},,{},{},{em_min},\n",
                1000 - i,
                59 - i,
                100.0 + i as f64 * 0.5,
                -20.0,
                1 + i % 3,
                i * 10
            ));
        }
        std::fs::write(dir.path().join("observations.csv"), csv).unwrap();
        Archive::from_dir(dir.path(), 1).unwrap()
    })
}

fn bundled() -> &'static Archive {
    static A: OnceLock<Archive> = OnceLock::new();
    A.get_or_init(|| Archive::bundled(300, 7))
}

fn try_query(a: &Archive, q: &str, maxrec: u64) -> Result<Output, AdqlError> {
    let cat = catalog();
    let plan = compile(q, cat)?;
    Ok(run(
        &plan,
        Src::of(cat, plan.table, a, "http://sandbox"),
        a,
        maxrec,
    ))
}

fn query(a: &Archive, q: &str) -> Table {
    match try_query(a, q, 100_000) {
        Ok(o) => o.table,
        Err(e) => panic!("{q}: {e}"),
    }
}

fn error(q: &str) -> String {
    match try_query(geo_archive(), q, 100) {
        Ok(_) => panic!("{q} should fail"),
        Err(e) => e.to_string(),
    }
}

/// Column `c` of `t` as owned values.
fn col(t: &Table, c: usize) -> Vec<Value> {
    (0..t.num_rows()).map(|i| t.get(i, c).to_owned()).collect()
}

fn ints(t: &Table, c: usize) -> Vec<i64> {
    col(t, c)
        .into_iter()
        .map(|v| match v {
            Value::Int(i) => i,
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

fn strs(t: &Table, c: usize) -> Vec<String> {
    col(t, c)
        .into_iter()
        .map(|v| v.as_ref().display())
        .collect()
}

#[test]
fn select_items_aliases_and_star() {
    let a = geo_archive();
    let t = query(
        a,
        "SELECT TOP 2 obsid AS id, obs_id, 2 * calib_level + 1 AS x FROM dbo.obspointing",
    );
    assert_eq!(t.column_names().collect::<Vec<_>>(), ["id", "obs_id", "x"]);
    assert_eq!(ints(&t, 0), [1, 2]);
    assert_eq!(ints(&t, 2), [5, 5]);
    let star = query(a, "SELECT TOP 1 * FROM dbo.obspointing AS o");
    assert_eq!(star.num_columns(), crate::sandbox::data::schema::CAOM.len());
    let q = query(a, "SELECT TOP 1 o.*, o.obsid FROM dbo.obspointing o");
    assert_eq!(q.column_names().last(), Some("obsid_2"));
    let quoted = query(
        a,
        "SELECT TOP 1 \"obs_id\", OBS_ID, dbo.obspointing.obsid FROM DBO.ObsPointing",
    );
    assert_eq!(strs(&quoted, 0), ["west_of_0"]);
    assert_eq!(strs(&quoted, 1), ["west_of_0"]);
    assert!(error("SELECT \"OBS_ID\" FROM dbo.obspointing").contains("unknown column 'OBS_ID'"));
}

#[test]
fn predicates() {
    let a = geo_archive();
    let n = |w: &str| query(a, &format!("SELECT obsid FROM dbo.obspointing WHERE {w}")).num_rows();
    assert_eq!(n("obs_collection = 'HST'"), 20);
    assert_eq!(n("obs_collection <> 'HST'"), 47);
    assert_eq!(n("calib_level >= 3"), 23);
    assert_eq!(n("em_min IS NULL"), 9);
    assert_eq!(n("em_min IS NOT NULL"), 58);
    assert_eq!(n("t_exptime > 100 AND t_exptime < 200"), 7 + 9);
    assert_eq!(n("obs_id LIKE 'obs\\_00%'"), 0);
    assert_eq!(n("obs_id LIKE 'obs_00_'"), 10);
    assert_eq!(n("obs_id LIKE 'OBS%'"), 0);
    assert_eq!(n("obs_id ILIKE 'OBS%'"), 60);
    assert_eq!(n("obs_id NOT LIKE 'obs%'"), 7);
    assert_eq!(n("obsid IN (1, 2, 999, 12345)"), 3);
    assert_eq!(n("obsid NOT IN (1, 2)"), 65);
    assert_eq!(n("obsid BETWEEN 990 AND 1000"), 11);
    assert_eq!(n("obsid NOT BETWEEN 3 AND 1000"), 2);
    assert_eq!(
        n("NOT (calib_level = 1) AND (obs_collection = 'HST' OR obsid < 3)"),
        2
    );
    assert_eq!(n("target_name = 'O''Brien'"), 12);
    assert_eq!(n("em_min * 2 = 1100"), 1);
    assert_eq!(n("-calib_level < -2"), 23);
    assert_eq!(n("MOD(obsid, 10) = 0 AND ABS(s_dec + 20) < 1e-9"), 6);
    assert_eq!(
        n("LOWER(obs_collection) = 'hst' AND UPPER(obs_id) LIKE 'OBS%'"),
        20
    );
    assert_eq!(n("FLOOR(s_ra) = 101 OR ROUND(s_ra, 1) = 102.5"), 3);
    assert_eq!(n("obs_id || '!' = 'antipode!'"), 1);
    // NULL is never equal, not even to itself, and NOT NULL is unknown.
    assert_eq!(n("em_min = NULL OR NOT (em_min > 0)"), 0);
}

#[test]
fn aggregates_group_by_and_having() {
    let a = geo_archive();
    let t = query(
        a,
        "SELECT obs_collection, COUNT(*) AS n, MIN(obsid), MAX(obsid), SUM(calib_level) AS s, AVG(t_exptime) AS avg_t FROM dbo.obspointing GROUP BY obs_collection ORDER BY n DESC",
    );
    assert_eq!(strs(&t, 0), ["JWST", "HST"]);
    assert_eq!(ints(&t, 1), [47, 20]);
    assert_eq!(ints(&t, 2), [1, 943]);
    assert_eq!(ints(&t, 3), [999, 1000]);
    assert_eq!(t.column_names().nth(2), Some("min"));
    let total: i64 = ints(&t, 4).iter().sum();
    assert_eq!(
        total,
        2 + 2 + 3 + 3 + 3 + 1 - 1 + (0..60).map(|i| 1 + i % 3).sum::<i64>()
    );
    let c = query(
        a,
        "SELECT COUNT(*) FROM ivoa.obscore WHERE obs_id = 'nothing'",
    );
    assert_eq!(ints(&c, 0), [0]);
    assert_eq!(
        c.column(c.column_names().next().unwrap())
            .unwrap()
            .meta
            .ucd
            .as_deref(),
        Some("meta.number")
    );
    let h = query(
        a,
        "SELECT calib_level, COUNT(t_exptime) AS n FROM dbo.obspointing GROUP BY calib_level HAVING COUNT(em_min) > 18 ORDER BY calib_level",
    );
    assert_eq!(ints(&h, 0), [2, 3]);
    let d = query(
        a,
        "SELECT COUNT(DISTINCT target_name) FROM dbo.obspointing WHERE obsid > 900",
    );
    assert_eq!(ints(&d, 0), [5]);
    assert!(error("SELECT obsid FROM dbo.obspointing WHERE COUNT(*) > 1").contains("aggregate"));
}

#[test]
fn distinct_order_offset_top() {
    let a = geo_archive();
    let t = query(
        a,
        "SELECT DISTINCT obs_collection FROM dbo.obspointing ORDER BY obs_collection",
    );
    assert_eq!(strs(&t, 0), ["HST", "JWST"]);
    let t = query(
        a,
        "SELECT DISTINCT TOP 1 obs_collection FROM dbo.obspointing ORDER BY 1 DESC",
    );
    assert_eq!(strs(&t, 0), ["JWST"]);
    let t = query(
        a,
        "SELECT TOP 3 obsid, em_min FROM dbo.obspointing WHERE obsid > 900 ORDER BY em_min DESC, obsid",
    );
    assert_eq!(ints(&t, 0), [944, 951, 958], "NULLs first when descending");
    let t = query(
        a,
        "SELECT TOP 2 obsid FROM dbo.obspointing WHERE obsid > 900 ORDER BY em_min ASC NULLS FIRST, obsid",
    );
    assert_eq!(ints(&t, 0), [944, 951]);
    let t = query(
        a,
        "SELECT obsid FROM dbo.obspointing ORDER BY obsid OFFSET 65",
    );
    assert_eq!(ints(&t, 0), [999, 1000]);
    let huge =
        "SELECT TOP 18446744073709551615 obsid FROM dbo.obspointing OFFSET 18446744073709551615";
    assert_eq!(query(a, huge).num_rows(), 0);
    let t = query(
        a,
        "SELECT TOP 2 obsid - 1 AS k FROM dbo.obspointing ORDER BY k DESC OFFSET 1",
    );
    assert_eq!(ints(&t, 0), [998, 997]);
}

#[test]
fn maxrec_truncates_after_top() {
    let a = geo_archive();
    let q = "SELECT obsid FROM dbo.obspointing ORDER BY obsid";
    let o = try_query(a, q, 5).unwrap();
    assert_eq!((o.table.num_rows(), o.overflow), (5, true));
    let o = try_query(a, "SELECT TOP 5 obsid FROM dbo.obspointing", 5).unwrap();
    assert_eq!((o.table.num_rows(), o.overflow), (5, false));
    let o = try_query(a, "SELECT TOP 9 obsid FROM dbo.obspointing", 5).unwrap();
    assert_eq!((o.table.num_rows(), o.overflow), (5, true));
    let o = try_query(a, "SELECT obsid, obs_id FROM dbo.obspointing", 0).unwrap();
    assert_eq!(
        (o.table.num_rows(), o.table.num_columns(), o.overflow),
        (0, 2, true)
    );
    let o = try_query(a, "SELECT obsid FROM dbo.obspointing", 67).unwrap();
    assert_eq!((o.table.num_rows(), o.overflow), (67, false));
}

fn cone_ids(a: &Archive, where_: &str) -> Vec<i64> {
    let mut v = ints(
        &query(
            a,
            &format!("SELECT obsid FROM dbo.obspointing WHERE {where_}"),
        ),
        0,
    );
    v.sort_unstable();
    v
}

#[test]
fn cones_across_ra_zero_and_the_pole() {
    let a = geo_archive();
    let across = "1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 0, 0, 0.01))";
    assert_eq!(cone_ids(a, across), [1, 2]);
    let frameless = "CONTAINS(POINT(s_ra, s_dec), CIRCLE(359.999, 0.0, 0.01)) = 1";
    assert_eq!(cone_ids(a, frameless), [1, 2]);
    assert_eq!(
        cone_ids(a, "DISTANCE(POINT(s_ra, s_dec), POINT(0, 0)) < 0.01"),
        [1, 2]
    );
    assert_eq!(cone_ids(a, "DISTANCE(0, 0, s_ra, s_dec) <= 0.006"), [1, 2]);
    assert_eq!(
        cone_ids(a, "0.004 > DISTANCE(s_ra, s_dec, 359.998, 0)"),
        [1]
    );
    // Near the pole RA means little: 4 and 5 are 0.1° apart across it.
    let pole = "1 = CONTAINS(POINT(s_ra, s_dec), CIRCLE(100, 90, 0.06))";
    assert_eq!(cone_ids(a, pole), [4, 5]);
    assert_eq!(cone_ids(a, "DISTANCE(s_ra, s_dec, 0, 90) < 2.5"), [4, 5, 6]);
    // The index path (top-level AND) agrees with the full scan (under OR).
    for (w, hits) in [(across, vec![1, 2]), (pole, vec![4, 5])] {
        assert_eq!(cone_ids(a, &format!("{w} AND obsid > 0")), hits);
        assert_eq!(cone_ids(a, &format!("({w} OR obsid < 0)")), hits);
    }
    let boxed = "1 = CONTAINS(POINT(s_ra, s_dec), BOX(0, 0, 0.02, 0.02))";
    assert_eq!(cone_ids(a, boxed), [1, 2]);
    let poly = "1 = CONTAINS(POINT(s_ra, s_dec), POLYGON(359.99, -0.01, 0.01, -0.01, 0.01, 0.01, 359.99, 0.01))";
    assert_eq!(cone_ids(a, poly), [1, 2]);
    let poly_west =
        "1 = CONTAINS(POINT(s_ra, s_dec), POLYGON(359.99, -0.01, 359.999, -0.01, 359.999, 0.01))";
    assert_eq!(cone_ids(a, poly_west), [1]);
    // Footprints: which observations cover this point.
    assert_eq!(
        cone_ids(a, "1 = CONTAINS(POINT(0.0052, 0.0005), s_region)"),
        [2]
    );
    assert_eq!(
        cone_ids(a, "CONTAINS(POINT('ICRS', 190.0, 89.9505), s_region) = 1"),
        [5]
    );
    let d = query(
        a,
        "SELECT DISTANCE(POINT(s_ra, s_dec), POINT(0, 0)) AS d FROM dbo.obspointing WHERE obsid = 1",
    );
    let Value::Float(x) = d.get(0, 0).to_owned() else {
        panic!()
    };
    assert!((x - 0.005).abs() < 1e-9, "{x}");
    assert_eq!(d.column("d").unwrap().meta.unit.as_deref(), Some("deg"));
}

#[test]
fn obscore_leaves_out_planned_rows_and_maps_units() {
    let a = geo_archive();
    let t = query(
        a,
        "SELECT obs_id, em_min, access_url, access_format, obs_publisher_did FROM ivoa.obscore WHERE obs_id = 'east_of_0'",
    );
    assert_eq!(t.num_rows(), 1);
    assert!((t.get(0, 1).as_f64().unwrap() - 900e-9).abs() < 1e-18);
    assert_eq!(
        strs(&t, 2),
        ["http://sandbox/api/v0.1/Download/file?uri=mast:JWST/product/east_of_0_cal.fits"]
    );
    assert_eq!(strs(&t, 3), ["application/fits"]);
    assert_eq!(strs(&t, 4), ["ivo://mast.stsci.edu/caom?east_of_0"]);
    let n = |t: &str| ints(&query(a, &format!("SELECT COUNT(*) FROM {t}")), 0)[0];
    assert_eq!((n("dbo.obspointing"), n("ivoa.obscore")), (67, 66));
    assert_eq!(
        query(a, "SELECT obsid FROM dbo.obspointing WHERE calib_level < 0").num_rows(),
        1
    );
    assert_eq!(
        query(a, "SELECT obs_id FROM ivoa.obscore WHERE calib_level < 0").num_rows(),
        0
    );
}

#[test]
fn tap_schema_is_queryable() {
    let a = geo_archive();
    let t = query(
        a,
        "SELECT column_name, datatype, arraysize, xtype, unit FROM TAP_SCHEMA.columns WHERE table_name = 'ivoa.obscore' AND column_name IN ('s_region', 'em_min', 'calib_level') ORDER BY column_name",
    );
    assert_eq!(strs(&t, 0), ["calib_level", "em_min", "s_region"]);
    assert_eq!(strs(&t, 1), ["int", "double", "char"]);
    assert_eq!(strs(&t, 3), ["", "", "adql:REGION"]);
    assert_eq!(strs(&t, 4), ["", "m", ""]);
    let s = query(
        a,
        "SELECT \"size\", size FROM tap_schema.columns WHERE column_name = '\"size\"'",
    );
    assert_eq!(s.num_rows(), 1);
    let k = query(a, "SELECT COUNT(*) FROM TAP_SCHEMA.key_columns");
    assert_eq!(ints(&k, 0), [5]);
    let tables = query(
        a,
        "SELECT table_name FROM TAP_SCHEMA.tables ORDER BY table_index",
    );
    assert_eq!(strs(&tables, 0)[..2], ["dbo.obspointing", "ivoa.obscore"]);
}

#[test]
fn keyset_and_offset_paging_cover_the_table_once() {
    let a = bundled();
    let all: Vec<i64> = ints(&query(a, "SELECT obsid FROM dbo.obspointing"), 0);
    let expect: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(expect.len(), all.len(), "obsid is unique");
    let mut keyset = Vec::new();
    let mut last = i64::MIN;
    loop {
        let q = format!(
            "SELECT TOP 97 obsid, obs_id FROM dbo.obspointing WHERE obsid > {last} ORDER BY obsid"
        );
        let page = ints(&query(a, &q), 0);
        keyset.extend_from_slice(&page);
        match page.last() {
            Some(&l) if page.len() == 97 => last = l,
            _ => break,
        }
    }
    let mut by_offset = Vec::new();
    for page in 0.. {
        let q = format!(
            "SELECT TOP 113 obsid FROM dbo.obspointing ORDER BY obs_id, obsid OFFSET {}",
            page * 113
        );
        let rows = ints(&query(a, &q), 0);
        by_offset.extend_from_slice(&rows);
        if rows.len() < 113 {
            break;
        }
    }
    for got in [&keyset, &by_offset] {
        assert_eq!(got.len(), all.len(), "no row twice");
        assert_eq!(got.iter().copied().collect::<HashSet<_>>(), expect);
    }
    assert!(keyset.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn index_and_scan_agree_on_the_bundled_archive() {
    let a = bundled();
    for (ra, dec, r) in [
        (346.62, -5.04, 0.2),
        (80.0, -69.5, 1.0),
        (53.16, -27.78, 0.5),
        (0.0, 0.0, 25.0),
    ] {
        let c =
            format!("1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra}, {dec}, {r}))");
        assert_eq!(
            cone_ids(a, &c),
            cone_ids(a, &format!("({c} OR 1 = 0)")),
            "{c}"
        );
    }
}

#[test]
fn errors_name_the_construct_and_where() {
    let e = error("SELECT obsid FROM dbo.obspointing LIMIT 10");
    assert!(
        e.contains("LIMIT is not ADQL") && e.contains("TOP") && e.contains("column 41"),
        "{e}"
    );
    let e = error("SELECT nope FROM ivoa.obscore");
    assert!(
        e.contains("unknown column 'nope'") && e.contains("column 8"),
        "{e}"
    );
    let e = error("SELECT s_ra FROM ivoa.obscor");
    assert!(
        e.contains("unknown table 'ivoa.obscor'") && e.contains("ivoa.obscore"),
        "{e}"
    );
    assert!(error("SELECT obs_ids FROM ivoa.obscore").contains("did you mean 'obs_id'"));
    assert!(
        error("SELECT a.obsid FROM dbo.obspointing AS b").contains("unknown table or alias 'a'")
    );
    assert!(
        error("SELECT o.obsid FROM dbo.obspointing o JOIN ivoa.obscore c ON o.obs_id = c.obs_id")
            .contains("JOIN is not supported")
    );
    assert!(
        error("SELECT obsid FROM dbo.obspointing UNION SELECT obsid FROM dbo.obspointing")
            .contains("UNION")
    );
    assert!(
        error("SELECT obsid FROM (SELECT obsid FROM dbo.obspointing) AS t").contains("subqueries")
    );
    assert!(
        error("SELECT obsid FROM dbo.obspointing WHERE obsid IN (SELECT 1)").contains("subqueries")
    );
    assert!(error("WITH t AS (SELECT 1) SELECT obsid FROM dbo.obspointing").contains("WITH"));
    assert!(error("SELECT CAST(obsid AS VARCHAR) FROM dbo.obspointing").contains("CAST"));
    assert!(
        error(
            "SELECT obsid FROM dbo.obspointing WHERE CONTAINS(POINT(s_ra, s_dec), CIRCLE(0, 0, 1))"
        )
        .contains("write 1 = CONTAINS")
    );
    assert!(
        error("SELECT obsid FROM dbo.obspointing WHERE obs_id = 3")
            .contains("cannot compare a VARCHAR with an INTEGER")
    );
    assert!(
        error("SELECT obsid + obs_id FROM dbo.obspointing").contains("arithmetic needs numbers")
    );
    assert!(
        error("SELECT INTERSECTS(s_region, CIRCLE(0,0,1)) FROM dbo.obspointing")
            .contains("INTERSECTS is not supported")
    );
    assert!(
        error("SELECT POINT(s_ra, s_dec) FROM dbo.obspointing").contains("only be an argument")
    );
    assert!(
        error("SELECT GREATEST(1, 2) FROM dbo.obspointing")
            .contains("function GREATEST is not supported")
    );
    assert!(
        error("SELECT obsid FROM dbo.obspointing WHERE 1 = CONTAINS(POINT(s_ra), CIRCLE(0, 0, 1))")
            .contains("POINT takes 2 numbers")
    );
    assert!(
        error("SELECT obsid FROM dbo.obspointing WHERE 1 = CONTAINS(s_region, CIRCLE(0, 0, 1))")
            .contains("POINT as its first argument")
    );
    assert!(
        error("SELECT obsid FROM dbo.obspointing ORDER BY 9").contains("select list has 1 items")
    );
    assert!(error("SELECT obsid FROM dbo.obspointing; SELECT 1").contains("exactly one"));
    assert!(error("DELETE FROM dbo.obspointing").contains("only SELECT"));
    assert!(error("SELECT FROM WHERE").contains("syntax error"));
    assert!(error("").contains("empty"));
}

/// Truncations and splices of real queries: every one compiles or fails
/// with an error, none panics, and what compiles runs.
#[test]
fn garbage_never_panics() {
    let seeds = [
        "SELECT DISTINCT TOP 5 obs_id, COUNT(*) AS n FROM ivoa.obscore AS o WHERE 1 = CONTAINS(POINT('ICRS', o.s_ra, o.s_dec), CIRCLE('ICRS', 0, 0, 1)) AND obs_id ILIKE 'a%' GROUP BY obs_id HAVING COUNT(*) > 1 ORDER BY n DESC OFFSET 2",
        "SELECT DISTANCE(s_ra, s_dec, 1, 2) AS d, -(calib_level * 2.5) FROM dbo.obspointing WHERE obsid BETWEEN 1 AND 9 OR obs_id IN ('x', 'y') OR t_min IS NOT NULL",
    ];
    let junk = [
        "(", ")", "'", "\"", ",", "*", "1/0", "NULL", "SELECT", " AND ", "POINT(", "--", "\u{e9}",
        "9e999", "LIMIT 1", ";",
    ];
    let a = geo_archive();
    let mut n = 0;
    for s in seeds {
        let cuts: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
        for &i in cuts.iter().step_by(3) {
            for j in junk {
                for q in [s[..i].to_string(), format!("{}{j}{}", &s[..i], &s[i..])] {
                    if let Ok(plan) = compile(&q, catalog()) {
                        let _ = run(&plan, Src::of(catalog(), plan.table, a, "http://x"), a, 10);
                    }
                    n += 1;
                }
            }
        }
    }
    assert!(n > 1000);
    let deep = format!(
        "SELECT obsid FROM dbo.obspointing WHERE {}1{}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    assert!(compile(&deep, catalog()).is_err());
}
