//! Server-side cross-match (`crossmatch` with `against:`): the left table as
//! the request's upload, with its positions in degrees, and each matched row
//! attributed to the uploaded row (the target) it matched.

use super::StepError;
use crate::table::xmatch::{Position, coords};
use crate::table::{Column, ColumnData, Table};

/// The rows sent to MAST, and how many were left out for want of a position.
pub struct Upload {
    pub table: Table,
    pub skipped: usize,
}

/// The batch to upload: the position columns (`raColumn`, `decColumn` of
/// `params`) as degrees, sexagesimal text converted exactly as a local
/// match converts it; rows without a position are left out.
pub fn prepare(batch: &Table, params: &serde_json::Value) -> Result<Upload, StepError> {
    let name = |k: &str, d: &str| {
        params
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or(d)
            .to_string()
    };
    let p = Position {
        ra: name("raColumn", "ra"),
        dec: name("decColumn", "dec"),
    };
    let pos = coords(batch, &p, "left").map_err(|e| {
        StepError::Invalid(format!(
            "{e}; write degrees (`83.82`, `-5.39`) or sexagesimal (RA in hours `05:35:17.3` or `05h35m17.3s`, Dec in degrees `-05:23:28`)"
        ))
    })?;
    let keep: Vec<usize> = (0..pos.len()).filter(|&i| pos[i].is_some()).collect();
    let mut table = batch.take(&keep);
    let (ra, dec): (Vec<f64>, Vec<f64>) = pos.into_iter().flatten().unzip();
    table.set_column(Column::new(p.ra, ColumnData::Float(ra), None))?;
    table.set_column(Column::new(p.dec, ColumnData::Float(dec), None))?;
    Ok(Upload {
        skipped: batch.num_rows() - keep.len(),
        table,
    })
}

/// Make every row of MAST's answer `t` say which uploaded row it matched.
/// MAST's crossmatch services answer each match with the uploaded row's
/// columns beside the catalogue's; an answer without them is completed here
/// when the upload had a single row (or the answer no rows), and otherwise
/// gives the warning returned.
pub fn attribute(t: &mut Table, sent: &Table) -> Result<Option<String>, StepError> {
    let missing: Vec<&Column> = sent
        .columns()
        .iter()
        .filter(|c| t.index_of(&c.name).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    if sent.num_rows() > 1 && t.num_rows() > 0 {
        let names: Vec<&str> = missing.iter().map(|c| c.name.as_str()).collect();
        return Ok(Some(format!(
            "warning: MAST's crossmatch answer has no column `{}` of the uploaded table, so its rows don't say which target they matched; match one target per step, or search `caom` and match locally with `right:`",
            names.join("`, `")
        )));
    }
    let rows = vec![0; t.num_rows()];
    for c in missing {
        t.push_column(c.take(&rows))?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{DataType, Value};
    use serde_json::json;

    fn strs(name: &str, v: &[Option<&str>]) -> Column {
        let vals: Vec<Value> = v
            .iter()
            .map(|s| s.map_or(Value::Null, |s| Value::Str(s.into())))
            .collect();
        Column::from_values(name, &vals, Some(DataType::String))
    }

    fn targets() -> Table {
        Table::new(vec![
            strs("name", &[Some("a"), Some("b"), Some("c")]),
            strs("ra", &[Some("05:35:17.3"), None, Some("05h35m17.3s")]),
            strs("dec", &[Some("-05:23:28"), None, Some("-05d23m28s")]),
        ])
        .unwrap()
    }

    #[test]
    fn sexagesimal_positions_are_sent_as_degrees() {
        let u = prepare(&targets(), &json!({"raColumn": "ra", "decColumn": "dec"})).unwrap();
        assert_eq!(u.skipped, 1);
        assert_eq!(u.table.num_rows(), 2);
        let ra = u.table.column("ra").unwrap();
        let dec = u.table.column("dec").unwrap();
        assert_eq!(ra.data_type(), DataType::Float);
        // 5h35m17.3s = 83.822083...°; -5°23'28" = -5.391111...°
        for r in 0..2 {
            assert!((ra.get(r).as_f64().unwrap() - 83.822_083_333_333_33).abs() < 1e-9);
            assert!((dec.get(r).as_f64().unwrap() + 5.391_111_111_111_111).abs() < 1e-9);
        }
        assert_eq!(u.table.column("name").unwrap().get(1).display(), "c");
    }

    #[test]
    fn a_position_that_is_not_one_is_refused_with_the_fix() {
        let t = Table::new(vec![
            strs("ra", &[Some("5:35")]),
            strs("dec", &[Some("north")]),
        ])
        .unwrap();
        let e = prepare(&t, &json!({})).err().unwrap().to_string();
        assert!(e.contains("left row 0"), "{e}");
        assert!(e.contains("north"), "{e}");
        assert!(e.contains("05:35:17.3"), "{e}");
    }

    #[test]
    fn an_answer_without_the_targets_is_completed_for_one_target_or_warned() {
        let sent = prepare(&targets(), &json!({})).unwrap().table;
        let answer = || Table::new(vec![strs("obs_id", &[Some("o1")])]).unwrap();
        let mut t = answer();
        let w = attribute(&mut t, &sent).unwrap().unwrap();
        assert!(w.contains("no column `name`, `ra`, `dec`"), "{w}");
        let one = sent.take(&[1]);
        let mut t = answer();
        assert!(attribute(&mut t, &one).unwrap().is_none());
        assert_eq!(t.column("name").unwrap().get(0).display(), "c");
    }
}
