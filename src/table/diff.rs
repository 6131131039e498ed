//! Row-level differences between two versions of a table, keyed by columns
//! (obs_id, dataURI, ...): rows added, removed and changed, and columns
//! added or removed.

use super::{Table, TableError, ValueRef};
use serde::Serialize;
use std::collections::BTreeMap;

/// One changed cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellChange {
    pub column: String,
    pub old: String,
    pub new: String,
}

/// One changed row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowChange {
    pub key: String,
    pub cells: Vec<CellChange>,
}

/// The differences between two tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableDiff {
    pub key: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<RowChange>,
    pub columns_added: Vec<String>,
    pub columns_removed: Vec<String>,
    /// Keys that appear on more than one row (the key does not identify rows).
    pub duplicate_keys: usize,
}

impl TableDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.columns_added.is_empty()
            && self.columns_removed.is_empty()
    }
}

/// The key columns to use when none are given: the first of `dataURI`,
/// `obs_id`, `obsid`, `filename`, `fileSetName`, `target` present in both
/// tables; else every common column.
pub fn default_key(old: &Table, new: &Table) -> Vec<String> {
    for k in [
        "dataURI",
        "obs_id",
        "obsid",
        "filename",
        "fileSetName",
        "target",
    ] {
        if old.index_of(k).is_some() && new.index_of(k).is_some() {
            return vec![k.to_string()];
        }
    }
    old.column_names()
        .filter(|c| new.index_of(c).is_some())
        .map(str::to_string)
        .collect()
}

fn key_of(t: &Table, cols: &[usize], row: usize) -> String {
    cols.iter()
        .map(|&c| t.get(row, c).display())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn same(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a.is_null() == b.is_null() && a.display() == b.display(),
    }
}

/// Compare `old` with `new` keyed by `key`.
pub fn diff(old: &Table, new: &Table, key: &[String]) -> Result<TableDiff, TableError> {
    let idx = |t: &Table| -> Result<Vec<usize>, TableError> {
        key.iter()
            .map(|k| t.index_of(k).ok_or_else(|| t.no_such_column(k)))
            .collect()
    };
    let (ok, nk) = (idx(old)?, idx(new)?);
    let mut duplicate_keys = 0;
    let mut rows = |t: &Table, cols: &[usize]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in 0..t.num_rows() {
            if m.insert(key_of(t, cols, r), r).is_some() {
                duplicate_keys += 1;
            }
        }
        m
    };
    let (orows, nrows) = (rows(old, &ok), rows(new, &nk));
    let common: Vec<(String, usize, usize)> = old
        .column_names()
        .enumerate()
        .filter_map(|(i, c)| new.index_of(c).map(|j| (c.to_string(), i, j)))
        .filter(|(c, ..)| !key.contains(c))
        .collect();
    let mut d = TableDiff {
        key: key.to_vec(),
        columns_added: new
            .column_names()
            .filter(|c| old.index_of(c).is_none())
            .map(str::to_string)
            .collect(),
        columns_removed: old
            .column_names()
            .filter(|c| new.index_of(c).is_none())
            .map(str::to_string)
            .collect(),
        duplicate_keys,
        ..TableDiff::default()
    };
    for (k, &nr) in &nrows {
        match orows.get(k) {
            None => d.added.push(k.clone()),
            Some(&or) => {
                let cells: Vec<CellChange> = common
                    .iter()
                    .filter(|(_, i, j)| !same(old.get(or, *i), new.get(nr, *j)))
                    .map(|(c, i, j)| CellChange {
                        column: c.clone(),
                        old: old.get(or, *i).display(),
                        new: new.get(nr, *j).display(),
                    })
                    .collect();
                if !cells.is_empty() {
                    d.changed.push(RowChange {
                        key: k.clone(),
                        cells,
                    });
                }
            }
        }
    }
    d.removed = orows
        .keys()
        .filter(|k| !nrows.contains_key(*k))
        .cloned()
        .collect();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Value};

    fn t(rows: &[(&str, i64, f64)]) -> Table {
        Table::new(vec![
            Column::from_values(
                "obs_id",
                &rows
                    .iter()
                    .map(|r| Value::Str(r.0.into()))
                    .collect::<Vec<_>>(),
                None,
            ),
            Column::from_values(
                "calib_level",
                &rows.iter().map(|r| Value::Int(r.1)).collect::<Vec<_>>(),
                None,
            ),
            Column::from_values(
                "t_exptime",
                &rows.iter().map(|r| Value::Float(r.2)).collect::<Vec<_>>(),
                None,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn added_removed_changed_by_key() {
        let old = t(&[("a", -1, 100.0), ("b", 3, 50.0), ("c", 2, 10.0)]);
        let new = t(&[("c", 2, 10.0), ("a", 3, 100.0), ("d", 2, 7.5)]);
        let d = diff(&old, &new, &default_key(&old, &new)).unwrap();
        assert_eq!(d.key, ["obs_id"]);
        assert_eq!(d.added, ["d"]);
        assert_eq!(d.removed, ["b"]);
        assert_eq!(
            d.changed,
            [RowChange {
                key: "a".into(),
                cells: vec![CellChange {
                    column: "calib_level".into(),
                    old: "-1".into(),
                    new: "3".into()
                }]
            }]
        );
        assert!(
            diff(&old, &old, &["obs_id".to_string()])
                .unwrap()
                .is_empty()
        );
        assert!(diff(&old, &new, &["nope".to_string()]).is_err());
    }
}
