//! Relational operations: select, drop, rename, sort, unique, union, join, group.
//!
//! Every operation returns a new table and keeps column metadata. Row order is
//! always deterministic: sort is stable, unique keeps the first (or last)
//! occurrence in input order, join and group emit rows in the order their keys
//! first appear.

use super::column::{Column, ColumnBuilder, DataType};
use super::value::{Value, ValueRef};
use super::{Table, TableError};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

/// Keep only `names`, in that order.
pub fn select(t: &Table, names: &[String]) -> Result<Table, TableError> {
    let cols = names
        .iter()
        .map(|n| t.column(n).cloned())
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Table::new(cols)?;
    if out.num_columns() == 0 {
        out = Table::empty();
    }
    Ok(out)
}

/// Remove `names`.
pub fn drop(t: &Table, names: &[String]) -> Result<Table, TableError> {
    for n in names {
        t.column(n)?;
    }
    let keep: Vec<String> = t
        .column_names()
        .filter(|c| !names.iter().any(|n| n == c))
        .map(str::to_string)
        .collect();
    select_keep_rows(t, &keep)
}

fn select_keep_rows(t: &Table, names: &[String]) -> Result<Table, TableError> {
    let cols = names
        .iter()
        .map(|n| t.column(n).cloned())
        .collect::<Result<Vec<_>, _>>()?;
    Table::new(cols)
}

/// Rename columns (`old → new`).
pub fn rename(t: &Table, map: &[(String, String)]) -> Result<Table, TableError> {
    for (old, _) in map {
        t.column(old)?;
    }
    let cols = t
        .columns()
        .iter()
        .map(|c| match map.iter().find(|(o, _)| *o == c.name) {
            Some((_, new)) => c.clone().renamed(new.clone()),
            None => c.clone(),
        })
        .collect();
    Table::new(cols)
}

/// Where nulls go in a sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NullOrder {
    First,
    #[default]
    Last,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
    pub nulls: NullOrder,
}

/// Stable multi-key sort.
pub fn sort(t: &Table, keys: &[SortKey]) -> Result<Table, TableError> {
    let cols: Vec<(&Column, &SortKey)> = keys
        .iter()
        .map(|k| t.column(&k.column).map(|c| (c, k)))
        .collect::<Result<_, _>>()?;
    let mut idx: Vec<usize> = (0..t.num_rows()).collect();
    // Fast path: one non-null int or float column.
    if let [(c, k)] = cols.as_slice() {
        if c.validity().is_none() {
            match c.data() {
                super::ColumnData::Int(v) => {
                    if k.descending {
                        idx.sort_by(|&a, &b| v[b].cmp(&v[a]));
                    } else {
                        idx.sort_by_key(|&i| v[i]);
                    }
                    return Ok(t.take(&idx));
                }
                super::ColumnData::Float(v) => {
                    if k.descending {
                        idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
                    } else {
                        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
                    }
                    return Ok(t.take(&idx));
                }
                _ => {}
            }
        }
    }
    idx.sort_by(|&a, &b| {
        for (c, k) in &cols {
            let (va, vb) = (c.get(a), c.get(b));
            let ord = match (va.is_null(), vb.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => null_side(k.nulls),
                (false, true) => null_side(k.nulls).reverse(),
                (false, false) => {
                    let o = va.total_cmp(vb);
                    if k.descending { o.reverse() } else { o }
                }
            };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(t.take(&idx))
}

fn null_side(n: NullOrder) -> std::cmp::Ordering {
    match n {
        NullOrder::First => std::cmp::Ordering::Less,
        NullOrder::Last => std::cmp::Ordering::Greater,
    }
}

/// Which duplicate `unique` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    #[default]
    First,
    Last,
}

fn row_hash(cols: &[&Column], row: usize) -> u64 {
    let mut h = DefaultHasher::new();
    for c in cols {
        c.get(row).key_hash(&mut h);
    }
    h.finish()
}

fn rows_eq(a: &[&Column], ra: usize, b: &[&Column], rb: usize) -> bool {
    a.iter()
        .zip(b)
        .all(|(ca, cb)| ca.get(ra).key_eq(cb.get(rb)))
}

/// Groups of equal keys, in first-appearance order: each entry is the list of
/// row indices sharing one key.
pub fn group_rows(t: &Table, keys: &[String]) -> Result<Vec<Vec<usize>>, TableError> {
    let cols: Vec<&Column> = keys.iter().map(|k| t.column(k)).collect::<Result<_, _>>()?;
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for row in 0..t.num_rows() {
        let h = row_hash(&cols, row);
        let bucket = index.entry(h).or_default();
        match bucket
            .iter()
            .find(|&&g| rows_eq(&cols, groups[g][0], &cols, row))
        {
            Some(&g) => groups[g].push(row),
            None => {
                bucket.push(groups.len());
                groups.push(vec![row]);
            }
        }
    }
    Ok(groups)
}

/// Rows with distinct values of `keys` (all columns when `keys` is empty).
/// Returns the table and the number of rows dropped.
pub fn unique(t: &Table, keys: &[String], keep: Keep) -> Result<(Table, usize), TableError> {
    let all: Vec<String>;
    let keys = if keys.is_empty() {
        all = t.column_names().map(str::to_string).collect();
        &all
    } else {
        keys
    };
    let groups = group_rows(t, keys)?;
    let mut idx: Vec<usize> = groups
        .iter()
        .map(|g| match keep {
            Keep::First => g[0],
            Keep::Last => *g.last().expect("groups are non-empty"),
        })
        .collect();
    idx.sort_unstable();
    let dropped = t.num_rows() - idx.len();
    Ok((t.take(&idx), dropped))
}

/// Stack tables. Columns are matched by name in order of first appearance;
/// a column missing from a table is null there; int and float unify to float;
/// other type conflicts are errors.
pub fn union(tables: &[&Table]) -> Result<Table, TableError> {
    let mut schema: Vec<(String, DataType, super::ColumnMeta)> = Vec::new();
    for t in tables {
        for c in t.columns() {
            match schema.iter_mut().find(|(n, _, _)| *n == c.name) {
                Some((_, ty, meta)) => {
                    *ty = ty
                        .unify(c.data_type())
                        .ok_or_else(|| TableError::TypeConflict {
                            name: c.name.clone(),
                            left: *ty,
                            right: c.data_type(),
                        })?;
                    meta.merge_missing(&c.meta);
                }
                None => schema.push((c.name.clone(), c.data_type(), c.meta.clone())),
            }
        }
    }
    let total: usize = tables.iter().map(|t| t.num_rows()).sum();
    let mut cols = Vec::with_capacity(schema.len());
    for (name, ty, meta) in schema {
        let mut b = ColumnBuilder::new(ty, total);
        for t in tables {
            match t.index_of(&name) {
                Some(i) => t.columns()[i].iter().for_each(|v| b.push(v)),
                None => (0..t.num_rows()).for_each(|_| b.push(ValueRef::Null)),
            }
        }
        cols.push(b.finish(name).with_meta(meta));
    }
    Table::new(cols)
}

/// Join kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinHow {
    Inner,
    Left,
}

/// Hash join on equal keys. Non-key columns present on both sides get the
/// suffixes `suffixes.0` / `suffixes.1`. Null keys never match (SQL semantics).
/// Output order: left rows in order, each followed by its matches in right order.
pub fn join(
    left: &Table,
    right: &Table,
    on: &[(String, String)],
    how: JoinHow,
    suffixes: (&str, &str),
) -> Result<Table, TableError> {
    let lk: Vec<&Column> = on
        .iter()
        .map(|(l, _)| left.column(l))
        .collect::<Result<_, _>>()?;
    let rk: Vec<&Column> = on
        .iter()
        .map(|(_, r)| right.column(r))
        .collect::<Result<_, _>>()?;
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for row in 0..right.num_rows() {
        if rk.iter().any(|c| c.is_null(row)) {
            continue;
        }
        index.entry(row_hash(&rk, row)).or_default().push(row);
    }
    let mut li = Vec::new();
    let mut ri: Vec<Option<usize>> = Vec::new();
    for row in 0..left.num_rows() {
        let mut matched = false;
        if !lk.iter().any(|c| c.is_null(row)) {
            if let Some(cands) = index.get(&row_hash(&lk, row)) {
                for &r in cands {
                    if rows_eq(&lk, row, &rk, r) {
                        li.push(row);
                        ri.push(Some(r));
                        matched = true;
                    }
                }
            }
        }
        if !matched && how == JoinHow::Left {
            li.push(row);
            ri.push(None);
        }
    }
    // A key with the same name on both sides appears once; other names that
    // exist on both sides get the suffixes.
    let shared = |name: &str| on.iter().any(|(l, r)| l == r && l == name);
    let mut cols: Vec<Column> = Vec::new();
    for c in left.columns() {
        let clash = !shared(&c.name) && right.index_of(&c.name).is_some();
        let name = if clash {
            format!("{}{}", c.name, suffixes.0)
        } else {
            c.name.clone()
        };
        cols.push(c.take(&li).renamed(name));
    }
    for c in right.columns().iter().filter(|c| !shared(&c.name)) {
        let clash = left.index_of(&c.name).is_some();
        let name = if clash {
            format!("{}{}", c.name, suffixes.1)
        } else {
            c.name.clone()
        };
        let mut b = ColumnBuilder::new(c.data_type(), ri.len());
        for r in &ri {
            b.push(r.map_or(ValueRef::Null, |r| c.get(r)));
        }
        cols.push(b.finish(name).with_meta(c.meta.clone()));
    }
    Table::new(cols)
}

/// Aggregate functions for `group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agg {
    Count,
    CountDistinct(String),
    Sum(String),
    Min(String),
    Max(String),
    Mean(String),
    First(String),
    /// Distinct non-null values joined with a separator, in first-seen order.
    Concat(String, String),
}

/// Group rows by `by` and compute `aggs` (output name, function) per group.
pub fn group(t: &Table, by: &[String], aggs: &[(String, Agg)]) -> Result<Table, TableError> {
    let groups = group_rows(t, by)?;
    let firsts: Vec<usize> = groups.iter().map(|g| g[0]).collect();
    let mut cols: Vec<Column> = by
        .iter()
        .map(|k| t.column(k).map(|c| c.take(&firsts)))
        .collect::<Result<_, _>>()?;
    for (name, agg) in aggs {
        let values: Vec<Value> = groups
            .iter()
            .map(|g| aggregate(t, g, agg))
            .collect::<Result<_, _>>()?;
        let hint = agg_type(t, agg)?;
        let mut col = Column::from_values(name.clone(), &values, hint);
        if let Some(src) = agg_source(agg) {
            if matches!(
                agg,
                Agg::Sum(_) | Agg::Min(_) | Agg::Max(_) | Agg::Mean(_) | Agg::First(_)
            ) {
                col.meta.unit.clone_from(&t.column(src)?.meta.unit);
            }
        }
        cols.push(col);
    }
    Table::new(cols)
}

fn agg_source(agg: &Agg) -> Option<&str> {
    match agg {
        Agg::Count => None,
        Agg::CountDistinct(c)
        | Agg::Sum(c)
        | Agg::Min(c)
        | Agg::Max(c)
        | Agg::Mean(c)
        | Agg::First(c)
        | Agg::Concat(c, _) => Some(c),
    }
}

fn agg_type(t: &Table, agg: &Agg) -> Result<Option<DataType>, TableError> {
    Ok(match agg {
        Agg::Count | Agg::CountDistinct(_) => Some(DataType::Int),
        Agg::Mean(_) => Some(DataType::Float),
        Agg::Concat(..) => Some(DataType::String),
        Agg::Sum(c) if t.column(c)?.data_type() == DataType::Bool => Some(DataType::Int),
        Agg::Sum(c) | Agg::Min(c) | Agg::Max(c) | Agg::First(c) => Some(t.column(c)?.data_type()),
    })
}

fn aggregate(t: &Table, rows: &[usize], agg: &Agg) -> Result<Value, TableError> {
    let col = match agg_source(agg) {
        Some(c) => Some(t.column(c)?),
        None => None,
    };
    let vals = || {
        rows.iter()
            .map(|&r| col.expect("aggregate has a column").get(r))
            .filter(|v| !v.is_null())
    };
    Ok(match agg {
        Agg::Count => Value::Int(rows.len() as i64),
        Agg::CountDistinct(_) => {
            let mut seen: Vec<ValueRef<'_>> = Vec::new();
            for v in vals() {
                if !seen.iter().any(|s| s.key_eq(v)) {
                    seen.push(v);
                }
            }
            Value::Int(seen.len() as i64)
        }
        Agg::Sum(c) => match t.column(c)?.data_type() {
            DataType::Int => Value::Int(
                vals()
                    .filter_map(|v| match v {
                        ValueRef::Int(i) => Some(i),
                        _ => None,
                    })
                    .sum(),
            ),
            DataType::Float => Value::Float(vals().filter_map(ValueRef::as_f64).sum()),
            DataType::Bool => {
                Value::Int(vals().filter(|v| *v == ValueRef::Bool(true)).count() as i64)
            }
            DataType::String => {
                return Err(TableError::Invalid(format!(
                    "cannot sum string column `{c}`"
                )));
            }
        },
        Agg::Min(_) => vals()
            .min_by(|a, b| a.total_cmp(*b))
            .map_or(Value::Null, ValueRef::to_owned),
        Agg::Max(_) => vals()
            .max_by(|a, b| a.total_cmp(*b))
            .map_or(Value::Null, ValueRef::to_owned),
        Agg::Mean(c) => {
            let xs: Vec<f64> = vals().filter_map(ValueRef::as_f64).collect();
            if t.column(c)?.data_type() == DataType::String {
                return Err(TableError::Invalid(format!(
                    "cannot average string column `{c}`"
                )));
            }
            if xs.is_empty() {
                Value::Null
            } else {
                Value::Float(xs.iter().sum::<f64>() / xs.len() as f64)
            }
        }
        Agg::First(_) => rows
            .first()
            .map_or(Value::Null, |&r| col.expect("column").get(r).to_owned()),
        Agg::Concat(_, sep) => {
            let mut seen: Vec<String> = Vec::new();
            for v in vals() {
                let s = v.display();
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            if seen.is_empty() {
                Value::Null
            } else {
                Value::Str(seen.join(sep))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Table {
        Table::new(vec![
            Column::from_values(
                "k",
                &[
                    Value::Str("a".into()),
                    Value::Str("b".into()),
                    Value::Str("a".into()),
                    Value::Null,
                ],
                None,
            ),
            Column::from_values(
                "x",
                &[Value::Int(3), Value::Int(1), Value::Int(2), Value::Int(5)],
                None,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn unique_keeps_first_and_counts_dropped() {
        let (u, dropped) = unique(&t(), &["k".into()], Keep::First).unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(
            u.column("x")
                .unwrap()
                .iter()
                .map(|v| v.to_owned())
                .collect::<Vec<_>>(),
            vec![Value::Int(3), Value::Int(1), Value::Int(5)]
        );
        let (u, _) = unique(&t(), &["k".into()], Keep::Last).unwrap();
        assert_eq!(
            u.column("x")
                .unwrap()
                .iter()
                .map(|v| v.to_owned())
                .collect::<Vec<_>>(),
            vec![Value::Int(1), Value::Int(2), Value::Int(5)]
        );
    }

    #[test]
    fn sort_nulls_last_and_stable() {
        let s = sort(
            &t(),
            &[SortKey {
                column: "k".into(),
                descending: false,
                nulls: NullOrder::Last,
            }],
        )
        .unwrap();
        let x: Vec<_> = s
            .column("x")
            .unwrap()
            .iter()
            .map(|v| v.to_owned())
            .collect();
        assert_eq!(
            x,
            vec![Value::Int(3), Value::Int(2), Value::Int(1), Value::Int(5)]
        );
        let s = sort(
            &t(),
            &[SortKey {
                column: "k".into(),
                descending: true,
                nulls: NullOrder::First,
            }],
        )
        .unwrap();
        let x: Vec<_> = s
            .column("x")
            .unwrap()
            .iter()
            .map(|v| v.to_owned())
            .collect();
        assert_eq!(
            x,
            vec![Value::Int(5), Value::Int(1), Value::Int(3), Value::Int(2)]
        );
    }

    #[test]
    fn union_fills_missing_with_null_and_widens_int() {
        let a = t();
        let b = Table::new(vec![
            Column::from_values("x", &[Value::Float(0.5)], None),
            Column::from_values("y", &[Value::Bool(true)], None),
        ])
        .unwrap();
        let u = union(&[&a, &b]).unwrap();
        assert_eq!(u.num_rows(), 5);
        assert_eq!(u.column("x").unwrap().data_type(), DataType::Float);
        assert_eq!(u.column("y").unwrap().null_count(), 4);
        assert_eq!(u.column("k").unwrap().get(4), ValueRef::Null);
        let c = Table::new(vec![Column::from_values(
            "x",
            &[Value::Str("s".into())],
            None,
        )])
        .unwrap();
        assert!(matches!(
            union(&[&a, &c]),
            Err(TableError::TypeConflict { .. })
        ));
    }

    #[test]
    fn join_inner_left_and_null_keys() {
        let r = Table::new(vec![
            Column::from_values("k", &[Value::Str("a".into()), Value::Null], None),
            Column::from_values("x", &[Value::Int(10), Value::Int(11)], None),
        ])
        .unwrap();
        let on = vec![("k".to_string(), "k".to_string())];
        let j = join(&t(), &r, &on, JoinHow::Inner, ("_1", "_2")).unwrap();
        assert_eq!(j.num_rows(), 2);
        assert_eq!(
            j.column_names().collect::<Vec<_>>(),
            vec!["k", "x_1", "x_2"]
        );
        let j = join(&t(), &r, &on, JoinHow::Left, ("_1", "_2")).unwrap();
        assert_eq!(j.num_rows(), 4);
        assert_eq!(j.column("x_2").unwrap().null_count(), 2);
    }

    #[test]
    fn group_counts_and_sums() {
        let g = group(
            &t(),
            &["k".into()],
            &[
                ("n".into(), Agg::Count),
                ("s".into(), Agg::Sum("x".into())),
                ("m".into(), Agg::Mean("x".into())),
            ],
        )
        .unwrap();
        assert_eq!(g.num_rows(), 3);
        assert_eq!(
            g.row(0),
            vec![
                Value::Str("a".into()),
                Value::Int(2),
                Value::Int(5),
                Value::Float(2.5)
            ]
        );
        assert_eq!(
            g.row(2),
            vec![Value::Null, Value::Int(1), Value::Int(5), Value::Float(5.0)]
        );
    }
}
