//! The typed columnar table every stage passes around.
//!
//! A [`Table`] is a list of named [`Column`]s of equal length. A column holds one
//! [`DataType`] (bool, int, float, string) plus an optional validity mask for nulls,
//! and carries [`ColumnMeta`] (unit, description, UCD, xtype) from the reader that
//! made it through every transform to the writers.
//!
//! This module owns the data structure and the relational operations on it
//! (`ops`), the structured and expression filters (`filter`, `expr`), the single
//! type-normalisation layer shared by every reader (`normalize`), and the file
//! formats (`io`). It depends on nothing above it.

pub mod column;
pub mod diff;
pub mod expr;
pub mod filter;
pub mod io;
pub mod normalize;
pub mod ops;
pub mod units;
pub mod value;
pub mod xmatch;

pub use column::{Column, ColumnData, ColumnMeta, DataType, StrData};
pub use value::{Value, ValueRef};

use thiserror::Error;

/// Errors raised by table operations and readers.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TableError {
    #[error("no column named `{name}`{hint}")]
    NoSuchColumn { name: String, hint: String },
    #[error("column `{0}` appears twice")]
    DuplicateColumn(String),
    #[error("column `{name}` has {got} rows but the table has {expected}")]
    LengthMismatch {
        name: String,
        got: usize,
        expected: usize,
    },
    #[error(
        "column `{name}` is {left} in one table and {right} in another; cast one of them first"
    )]
    TypeConflict {
        name: String,
        left: DataType,
        right: DataType,
    },
    #[error("{0}")]
    Expression(String),
    #[error("{0}")]
    Invalid(String),
}

/// A typed, columnar table with per-column metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    columns: Vec<Column>,
    nrows: usize,
}

impl Table {
    /// An empty table with no columns and no rows.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Build a table from columns, checking lengths and name uniqueness.
    pub fn new(columns: Vec<Column>) -> Result<Self, TableError> {
        let nrows = columns.first().map_or(0, Column::len);
        let mut seen = std::collections::HashSet::new();
        for c in &columns {
            if !seen.insert(c.name.as_str()) {
                return Err(TableError::DuplicateColumn(c.name.clone()));
            }
            if c.len() != nrows {
                return Err(TableError::LengthMismatch {
                    name: c.name.clone(),
                    got: c.len(),
                    expected: nrows,
                });
            }
        }
        Ok(Self { columns, nrows })
    }

    /// A table with the given columns but zero rows (used for empty results
    /// whose schema is known).
    pub fn with_schema(schema: &[(String, DataType)]) -> Self {
        let columns = schema
            .iter()
            .map(|(n, t)| Column::empty(n.clone(), *t))
            .collect();
        Self { columns, nrows: 0 }
    }

    pub fn num_rows(&self) -> usize {
        self.nrows
    }

    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn columns_mut(&mut self) -> &mut [Column] {
        &mut self.columns
    }

    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column called `name`, or an error with a did-you-mean hint.
    pub fn column(&self, name: &str) -> Result<&Column, TableError> {
        self.index_of(name)
            .map(|i| &self.columns[i])
            .ok_or_else(|| self.no_such_column(name))
    }

    pub fn no_such_column(&self, name: &str) -> TableError {
        let hint = crate::util::did_you_mean(name, self.column_names())
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        TableError::NoSuchColumn {
            name: name.to_string(),
            hint,
        }
    }

    /// Append a column; it must match the row count (any length is accepted
    /// when the table has no columns yet).
    pub fn push_column(&mut self, column: Column) -> Result<(), TableError> {
        if self.index_of(&column.name).is_some() {
            return Err(TableError::DuplicateColumn(column.name));
        }
        if self.columns.is_empty() {
            self.nrows = column.len();
        } else if column.len() != self.nrows {
            return Err(TableError::LengthMismatch {
                got: column.len(),
                name: column.name,
                expected: self.nrows,
            });
        }
        self.columns.push(column);
        Ok(())
    }

    /// Replace the column of the same name, or append it.
    pub fn set_column(&mut self, column: Column) -> Result<(), TableError> {
        match self.index_of(&column.name) {
            Some(i) => {
                if column.len() != self.nrows {
                    return Err(TableError::LengthMismatch {
                        got: column.len(),
                        name: column.name,
                        expected: self.nrows,
                    });
                }
                self.columns[i] = column;
                Ok(())
            }
            None => self.push_column(column),
        }
    }

    /// The cell at (`row`, `col`).
    pub fn get(&self, row: usize, col: usize) -> ValueRef<'_> {
        self.columns[col].get(row)
    }

    /// Rows `indices` of every column, in that order.
    pub fn take(&self, indices: &[usize]) -> Table {
        Table {
            columns: self.columns.iter().map(|c| c.take(indices)).collect(),
            nrows: indices.len(),
        }
    }

    /// Rows where `mask` is true.
    pub fn filter_mask(&self, mask: &[bool]) -> Table {
        debug_assert_eq!(mask.len(), self.nrows);
        let indices: Vec<usize> = mask
            .iter()
            .enumerate()
            .filter_map(|(i, &keep)| keep.then_some(i))
            .collect();
        if indices.len() == self.nrows {
            return self.clone();
        }
        self.take(&indices)
    }

    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Table {
        let n = n.min(self.nrows);
        let indices: Vec<usize> = (0..n).collect();
        self.take(&indices)
    }

    /// Row `i` as owned values, in column order.
    pub fn row(&self, i: usize) -> Vec<Value> {
        self.columns.iter().map(|c| c.get(i).to_owned()).collect()
    }

    /// The distinct column names and their types.
    pub fn schema(&self) -> Vec<(String, DataType)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type()))
            .collect()
    }
}
