//! Columns: typed storage with a validity mask and metadata.

use super::value::{Value, ValueRef};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four cell types of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Bool,
    Int,
    Float,
    String,
}

impl DataType {
    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::String => "string",
        }
    }

    /// The type both `self` and `other` fit in without loss of meaning, if any:
    /// int widens to float; nothing else mixes.
    pub fn unify(self, other: DataType) -> Option<DataType> {
        use DataType::*;
        match (self, other) {
            (a, b) if a == b => Some(a),
            (Int, Float) | (Float, Int) => Some(Float),
            _ => None,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Column metadata carried from readers to writers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ColumnMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ucd: Option<String>,
    /// VOTable/DALI extended type, e.g. `timestamp` for ISO-8601 strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xtype: Option<String>,
}

impl ColumnMeta {
    pub fn is_empty(&self) -> bool {
        self.unit.is_none()
            && self.description.is_none()
            && self.ucd.is_none()
            && self.xtype.is_none()
    }

    /// Fill fields that are unset here from `other`.
    pub fn merge_missing(&mut self, other: &ColumnMeta) {
        fn fill(a: &mut Option<String>, b: &Option<String>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        fill(&mut self.unit, &other.unit);
        fill(&mut self.description, &other.description);
        fill(&mut self.ucd, &other.ucd);
        fill(&mut self.xtype, &other.xtype);
    }
}

/// Strings stored contiguously: row `i` is `bytes[offsets[i]..offsets[i+1]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrData {
    offsets: Vec<usize>,
    bytes: String,
}

impl Default for StrData {
    fn default() -> Self {
        Self {
            offsets: vec![0],
            bytes: String::new(),
        }
    }
}

impl StrData {
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            bytes: String::with_capacity(bytes),
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, s: &str) {
        self.bytes.push_str(s);
        self.offsets.push(self.bytes.len());
    }

    pub fn get(&self, i: usize) -> &str {
        &self.bytes[self.offsets[i]..self.offsets[i + 1]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Rows `indices`, in that order. Runs of consecutive rows (what filters
    /// and `unique` produce) are copied as one block.
    pub fn take(&self, indices: &[usize]) -> StrData {
        // Capacity from the average row length; a skewed selection just
        // makes the buffer grow.
        let estimate = match self.len() {
            0 => 0,
            n => (self.bytes.len() as u128 * indices.len() as u128 / n as u128) as usize,
        };
        let mut out = StrData::with_capacity(indices.len(), estimate);
        let mut k = 0;
        while k < indices.len() {
            let start = indices[k];
            let mut end = start + 1;
            k += 1;
            while k < indices.len() && indices[k] == end {
                end += 1;
                k += 1;
            }
            let (a, b) = (self.offsets[start], self.offsets[end]);
            let base = out.bytes.len();
            out.bytes.push_str(&self.bytes[a..b]);
            out.offsets
                .extend(self.offsets[start + 1..=end].iter().map(|&o| o - a + base));
        }
        out
    }
}

impl<S: AsRef<str>> FromIterator<S> for StrData {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out = StrData::default();
        for s in iter {
            out.push(s.as_ref());
        }
        out
    }
}

/// The values of a column, one vector per type.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Str(StrData),
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Bool(v) => v.len(),
            ColumnData::Int(v) => v.len(),
            ColumnData::Float(v) => v.len(),
            ColumnData::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn data_type(&self) -> DataType {
        match self {
            ColumnData::Bool(_) => DataType::Bool,
            ColumnData::Int(_) => DataType::Int,
            ColumnData::Float(_) => DataType::Float,
            ColumnData::Str(_) => DataType::String,
        }
    }

    fn empty(t: DataType) -> Self {
        match t {
            DataType::Bool => ColumnData::Bool(Vec::new()),
            DataType::Int => ColumnData::Int(Vec::new()),
            DataType::Float => ColumnData::Float(Vec::new()),
            DataType::String => ColumnData::Str(StrData::default()),
        }
    }

    fn take(&self, indices: &[usize]) -> ColumnData {
        match self {
            ColumnData::Bool(v) => ColumnData::Bool(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Int(v) => ColumnData::Int(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Float(v) => ColumnData::Float(indices.iter().map(|&i| v[i]).collect()),
            ColumnData::Str(v) => ColumnData::Str(v.take(indices)),
        }
    }
}

/// A named, typed column with a validity mask (`false` = null) and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub meta: ColumnMeta,
    data: ColumnData,
    /// `None` when no value is null.
    validity: Option<Vec<bool>>,
}

impl Column {
    pub fn new(name: impl Into<String>, data: ColumnData, validity: Option<Vec<bool>>) -> Self {
        let validity = validity.filter(|v| v.iter().any(|ok| !ok));
        if let Some(v) = &validity {
            assert_eq!(v.len(), data.len(), "validity mask length");
        }
        Self {
            name: name.into(),
            meta: ColumnMeta::default(),
            data,
            validity,
        }
    }

    pub fn empty(name: impl Into<String>, t: DataType) -> Self {
        Self::new(name, ColumnData::empty(t), None)
    }

    pub fn with_meta(mut self, meta: ColumnMeta) -> Self {
        self.meta = meta;
        self
    }

    /// Build a column from owned values, inferring the narrowest type that holds
    /// them all (bool, int, float, then string). `hint` forces a type when the
    /// values are all null or when the caller knows better.
    pub fn from_values(name: impl Into<String>, values: &[Value], hint: Option<DataType>) -> Self {
        let t = hint.unwrap_or_else(|| super::normalize::infer_type(values.iter()));
        let mut b = ColumnBuilder::new(t, values.len());
        for v in values {
            b.push(v.as_ref());
        }
        b.finish(name)
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn data_type(&self) -> DataType {
        self.data.data_type()
    }

    pub fn data(&self) -> &ColumnData {
        &self.data
    }

    pub fn validity(&self) -> Option<&[bool]> {
        self.validity.as_deref()
    }

    pub fn is_null(&self, i: usize) -> bool {
        self.validity.as_ref().is_some_and(|v| !v[i])
    }

    pub fn null_count(&self) -> usize {
        self.validity
            .as_ref()
            .map_or(0, |v| v.iter().filter(|ok| !**ok).count())
    }

    pub fn get(&self, i: usize) -> ValueRef<'_> {
        if self.is_null(i) {
            return ValueRef::Null;
        }
        match &self.data {
            ColumnData::Bool(v) => ValueRef::Bool(v[i]),
            ColumnData::Int(v) => ValueRef::Int(v[i]),
            ColumnData::Float(v) => ValueRef::Float(v[i]),
            ColumnData::Str(v) => ValueRef::Str(v.get(i)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = ValueRef<'_>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    pub fn take(&self, indices: &[usize]) -> Column {
        Column {
            name: self.name.clone(),
            meta: self.meta.clone(),
            data: self.data.take(indices),
            validity: self
                .validity
                .as_ref()
                .map(|v| indices.iter().map(|&i| v[i]).collect::<Vec<bool>>())
                .filter(|v| v.iter().any(|ok| !ok)),
        }
    }

    pub fn renamed(mut self, name: impl Into<String>) -> Column {
        self.name = name.into();
        self
    }

    /// A column of `n` nulls of type `t`.
    pub fn nulls(name: impl Into<String>, t: DataType, n: usize) -> Column {
        let mut b = ColumnBuilder::new(t, n);
        for _ in 0..n {
            b.push(ValueRef::Null);
        }
        b.finish(name)
    }

    /// This column converted to type `t` (int → float; anything → string).
    pub fn cast(&self, t: DataType) -> Result<Column, super::TableError> {
        if t == self.data_type() {
            return Ok(self.clone());
        }
        let mut b = ColumnBuilder::new(t, self.len());
        for v in self.iter() {
            let cast = super::normalize::cast_value(v, t).ok_or_else(|| {
                super::TableError::Invalid(format!(
                    "cannot convert value `{}` of column `{}` to {t}",
                    v.display(),
                    self.name
                ))
            })?;
            b.push(cast.as_ref());
        }
        Ok(b.finish(self.name.clone()).with_meta(self.meta.clone()))
    }
}

/// Appends typed values and tracks nulls; the one way readers make columns.
#[derive(Debug)]
pub struct ColumnBuilder {
    data: ColumnData,
    validity: Vec<bool>,
    any_null: bool,
}

impl ColumnBuilder {
    pub fn new(t: DataType, capacity: usize) -> Self {
        let data = match t {
            DataType::Bool => ColumnData::Bool(Vec::with_capacity(capacity)),
            DataType::Int => ColumnData::Int(Vec::with_capacity(capacity)),
            DataType::Float => ColumnData::Float(Vec::with_capacity(capacity)),
            DataType::String => ColumnData::Str(StrData::with_capacity(capacity, capacity * 8)),
        };
        Self {
            data,
            validity: Vec::with_capacity(capacity),
            any_null: false,
        }
    }

    pub fn data_type(&self) -> DataType {
        self.data.data_type()
    }

    pub fn len(&self) -> usize {
        self.validity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validity.is_empty()
    }

    /// Push a value that is already of this builder's type (or null). A value
    /// of another type is converted with [`super::normalize::cast_value`]; one
    /// that cannot be converted becomes null.
    pub fn push(&mut self, v: ValueRef<'_>) {
        let ok = match (&mut self.data, v) {
            (_, ValueRef::Null) => false,
            (ColumnData::Bool(d), ValueRef::Bool(b)) => {
                d.push(b);
                true
            }
            (ColumnData::Int(d), ValueRef::Int(x)) => {
                d.push(x);
                true
            }
            (ColumnData::Float(d), ValueRef::Float(x)) => {
                d.push(x);
                true
            }
            (ColumnData::Float(d), ValueRef::Int(x)) => {
                d.push(x as f64);
                true
            }
            (ColumnData::Str(d), ValueRef::Str(s)) => {
                d.push(s);
                true
            }
            (data, other) => {
                let t = data.data_type();
                match super::normalize::cast_value(other, t) {
                    Some(c) if !c.is_null() => {
                        self.push(c.as_ref());
                        return;
                    }
                    _ => false,
                }
            }
        };
        if !ok {
            self.push_null_slot();
        }
        self.validity.push(ok);
        self.any_null |= !ok;
    }

    fn push_null_slot(&mut self) {
        match &mut self.data {
            ColumnData::Bool(d) => d.push(false),
            ColumnData::Int(d) => d.push(0),
            ColumnData::Float(d) => d.push(f64::NAN),
            ColumnData::Str(d) => d.push(""),
        }
    }

    pub fn finish(self, name: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            meta: ColumnMeta::default(),
            data: self.data,
            validity: self.any_null.then_some(self.validity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_take(s: &StrData, indices: &[usize]) -> StrData {
        let mut out = StrData::default();
        for &i in indices {
            out.push(s.get(i));
        }
        out
    }

    #[test]
    fn take_copies_runs_and_single_rows() {
        let s: StrData = ["", "a", "bc", "", "déf", "g"].iter().collect();
        for idx in [
            vec![],
            vec![0],
            vec![5, 4, 3],
            vec![1, 2, 3, 4],
            vec![0, 1, 2, 3, 4, 5],
            vec![2, 2, 3, 0, 1],
        ] {
            let t = s.take(&idx);
            assert_eq!(t, naive_take(&s, &idx), "{idx:?}");
            assert_eq!(
                t.iter().collect::<Vec<_>>(),
                idx.iter().map(|&i| s.get(i)).collect::<Vec<_>>()
            );
        }
    }

    proptest! {
        #[test]
        fn take_matches_row_by_row_copy(
            rows in prop::collection::vec("[a-zé]{0,5}", 0..30),
            picks in prop::collection::vec((any::<prop::sample::Index>(), 1usize..5), 0..20),
        ) {
            let s: StrData = rows.iter().collect();
            // Runs of consecutive rows and jumps, as filters, sorts and
            // unique produce them.
            let mut idx = Vec::new();
            if !rows.is_empty() {
                for (at, len) in picks {
                    let start = at.index(rows.len());
                    idx.extend(start..(start + len).min(rows.len()));
                }
            }
            prop_assert_eq!(s.take(&idx), naive_take(&s, &idx));
        }
    }
}
