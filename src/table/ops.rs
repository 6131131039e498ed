//! Relational operations: select, drop, rename, sort, unique, union, join, group.
//!
//! Every operation returns a new table and keeps column metadata. Row order is
//! always deterministic: sort is stable, unique keeps the first (or last)
//! occurrence in input order, join and group emit rows in the order their keys
//! first appear.

use super::column::{Column, ColumnBuilder, ColumnData, DataType, StrData};
use super::value::{Value, ValueRef};
use super::{Table, TableError};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};

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
///
/// Each key column is first encoded as one `u64` per row whose unsigned order
/// is the column's order (ints and floats by their bits, bools as 0/1,
/// strings by their rank among the column's distinct values), reversed for a
/// descending key, with a separate word placing nulls first or last. Rows are
/// then sorted on those words with the row index as the last word, so the
/// (unstable, faster) sort gives exactly the stable order of
/// [`ValueRef::total_cmp`] with nulls placed per key.
pub fn sort(t: &Table, keys: &[SortKey]) -> Result<Table, TableError> {
    let cols: Vec<(&Column, &SortKey)> = keys
        .iter()
        .map(|k| t.column(&k.column).map(|c| (c, k)))
        .collect::<Result<_, _>>()?;
    let idx = sorted_indices(&cols, t.num_rows());
    Ok(t.take(&idx))
}

/// The row order of a stable sort on `cols` (see [`sort`]).
fn sorted_indices(cols: &[(&Column, &SortKey)], n: usize) -> Vec<usize> {
    // Words of each row, most significant first.
    let mut words: Vec<Vec<u64>> = Vec::new();
    for (c, k) in cols {
        let kc = KeyCol::new(c);
        if let Some(valid) = kc.validity {
            let (null, value) = match k.nulls {
                NullOrder::First => (0, 1),
                NullOrder::Last => (1, 0),
            };
            words.push(
                valid
                    .iter()
                    .map(|&ok| if ok { value } else { null })
                    .collect(),
            );
        }
        let mut enc = order_words(&kc);
        if k.descending {
            enc.iter_mut().for_each(|w| *w = !*w);
        }
        if let Some(valid) = kc.validity {
            // Equal among nulls, whatever the placeholder value.
            enc.iter_mut()
                .zip(valid)
                .filter(|(_, ok)| !**ok)
                .for_each(|(w, _)| *w = 0);
        }
        words.push(enc);
    }
    match words.as_slice() {
        [] => (0..n).collect(),
        [a] => {
            let mut v: Vec<(u64, usize)> = a.iter().copied().zip(0..n).collect();
            v.sort_unstable();
            v.into_iter().map(|(_, i)| i).collect()
        }
        [a, b] => {
            let mut v: Vec<(u64, u64, usize)> = a
                .iter()
                .zip(b)
                .zip(0..n)
                .map(|((&x, &y), i)| (x, y, i))
                .collect();
            v.sort_unstable();
            v.into_iter().map(|(_, _, i)| i).collect()
        }
        _ => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_unstable_by(|&a, &b| {
                for w in &words {
                    match w[a].cmp(&w[b]) {
                        std::cmp::Ordering::Equal => {}
                        o => return o,
                    }
                }
                a.cmp(&b)
            });
            idx
        }
    }
}

/// One `u64` per row whose unsigned order is [`ValueRef::total_cmp`]'s order
/// on the column's (non-null) values.
fn order_words(c: &KeyCol<'_>) -> Vec<u64> {
    const SIGN: u64 = 1 << 63;
    match c.data {
        KeyData::Bool(v) => v.iter().map(|&b| u64::from(b)).collect(),
        KeyData::Int(v) => v.iter().map(|&x| (x as u64) ^ SIGN).collect(),
        // The bit trick of `f64::total_cmp`, made unsigned.
        KeyData::Float(v) => v
            .iter()
            .map(|&x| {
                let b = x.to_bits() as i64;
                ((b ^ ((((b >> 63) as u64) >> 1) as i64)) as u64) ^ SIGN
            })
            .collect(),
        KeyData::Str(s) => {
            // Rank of each row's string among the distinct strings.
            let only = [*c];
            let mut g = Grouper::new(&only, s.len());
            let mut group_of = Vec::with_capacity(s.len());
            for row in 0..s.len() {
                group_of.push(g.find_or_insert(row).0);
            }
            let firsts = g.into_firsts();
            let mut by_text: Vec<usize> = (0..firsts.len()).collect();
            by_text.sort_unstable_by(|&a, &b| s.get(firsts[a]).cmp(s.get(firsts[b])));
            let mut rank = vec![0u64; firsts.len()];
            for (r, &gid) in by_text.iter().enumerate() {
                rank[gid] = r as u64;
            }
            group_of.into_iter().map(|gid| rank[gid]).collect()
        }
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

/// A key column seen through its typed storage, for hashing and comparing
/// rows without building a [`ValueRef`] per cell.
#[derive(Clone, Copy)]
struct KeyCol<'a> {
    data: KeyData<'a>,
    validity: Option<&'a [bool]>,
}

#[derive(Clone, Copy)]
enum KeyData<'a> {
    Bool(&'a [bool]),
    Int(&'a [i64]),
    Float(&'a [f64]),
    Str(&'a StrData),
}

impl<'a> KeyCol<'a> {
    fn new(c: &'a Column) -> Self {
        let data = match c.data() {
            ColumnData::Bool(v) => KeyData::Bool(v),
            ColumnData::Int(v) => KeyData::Int(v),
            ColumnData::Float(v) => KeyData::Float(v),
            ColumnData::Str(v) => KeyData::Str(v),
        };
        Self {
            data,
            validity: c.validity(),
        }
    }

    fn is_null(&self, i: usize) -> bool {
        self.validity.is_some_and(|v| !v[i])
    }

    fn same_type(&self, other: &KeyCol<'_>) -> bool {
        std::mem::discriminant(&self.data) == std::mem::discriminant(&other.data)
    }

    /// Hash of row `i`, consistent with [`KeyCol::eq`] between columns of one type.
    fn hash(&self, i: usize, h: &mut FastHasher) {
        if self.is_null(i) {
            h.add(0x6e75_6c6c);
            return;
        }
        match self.data {
            KeyData::Bool(v) => h.add(u64::from(v[i]) + 1),
            KeyData::Int(v) => h.add(v[i] as u64),
            KeyData::Float(v) => h.add(v[i].to_bits()),
            KeyData::Str(s) => h.add_bytes(s.get(i).as_bytes()),
        }
    }

    /// [`ValueRef::key_eq`] of row `i` of `self` and row `j` of `other`, both
    /// of the same type (the caller checks).
    fn eq(&self, i: usize, other: &KeyCol<'_>, j: usize) -> bool {
        match (self.is_null(i), other.is_null(j)) {
            (true, true) => return true,
            (false, false) => {}
            _ => return false,
        }
        match (self.data, other.data) {
            (KeyData::Bool(a), KeyData::Bool(b)) => a[i] == b[j],
            (KeyData::Int(a), KeyData::Int(b)) => a[i] == b[j],
            // total_cmp equality: identical bits (so -0 != 0, NaN == same NaN).
            (KeyData::Float(a), KeyData::Float(b)) => a[i].to_bits() == b[j].to_bits(),
            (KeyData::Str(a), KeyData::Str(b)) => a.get(i) == b.get(j),
            _ => false,
        }
    }
}

fn key_cols<'a>(cols: &[&'a Column]) -> Vec<KeyCol<'a>> {
    cols.iter().map(|c| KeyCol::new(c)).collect()
}

fn key_hash(cols: &[KeyCol<'_>], row: usize) -> u64 {
    let mut h = FastHasher::default();
    for c in cols {
        c.hash(row, &mut h);
    }
    h.finish()
}

fn keys_eq(a: &[KeyCol<'_>], ra: usize, b: &[KeyCol<'_>], rb: usize) -> bool {
    a.iter().zip(b).all(|(ca, cb)| ca.eq(ra, cb, rb))
}

/// A small, fast, deterministic hasher for row keys (multiply-add over 64-bit
/// words, finished with a full avalanche so any bits can index a table).
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, x: u64) {
        self.0 = self.0.wrapping_add(x).wrapping_mul(Self::K);
    }

    fn add_bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last));
        self.add(b.len() as u64);
    }

    fn finish(self) -> u64 {
        // murmur3's fmix64
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// A `Hasher` for keys that are already well-mixed hashes.
#[derive(Default)]
struct PassHasher(u64);

impl Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Assigns dense group ids to rows by key, in first-appearance order: an
/// open-addressing table of group ids, each group remembering its hash and
/// its first row (the row its key is compared against).
struct Grouper<'a, 'c> {
    cols: &'c [KeyCol<'a>],
    /// (hash, group id) per slot, group `EMPTY` when free; the hash sits in
    /// the slot so a probe touches the group's row only on a hash match.
    /// Length is a power of two.
    slots: Vec<(u64, usize)>,
    firsts: Vec<usize>,
}

impl<'a, 'c> Grouper<'a, 'c> {
    const EMPTY: usize = usize::MAX;

    fn new(cols: &'c [KeyCol<'a>], rows_hint: usize) -> Self {
        // Start small (low-cardinality keys stay in cache) and grow.
        let cap = (rows_hint.min(1 << 12) * 2).next_power_of_two().max(16);
        Self {
            cols,
            slots: vec![(0, Self::EMPTY); cap],
            firsts: Vec::new(),
        }
    }

    /// The group of `row`, and whether it is new.
    fn find_or_insert(&mut self, row: usize) -> (usize, bool) {
        let h = key_hash(self.cols, row);
        let mask = self.slots.len() - 1;
        let mut pos = (h as usize) & mask;
        loop {
            let (sh, g) = self.slots[pos];
            if g == Self::EMPTY {
                let id = self.firsts.len();
                self.slots[pos] = (h, id);
                self.firsts.push(row);
                if self.firsts.len() * 2 > self.slots.len() {
                    self.grow();
                }
                return (id, true);
            }
            if sh == h && keys_eq(self.cols, self.firsts[g], self.cols, row) {
                return (g, false);
            }
            pos = (pos + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let mask = cap - 1;
        let old = std::mem::replace(&mut self.slots, vec![(0, Self::EMPTY); cap]);
        for (h, g) in old.into_iter().filter(|&(_, g)| g != Self::EMPTY) {
            let mut pos = (h as usize) & mask;
            while self.slots[pos].1 != Self::EMPTY {
                pos = (pos + 1) & mask;
            }
            self.slots[pos] = (h, g);
        }
    }

    /// First row of each group, by group id.
    fn into_firsts(self) -> Vec<usize> {
        self.firsts
    }
}

/// Groups of equal keys, in first-appearance order: each entry is the list of
/// row indices sharing one key.
pub fn group_rows(t: &Table, keys: &[String]) -> Result<Vec<Vec<usize>>, TableError> {
    let cols: Vec<&Column> = keys.iter().map(|k| t.column(k)).collect::<Result<_, _>>()?;
    let kc = key_cols(&cols);
    let mut g = Grouper::new(&kc, t.num_rows());
    let group_of: Vec<usize> = (0..t.num_rows())
        .map(|row| g.find_or_insert(row).0)
        .collect();
    let mut sizes = vec![0usize; g.firsts.len()];
    for &gid in &group_of {
        sizes[gid] += 1;
    }
    let mut groups: Vec<Vec<usize>> = sizes.into_iter().map(Vec::with_capacity).collect();
    for (row, gid) in group_of.into_iter().enumerate() {
        groups[gid].push(row);
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
    let cols: Vec<&Column> = keys.iter().map(|k| t.column(k)).collect::<Result<_, _>>()?;
    let kc = key_cols(&cols);
    let mut g = Grouper::new(&kc, t.num_rows());
    let idx: Vec<usize> = match keep {
        // A group's first row is the row that created it: already in order.
        Keep::First => (0..t.num_rows())
            .filter(|&row| g.find_or_insert(row).1)
            .collect(),
        Keep::Last => {
            let mut last: Vec<usize> = Vec::new();
            for row in 0..t.num_rows() {
                let (gid, new) = g.find_or_insert(row);
                if new {
                    last.push(row);
                } else {
                    last[gid] = row;
                }
            }
            last.sort_unstable();
            last
        }
    };
    let dropped = t.num_rows() - idx.len();
    Ok((t.take(&idx), dropped))
}

/// Stack tables. Columns are matched by name in order of first appearance;
/// a column missing from a table is null there; int and float unify to float;
/// other type conflicts are errors.
pub fn union(tables: &[&Table]) -> Result<Table, TableError> {
    // (name, type, metadata, whether the type came from an empty column).
    let mut schema: Vec<(String, DataType, super::ColumnMeta, bool)> = Vec::new();
    for t in tables {
        // An empty table's column types were inferred from no values: they
        // yield to the types of columns that have rows.
        let empty = t.num_rows() == 0;
        for c in t.columns() {
            match schema.iter_mut().find(|(n, ..)| *n == c.name) {
                Some((_, ty, meta, guessed)) => {
                    if empty {
                        // keep the type we have
                    } else if *guessed {
                        *ty = c.data_type();
                        *guessed = false;
                    } else {
                        *ty = ty
                            .unify(c.data_type())
                            .ok_or_else(|| TableError::TypeConflict {
                                name: c.name.clone(),
                                left: *ty,
                                right: c.data_type(),
                            })?;
                    }
                    meta.merge_missing(&c.meta);
                }
                None => schema.push((c.name.clone(), c.data_type(), c.meta.clone(), empty)),
            }
        }
    }
    let total: usize = tables.iter().map(|t| t.num_rows()).sum();
    let mut cols = Vec::with_capacity(schema.len());
    for (name, ty, meta, _) in schema {
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
    // Typed hashing and comparison when each key pair has one type; the
    // general `ValueRef` path when ints meet floats (1 == 1.0).
    let (lkc, rkc) = (key_cols(&lk), key_cols(&rk));
    let typed = lkc.iter().zip(&rkc).all(|(a, b)| a.same_type(b));
    let hash_l = |row: usize| {
        if typed {
            key_hash(&lkc, row)
        } else {
            row_hash(&lk, row)
        }
    };
    let hash_r = |row: usize| {
        if typed {
            key_hash(&rkc, row)
        } else {
            row_hash(&rk, row)
        }
    };
    let eq = |l: usize, r: usize| {
        if typed {
            keys_eq(&lkc, l, &rkc, r)
        } else {
            rows_eq(&lk, l, &rk, r)
        }
    };
    let mut index: HashMap<u64, Vec<usize>, BuildHasherDefault<PassHasher>> = HashMap::default();
    for row in 0..right.num_rows() {
        if rkc.iter().any(|c| c.is_null(row)) {
            continue;
        }
        index.entry(hash_r(row)).or_default().push(row);
    }
    let mut li = Vec::new();
    let mut ri: Vec<Option<usize>> = Vec::new();
    for row in 0..left.num_rows() {
        let mut matched = false;
        if !lkc.iter().any(|c| c.is_null(row)) {
            if let Some(cands) = index.get(&hash_l(row)) {
                for &r in cands {
                    if eq(row, r) {
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
        if let Some(src) = agg.column() {
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

impl Agg {
    /// The column the aggregate reads (`count` reads none).
    pub fn column(&self) -> Option<&str> {
        match self {
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
    let col = match agg.column() {
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
            // Distinct under `key_eq` (one column, so one type): hashed.
            let c = col.expect("aggregate has a column");
            let kc = [KeyCol::new(c)];
            let mut g = Grouper::new(&kc, rows.len());
            let n = rows
                .iter()
                .filter(|&&r| !c.is_null(r) && g.find_or_insert(r).1)
                .count();
            Value::Int(n as i64)
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
            // Distinct texts in first-seen order.
            let seen: indexmap::IndexSet<String> = vals().map(ValueRef::display).collect();
            if seen.is_empty() {
                Value::Null
            } else {
                Value::Str(seen.into_iter().collect::<Vec<_>>().join(sep))
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
    fn union_lets_empty_tables_yield_their_guessed_types() {
        let empty = Table::new(vec![Column::from_values("x", &[], None)]).unwrap();
        assert_eq!(empty.column("x").unwrap().data_type(), DataType::String);
        let ints = Table::new(vec![Column::from_values("x", &[Value::Int(1)], None)]).unwrap();
        for order in [[&empty, &ints], [&ints, &empty]] {
            let u = union(&order).unwrap();
            assert_eq!(u.column("x").unwrap().data_type(), DataType::Int);
            assert_eq!(u.num_rows(), 1);
        }
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

    // ---- The previous (straightforward) algorithms, kept as the reference
    // the optimised ones must agree with exactly.

    fn null_side(n: NullOrder) -> std::cmp::Ordering {
        match n {
            NullOrder::First => std::cmp::Ordering::Less,
            NullOrder::Last => std::cmp::Ordering::Greater,
        }
    }

    fn reference_sort(t: &Table, keys: &[SortKey]) -> Table {
        let cols: Vec<(&Column, &SortKey)> = keys
            .iter()
            .map(|k| (t.column(&k.column).unwrap(), k))
            .collect();
        let mut idx: Vec<usize> = (0..t.num_rows()).collect();
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
        t.take(&idx)
    }

    fn reference_group_rows(t: &Table, keys: &[String]) -> Vec<Vec<usize>> {
        let cols: Vec<&Column> = keys.iter().map(|k| t.column(k).unwrap()).collect();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for row in 0..t.num_rows() {
            match groups.iter().position(|g| rows_eq(&cols, g[0], &cols, row)) {
                Some(g) => groups[g].push(row),
                None => groups.push(vec![row]),
            }
        }
        groups
    }

    fn reference_unique(t: &Table, keys: &[String], keep: Keep) -> (Table, usize) {
        let all: Vec<String> = t.column_names().map(str::to_string).collect();
        let keys = if keys.is_empty() { &all } else { keys };
        let mut idx: Vec<usize> = reference_group_rows(t, keys)
            .iter()
            .map(|g| {
                if keep == Keep::First {
                    g[0]
                } else {
                    *g.last().unwrap()
                }
            })
            .collect();
        idx.sort_unstable();
        (t.take(&idx), t.num_rows() - idx.len())
    }

    fn reference_join(
        left: &Table,
        right: &Table,
        on: &[(String, String)],
        how: JoinHow,
    ) -> Vec<(usize, Option<usize>)> {
        let lk: Vec<&Column> = on.iter().map(|(l, _)| left.column(l).unwrap()).collect();
        let rk: Vec<&Column> = on.iter().map(|(_, r)| right.column(r).unwrap()).collect();
        let mut out = Vec::new();
        for l in 0..left.num_rows() {
            let mut matched = false;
            if !lk.iter().any(|c| c.is_null(l)) {
                for r in 0..right.num_rows() {
                    if !rk.iter().any(|c| c.is_null(r)) && rows_eq(&lk, l, &rk, r) {
                        out.push((l, Some(r)));
                        matched = true;
                    }
                }
            }
            if !matched && how == JoinHow::Left {
                out.push((l, None));
            }
        }
        out
    }

    /// Rows as owned values, with floats compared by bits (NaN, -0.0).
    fn rows_of(t: &Table) -> Vec<Vec<String>> {
        (0..t.num_rows())
            .map(|i| {
                t.row(i)
                    .into_iter()
                    .map(|v| match v {
                        Value::Float(f) => format!("f{:x}", f.to_bits()),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    use proptest::prelude::*;

    fn cell(kind: u8) -> BoxedStrategy<Value> {
        let null = Just(Value::Null).boxed();
        let v = match kind {
            0 => (-3i64..4).prop_map(Value::Int).boxed(),
            1 => prop::sample::select(vec![
                0.0,
                -0.0,
                1.5,
                -2.25,
                f64::NAN,
                -f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1e300,
                3.0,
            ])
            .prop_map(Value::Float)
            .boxed(),
            2 => prop::sample::select(vec![
                "",
                "a",
                "ab",
                "b",
                "B",
                "jw01366",
                "jw01366001",
                "é",
                "zz\u{1F600}",
                "a b,c",
            ])
            .prop_map(|s: &str| Value::Str(s.to_string()))
            .boxed(),
            _ => any::<bool>().prop_map(Value::Bool).boxed(),
        };
        prop_oneof![1 => null, 5 => v].boxed()
    }

    /// A table of up to 40 rows with one column of each type (names i, f, s, b)
    /// plus a second int column `j`.
    fn arb_table() -> impl Strategy<Value = Table> {
        (0usize..40).prop_flat_map(|n| {
            (
                prop::collection::vec(cell(0), n),
                prop::collection::vec(cell(1), n),
                prop::collection::vec(cell(2), n),
                prop::collection::vec(cell(3), n),
                prop::collection::vec(cell(0), n),
            )
                .prop_map(|(i, f, s, b, j)| {
                    Table::new(vec![
                        Column::from_values("i", &i, Some(DataType::Int)),
                        Column::from_values("f", &f, Some(DataType::Float)),
                        Column::from_values("s", &s, Some(DataType::String)),
                        Column::from_values("b", &b, Some(DataType::Bool)),
                        Column::from_values("j", &j, Some(DataType::Int)),
                    ])
                    .unwrap()
                })
        })
    }

    fn arb_keys() -> impl Strategy<Value = Vec<SortKey>> {
        prop::collection::vec(
            (
                prop::sample::select(vec!["i", "f", "s", "b", "j"]),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(c, d, nf)| SortKey {
                    column: c.to_string(),
                    descending: d,
                    nulls: if nf {
                        NullOrder::First
                    } else {
                        NullOrder::Last
                    },
                }),
            0..4,
        )
    }

    fn arb_names() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop::sample::select(vec!["i", "f", "s", "b", "j"]).prop_map(str::to_string),
            0..3,
        )
    }

    proptest! {
        #[test]
        fn sort_matches_reference(t in arb_table(), keys in arb_keys()) {
            prop_assert_eq!(rows_of(&sort(&t, &keys).unwrap()), rows_of(&reference_sort(&t, &keys)));
        }

        #[test]
        fn unique_and_group_rows_match_reference(t in arb_table(), keys in arb_names(), last in any::<bool>()) {
            let keep = if last { Keep::Last } else { Keep::First };
            let (u, d) = unique(&t, &keys, keep).unwrap();
            let (r, rd) = reference_unique(&t, &keys, keep);
            prop_assert_eq!(d, rd);
            prop_assert_eq!(rows_of(&u), rows_of(&r));
            let keys: Vec<String> = if keys.is_empty() { vec!["s".into()] } else { keys };
            prop_assert_eq!(group_rows(&t, &keys).unwrap(), reference_group_rows(&t, &keys));
        }

        #[test]
        fn join_matches_reference(l in arb_table(), r in arb_table(), pairs in prop::collection::vec(
            prop::sample::select(vec![("i", "i"), ("i", "f"), ("f", "i"), ("s", "s"), ("f", "f"), ("b", "b"), ("j", "i")]), 1..3),
            left in any::<bool>()) {
            let on: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            let how = if left { JoinHow::Left } else { JoinHow::Inner };
            let expected = reference_join(&l, &r, &on, how);
            // Row numbers on each side identify the rows the join paired.
            let number = |t: &Table, name: &str| {
                let mut t = t.clone();
                let rows: Vec<Value> = (0..t.num_rows() as i64).map(Value::Int).collect();
                t.push_column(Column::from_values(name, &rows, Some(DataType::Int))).unwrap();
                t
            };
            let j = join(&number(&l, "lrow"), &number(&r, "rrow"), &on, how, ("_1", "_2")).unwrap();
            let got: Vec<(usize, Option<usize>)> = (0..j.num_rows())
                .map(|x| {
                    let lrow = match j.column("lrow").unwrap().get(x) { ValueRef::Int(v) => v as usize, _ => usize::MAX };
                    let rrow = match j.column("rrow").unwrap().get(x) { ValueRef::Int(v) => Some(v as usize), _ => None };
                    (lrow, rrow)
                })
                .collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn count_distinct_and_concat_match_reference(t in arb_table()) {
            let aggs = vec![
                ("ni".to_string(), Agg::CountDistinct("i".into())),
                ("nf".to_string(), Agg::CountDistinct("f".into())),
                ("ns".to_string(), Agg::CountDistinct("s".into())),
                ("cs".to_string(), Agg::Concat("s".into(), ";".into())),
                ("cf".to_string(), Agg::Concat("f".into(), ";".into())),
            ];
            let g = group(&t, &["b".into()], &aggs).unwrap();
            for (gi, rows) in reference_group_rows(&t, &["b".into()]).iter().enumerate() {
                for (ci, c) in [(1, "i"), (2, "f"), (3, "s")] {
                    let col = t.column(c).unwrap();
                    let mut seen: Vec<ValueRef<'_>> = Vec::new();
                    for v in rows.iter().map(|&r| col.get(r)).filter(|v| !v.is_null()) {
                        if !seen.iter().any(|s| s.key_eq(v)) {
                            seen.push(v);
                        }
                    }
                    prop_assert_eq!(g.get(gi, ci).to_owned(), Value::Int(seen.len() as i64));
                }
                for (ci, c) in [(4, "s"), (5, "f")] {
                    let col = t.column(c).unwrap();
                    let mut seen: Vec<String> = Vec::new();
                    for v in rows.iter().map(|&r| col.get(r)).filter(|v| !v.is_null()) {
                        let s = v.display();
                        if !seen.contains(&s) {
                            seen.push(s);
                        }
                    }
                    let want = if seen.is_empty() { Value::Null } else { Value::Str(seen.join(";")) };
                    prop_assert_eq!(g.get(gi, ci).to_owned(), want);
                }
            }
        }
    }

    #[test]
    fn sort_orders_floats_like_total_cmp_and_strings_by_bytes() {
        let t = Table::new(vec![
            Column::from_values(
                "f",
                &[
                    Value::Float(1.0),
                    Value::Float(-0.0),
                    Value::Float(f64::NAN),
                    Value::Float(0.0),
                    Value::Float(f64::NEG_INFINITY),
                    Value::Null,
                ],
                None,
            ),
            Column::from_values(
                "s",
                &[
                    Value::Str("b".into()),
                    Value::Str("B".into()),
                    Value::Str("é".into()),
                    Value::Str("".into()),
                    Value::Str("ab".into()),
                    Value::Str("a".into()),
                ],
                None,
            ),
        ])
        .unwrap();
        let f = |t: &Table| {
            t.column("f")
                .unwrap()
                .iter()
                .map(|v| v.display())
                .collect::<Vec<_>>()
        };
        let s = sort(
            &t,
            &[SortKey {
                column: "f".into(),
                descending: false,
                nulls: NullOrder::First,
            }],
        )
        .unwrap();
        assert_eq!(f(&s), ["", "-inf", "-0.0", "0.0", "1.0", "nan"]);
        let s = sort(
            &t,
            &[SortKey {
                column: "s".into(),
                descending: true,
                nulls: NullOrder::Last,
            }],
        )
        .unwrap();
        let strs: Vec<String> = s.column("s").unwrap().iter().map(|v| v.display()).collect();
        assert_eq!(strs, ["é", "b", "ab", "a", "B", ""]);
    }

    #[test]
    fn unique_distinguishes_negative_zero_and_groups_nan_like_key_eq() {
        let t = Table::new(vec![Column::from_values(
            "f",
            &[
                Value::Float(0.0),
                Value::Float(-0.0),
                Value::Float(f64::NAN),
                Value::Float(f64::NAN),
                Value::Null,
                Value::Null,
            ],
            None,
        )])
        .unwrap();
        let (u, dropped) = unique(&t, &[], Keep::First).unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(u.num_rows(), 4);
    }
}
