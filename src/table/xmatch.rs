//! Local sky cross-match of two tables, indexed with HEALPix (cdshealpix).
//!
//! The right table is bucketed by HEALPix cell at a depth whose cells are
//! larger than the match radius, so every partner of a left row lies in its
//! cell or one of the 8 neighbours; candidates are then checked with the
//! exact great-circle distance (haversine). The vocabulary is STILTS's
//! `tmatch2`: `find` = `best` (the nearest partner of each left row) or
//! `all` (every pair within the radius); `join` = `1and2`, `1not2`, `2not1`,
//! `all1`, `all2`, `1or2`. A `separation` column (arcsec) is added.

use super::column::ColumnBuilder;
use super::{Column, DataType, Table, TableError, Value, ValueRef};
use std::collections::HashMap;

/// Which pairs to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Find {
    Best,
    All,
}

/// Which rows appear in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinMode {
    And12,
    Not12,
    Not21,
    All1,
    All2,
    Or12,
}

/// Columns holding positions (degrees, or sexagesimal text).
#[derive(Debug, Clone)]
pub struct Position {
    pub ra: String,
    pub dec: String,
}

/// Great-circle distance in degrees between two positions in degrees.
pub fn ang_dist_deg(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let r = std::f64::consts::PI / 180.0;
    let (d1, d2) = (dec1 * r, dec2 * r);
    let sdd = ((d2 - d1) / 2.0).sin();
    let sda = ((ra2 - ra1) * r / 2.0).sin();
    let h = sdd * sdd + d1.cos() * d2.cos() * sda * sda;
    2.0 * h.sqrt().min(1.0).asin() / r
}

pub(crate) fn coords(
    t: &Table,
    p: &Position,
    side: &str,
) -> Result<Vec<Option<(f64, f64)>>, TableError> {
    let (ra, dec) = (t.column(&p.ra)?, t.column(&p.dec)?);
    let val = |v: ValueRef<'_>, is_ra: bool| -> Option<f64> {
        match v {
            ValueRef::Str(s) if is_ra => super::expr::parse_ra(s),
            ValueRef::Str(s) => super::expr::parse_dec(s),
            other => other.as_f64(),
        }
    };
    let mut out = Vec::with_capacity(t.num_rows());
    for i in 0..t.num_rows() {
        let (a, d) = (val(ra.get(i), true), val(dec.get(i), false));
        match (a, d) {
            (Some(a), Some(d)) if a.is_finite() && d.is_finite() && (-90.0..=90.0).contains(&d) => {
                out.push(Some((a.rem_euclid(360.0), d)))
            }
            (None, None) if ra.is_null(i) && dec.is_null(i) => out.push(None),
            _ => {
                return Err(TableError::Invalid(format!(
                    "{side} row {i}: `{}`/`{}` = {:?}/{:?} is not a position in degrees or sexagesimal",
                    p.ra,
                    p.dec,
                    ra.get(i).display(),
                    dec.get(i).display()
                )));
            }
        }
    }
    Ok(out)
}

/// HEALPix depth whose cells are wider than `radius_deg`.
fn depth_for(radius_deg: f64) -> u8 {
    let r = radius_deg.to_radians().max(1e-12);
    cdshealpix::best_starting_depth(r).saturating_sub(1).min(20)
}

fn cell(depth: u8, ra: f64, dec: f64) -> u64 {
    cdshealpix::nested::hash(depth, ra.to_radians(), dec.to_radians())
}

/// Match `left` and `right` within `radius_deg`.
pub fn sky_match(
    (left, lpos): (&Table, &Position),
    (right, rpos): (&Table, &Position),
    radius_deg: f64,
    find: Find,
    join: JoinMode,
    suffixes: (&str, &str),
) -> Result<Table, TableError> {
    let (lc, rc) = (coords(left, lpos, "left")?, coords(right, rpos, "right")?);
    let depth = depth_for(radius_deg);
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for (j, p) in rc.iter().enumerate() {
        if let Some((ra, dec)) = p {
            index.entry(cell(depth, *ra, *dec)).or_default().push(j);
        }
    }
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    let mut cells = Vec::with_capacity(9);
    for (i, p) in lc.iter().enumerate() {
        let Some((ra, dec)) = p else { continue };
        let h = cell(depth, *ra, *dec);
        cells.clear();
        cells.push(h);
        cdshealpix::nested::append_bulk_neighbours(depth, h, &mut cells);
        cells.sort_unstable();
        cells.dedup();
        let mut found: Vec<(usize, f64)> = Vec::new();
        for c in &cells {
            for &j in index.get(c).map(Vec::as_slice).unwrap_or_default() {
                let (rra, rdec) = rc[j].expect("indexed rows have positions");
                let d = ang_dist_deg(*ra, *dec, rra, rdec);
                if d <= radius_deg {
                    found.push((j, d));
                }
            }
        }
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        match find {
            Find::Best => pairs.extend(found.first().map(|&(j, d)| (i, j, d))),
            Find::All => pairs.extend(found.into_iter().map(|(j, d)| (i, j, d))),
        }
    }
    assemble(left, right, &pairs, join, suffixes)
}

/// Build the output rows: `(left row, right row, separation in arcsec)`.
fn assemble(
    left: &Table,
    right: &Table,
    pairs: &[(usize, usize, f64)],
    join: JoinMode,
    suffixes: (&str, &str),
) -> Result<Table, TableError> {
    let mut matched_l = vec![false; left.num_rows()];
    let mut matched_r = vec![false; right.num_rows()];
    for &(i, j, _) in pairs {
        matched_l[i] = true;
        matched_r[j] = true;
    }
    let mut rows: Vec<(Option<usize>, Option<usize>, Option<f64>)> = Vec::new();
    let with_pairs = matches!(
        join,
        JoinMode::And12 | JoinMode::All1 | JoinMode::All2 | JoinMode::Or12
    );
    if with_pairs {
        rows.extend(
            pairs
                .iter()
                .map(|&(i, j, d)| (Some(i), Some(j), Some(d * 3600.0))),
        );
    }
    if matches!(join, JoinMode::All1 | JoinMode::Or12 | JoinMode::Not12) {
        rows.extend(
            (0..left.num_rows())
                .filter(|&i| !matched_l[i])
                .map(|i| (Some(i), None, None)),
        );
    }
    if matches!(join, JoinMode::All2 | JoinMode::Or12 | JoinMode::Not21) {
        rows.extend(
            (0..right.num_rows())
                .filter(|&j| !matched_r[j])
                .map(|j| (None, Some(j), None)),
        );
    }
    // Stable, readable order: by left row, then right row.
    if matches!(join, JoinMode::All1 | JoinMode::Or12) {
        rows.sort_by_key(|(i, j, _)| (i.unwrap_or(usize::MAX), j.unwrap_or(usize::MAX)));
    }
    let (use_left, use_right) = match join {
        JoinMode::Not12 => (true, false),
        JoinMode::Not21 => (false, true),
        _ => (true, true),
    };
    let mut cols = Vec::new();
    let clash = |name: &str, other: &Table| use_left && use_right && other.index_of(name).is_some();
    if use_left {
        for c in left.columns() {
            let name = if clash(&c.name, right) {
                format!("{}{}", c.name, suffixes.0)
            } else {
                c.name.clone()
            };
            cols.push(pick(c, rows.iter().map(|r| r.0), name));
        }
    }
    if use_right {
        for c in right.columns() {
            let name = if clash(&c.name, left) {
                format!("{}{}", c.name, suffixes.1)
            } else {
                c.name.clone()
            };
            cols.push(pick(c, rows.iter().map(|r| r.1), name));
        }
    }
    if use_left && use_right {
        let sep: Vec<Value> = rows
            .iter()
            .map(|r| r.2.map_or(Value::Null, Value::Float))
            .collect();
        let mut c = Column::from_values("separation", &sep, Some(DataType::Float));
        c.meta.unit = Some("arcsec".into());
        c.meta.description = Some("Angular separation of the matched positions".into());
        cols.push(c);
    }
    Table::new(cols)
}

fn pick(c: &Column, rows: impl Iterator<Item = Option<usize>>, name: String) -> Column {
    let mut b = ColumnBuilder::new(c.data_type(), 0);
    for r in rows {
        b.push(r.map_or(ValueRef::Null, |i| c.get(i)));
    }
    b.finish(name).with_meta(c.meta.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str, pts: &[(f64, f64)]) -> Table {
        Table::new(vec![
            Column::from_values(
                "name",
                &pts.iter()
                    .enumerate()
                    .map(|(i, _)| Value::Str(format!("{name}{i}")))
                    .collect::<Vec<_>>(),
                None,
            ),
            Column::from_values(
                "ra",
                &pts.iter().map(|p| Value::Float(p.0)).collect::<Vec<_>>(),
                None,
            ),
            Column::from_values(
                "dec",
                &pts.iter().map(|p| Value::Float(p.1)).collect::<Vec<_>>(),
                None,
            ),
        ])
        .unwrap()
    }

    fn pos() -> Position {
        Position {
            ra: "ra".into(),
            dec: "dec".into(),
        }
    }

    #[test]
    fn matches_across_ra_zero_and_near_the_pole() {
        let l = cat("l", &[(359.9999, 0.0), (10.0, 89.9999), (50.0, 10.0)]);
        let r = cat(
            "r",
            &[
                (0.0001, 0.0),
                (190.0, 89.9999),
                (50.0, 10.0 + 40.0 / 3600.0),
            ],
        );
        let t = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            1.0 / 3600.0,
            Find::All,
            JoinMode::And12,
            ("_1", "_2"),
        )
        .unwrap();
        let names: Vec<String> = t
            .column("name_2")
            .unwrap()
            .iter()
            .map(|v| v.display())
            .collect();
        assert_eq!(names, ["r0", "r1"]);
        let sep = t.column("separation").unwrap().get(0).as_f64().unwrap();
        assert!((sep - 0.72).abs() < 1e-6, "{sep}");
    }

    #[test]
    fn best_all_and_join_modes() {
        let l = cat("l", &[(10.0, 10.0), (20.0, 20.0)]);
        let r = cat("r", &[(10.0, 10.001), (10.0, 10.0005), (30.0, 30.0)]);
        let radius = 5.0 / 3600.0;
        let all = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            radius,
            Find::All,
            JoinMode::And12,
            ("_1", "_2"),
        )
        .unwrap();
        assert_eq!(all.num_rows(), 2);
        let best = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            radius,
            Find::Best,
            JoinMode::And12,
            ("_1", "_2"),
        )
        .unwrap();
        assert_eq!(best.row(0)[3], Value::Str("r1".into()));
        let all1 = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            radius,
            Find::Best,
            JoinMode::All1,
            ("_1", "_2"),
        )
        .unwrap();
        assert_eq!(all1.num_rows(), 2);
        assert_eq!(all1.column("name_2").unwrap().get(1), ValueRef::Null);
        let not12 = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            radius,
            Find::All,
            JoinMode::Not12,
            ("_1", "_2"),
        )
        .unwrap();
        assert_eq!(
            not12.column_names().collect::<Vec<_>>(),
            ["name", "ra", "dec"]
        );
        assert_eq!(not12.row(0)[0], Value::Str("l1".into()));
        let not21 = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            radius,
            Find::All,
            JoinMode::Not21,
            ("_1", "_2"),
        )
        .unwrap();
        assert_eq!(not21.row(0)[0], Value::Str("r2".into()));
        let or12 = sky_match(
            (&l, &pos()),
            (&r, &pos()),
            radius,
            Find::Best,
            JoinMode::Or12,
            ("_1", "_2"),
        )
        .unwrap();
        assert_eq!(or12.num_rows(), 1 + 1 + 2);
    }

    #[test]
    fn agrees_with_brute_force_on_random_points() {
        let mut s = 7u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut pts = |n: usize| {
            (0..n)
                .map(|_| (rnd() * 2.0, rnd() * 2.0 - 1.0))
                .collect::<Vec<_>>()
        };
        let (lp, rp) = (pts(300), pts(400));
        let radius = 2.0 / 60.0;
        let t = sky_match(
            (&cat("l", &lp), &pos()),
            (&cat("r", &rp), &pos()),
            radius,
            Find::All,
            JoinMode::And12,
            ("_1", "_2"),
        )
        .unwrap();
        let brute = lp
            .iter()
            .map(|a| {
                rp.iter()
                    .filter(|b| ang_dist_deg(a.0, a.1, b.0, b.1) <= radius)
                    .count()
            })
            .sum::<usize>();
        assert_eq!(t.num_rows(), brute);
        assert!(brute > 10);
    }
}
