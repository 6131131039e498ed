//! The TAP service's tables and their metadata: `dbo.obspointing` (the
//! Mashup CAOM columns), `ivoa.obscore` (ObsCore 1.1, mapped in `obscore`)
//! and `TAP_SCHEMA.{schemas,tables,columns,keys,key_columns}`, whose rows
//! are generated from these same definitions so that `/tables`, TAP_SCHEMA
//! and the result FIELDs cannot disagree.

use super::obscore;
use crate::sandbox::data::schema::{self as caom_schema, CAOM};
use crate::table::column::ColumnBuilder;
use crate::table::{Column, DataType, Table, ValueRef};
use serde_json::Value as Json;
use std::sync::OnceLock;

/// One column as TAP_SCHEMA.columns describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColDef {
    pub name: String,
    /// VOTable datatype (`char`, `short`, `int`, `long`, `float`, `double`, `boolean`).
    pub datatype: &'static str,
    pub arraysize: Option<&'static str>,
    pub xtype: Option<String>,
    pub unit: Option<String>,
    pub ucd: Option<String>,
    pub utype: Option<String>,
    pub description: String,
    pub principal: bool,
    pub indexed: bool,
    pub std: bool,
}

impl ColDef {
    /// A column with a datatype (strings get `arraysize="*"`).
    pub fn new(name: &str, datatype: &'static str, description: &str) -> ColDef {
        ColDef {
            name: name.to_string(),
            datatype,
            arraysize: (datatype == "char").then_some("*"),
            description: description.to_string(),
            ..ColDef::default()
        }
    }

    /// The storage type of the column's values.
    pub fn dtype(&self) -> DataType {
        match self.datatype {
            "char" | "unicodeChar" => DataType::String,
            "boolean" => DataType::Bool,
            "short" | "int" | "long" | "unsignedByte" => DataType::Int,
            _ => DataType::Float,
        }
    }

    /// Whether values are STC-S regions (`CONTAINS(POINT, s_region)`).
    pub fn is_region(&self) -> bool {
        self.xtype.as_deref() == Some("adql:REGION")
    }

    pub fn unit(mut self, u: &str) -> ColDef {
        self.unit = Some(u.to_string());
        self
    }
    pub fn ucd(mut self, u: &str) -> ColDef {
        self.ucd = Some(u.to_string());
        self
    }
    pub fn utype(mut self, u: &str) -> ColDef {
        self.utype = Some(u.to_string());
        self
    }
    pub fn xtype(mut self, x: &str) -> ColDef {
        self.xtype = Some(x.to_string());
        self
    }
    pub fn flags(mut self, principal: bool, indexed: bool, std: bool) -> ColDef {
        (self.principal, self.indexed, self.std) = (principal, indexed, std);
        self
    }
}

/// Where a table's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// The archive's CAOM table, column for column.
    ObsPointing,
    /// The archive's CAOM rows through the ObsCore mapping.
    ObsCore,
    /// One of the generated TAP_SCHEMA tables (index into [`Catalog::tap_schema`]).
    TapSchema(usize),
}

/// One queryable table.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub schema: &'static str,
    /// Qualified name as TAP_SCHEMA spells it (`ivoa.obscore`).
    pub name: String,
    pub description: String,
    pub utype: Option<String>,
    pub columns: Vec<ColDef>,
    pub backing: Backing,
}

impl TableDef {
    /// Positions of the `s_ra`, `s_dec` and region columns, for tables whose
    /// rows are the archive's observations (the HEALPix index applies).
    pub fn sky_columns(&self) -> Option<(usize, usize, usize)> {
        if matches!(self.backing, Backing::TapSchema(_)) {
            return None;
        }
        let at = |n: &str| self.columns.iter().position(|c| c.name == n);
        Some((at("s_ra")?, at("s_dec")?, at("s_region")?))
    }
}

/// Every table of the service, plus the rows of TAP_SCHEMA.
pub struct Catalog {
    pub tables: Vec<TableDef>,
    /// `schemas`, `tables`, `columns`, `keys`, `key_columns`, in that order.
    pub tap_schema: Vec<Table>,
}

/// Schemas with their descriptions, in TAP_SCHEMA order.
pub const SCHEMAS: &[(&str, &str)] = &[
    (
        "dbo",
        "MAST CAOM tables (the sandbox serves obspointing, the view behind the Mashup Mast.Caom services)",
    ),
    (
        "ivoa",
        "IVOA-defined tables: the ObsCore 1.1 view of the CAOM observations",
    ),
    (
        "TAP_SCHEMA",
        "Metadata of the tables of this service (TAP 1.1)",
    ),
];

/// Foreign keys (TAP_SCHEMA's own, as TAP 1.1 §4 describes them):
/// id, from table, target table, from column, target column.
pub const KEYS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "tables_schema_name",
        "TAP_SCHEMA.tables",
        "TAP_SCHEMA.schemas",
        "schema_name",
        "schema_name",
    ),
    (
        "columns_table_name",
        "TAP_SCHEMA.columns",
        "TAP_SCHEMA.tables",
        "table_name",
        "table_name",
    ),
    (
        "keys_from_table",
        "TAP_SCHEMA.keys",
        "TAP_SCHEMA.tables",
        "from_table",
        "table_name",
    ),
    (
        "keys_target_table",
        "TAP_SCHEMA.keys",
        "TAP_SCHEMA.tables",
        "target_table",
        "table_name",
    ),
    (
        "key_columns_key_id",
        "TAP_SCHEMA.key_columns",
        "TAP_SCHEMA.keys",
        "key_id",
        "key_id",
    ),
];

/// The catalog (built on first use; it does not depend on the archive).
pub fn catalog() -> &'static Catalog {
    static CAT: OnceLock<Catalog> = OnceLock::new();
    CAT.get_or_init(Catalog::build)
}

impl Catalog {
    fn build() -> Catalog {
        let mut tables = vec![obspointing(), obscore::table_def()];
        tables.extend(tap_schema_defs());
        let tap_schema = tap_schema_rows(&tables);
        Catalog { tables, tap_schema }
    }

    /// The table a (possibly unqualified) name designates: qualified names
    /// compare case-insensitively; a bare name must match one table.
    pub fn find(&self, name: &str) -> Option<usize> {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))
        {
            return Some(i);
        }
        let bare: Vec<usize> = (0..self.tables.len())
            .filter(|&i| {
                let t = &self.tables[i];
                t.name[t.schema.len() + 1..].eq_ignore_ascii_case(name)
            })
            .collect();
        (bare.len() == 1).then(|| bare[0])
    }
}

// ---------------------------------------------------------------- dbo.obspointing

const COLUMNS_CONFIG: &str = include_str!("../data/fixtures/columnsconfig.json");

/// `dbo.obspointing`: the Mashup CAOM columns in server order. Types follow
/// the Mashup `fields` (`string` → char, `float` → double, `int` → int,
/// `boolean` → boolean); `obsid`/`objID`, declared `string` but sent as
/// numbers, are `long`. UCDs, utypes, units and descriptions come from the
/// real `Mast.Caom.Cone` columns config.
fn obspointing() -> TableDef {
    let conf: Json = serde_json::from_str(COLUMNS_CONFIG).unwrap_or(Json::Null);
    let columns = CAOM
        .iter()
        .map(|c| {
            let datatype = match (c.dtype, c.wire) {
                (DataType::String, _) => "char",
                (DataType::Float, _) => "double",
                (DataType::Bool, _) => "boolean",
                (DataType::Int, "int") => "int",
                (DataType::Int, _) => "long",
            };
            let get = |k: &str| conf[c.name][k].as_str().map(str::to_string);
            let desc = get("vot.description").unwrap_or_else(|| c.name.to_string());
            let mut d = ColDef::new(c.name, datatype, &desc);
            d.ucd = get("vot.ucd");
            d.utype = get("vot.utype");
            d.unit = get("vot.unit");
            match c.name {
                "s_region" => d = d.xtype("adql:REGION"),
                "t_obs_release" => d = d.unit("d"),
                _ => {}
            }
            let principal = caom_schema::position(CAOM, c.name).is_some_and(|i| i < 12);
            let indexed = matches!(c.name, "s_ra" | "s_dec" | "s_region" | "obsid" | "obs_id");
            d.flags(principal, indexed, false)
        })
        .collect();
    TableDef {
        schema: "dbo",
        name: "dbo.obspointing".into(),
        description: "CAOM observations as the Mashup Mast.Caom services return them (one row per observation and calibration level)".into(),
        utype: None,
        columns,
        backing: Backing::ObsPointing,
    }
}

// ---------------------------------------------------------------- TAP_SCHEMA

fn c(name: &str, datatype: &'static str, desc: &str) -> ColDef {
    ColDef::new(name, datatype, desc).flags(true, false, true)
}

fn tap_schema_defs() -> Vec<TableDef> {
    let t = |name: &str, desc: &str, columns: Vec<ColDef>, i: usize| TableDef {
        schema: "TAP_SCHEMA",
        name: format!("TAP_SCHEMA.{name}"),
        description: desc.to_string(),
        utype: None,
        columns,
        backing: Backing::TapSchema(i),
    };
    vec![
        t(
            "schemas",
            "Schemas of this service",
            vec![
                c("schema_name", "char", "Fully qualified schema name"),
                c(
                    "utype",
                    "char",
                    "Lists the utypes of schemas in the tableset",
                ),
                c("description", "char", "Brief description of the schema"),
                c(
                    "schema_index",
                    "int",
                    "Recommended sort order when listing schemas",
                ),
            ],
            0,
        ),
        t(
            "tables",
            "Tables of this service",
            vec![
                c("schema_name", "char", "Fully qualified schema name"),
                c("table_name", "char", "Fully qualified table name"),
                c("table_type", "char", "One of: table, view"),
                c("utype", "char", "utype of the table"),
                c("description", "char", "Brief description of the table"),
                c(
                    "table_index",
                    "int",
                    "Recommended sort order when listing tables",
                ),
            ],
            1,
        ),
        t(
            "columns",
            "Columns of the tables of this service",
            vec![
                c("table_name", "char", "Fully qualified table name"),
                c("column_name", "char", "Column name"),
                c("datatype", "char", "VOTable datatype of the column"),
                c("arraysize", "char", "VOTable arraysize of the column"),
                c("xtype", "char", "VOTable xtype of the column"),
                c(
                    "\"size\"",
                    "int",
                    "Deprecated length of a variable-length column",
                ),
                c("description", "char", "Brief description of the column"),
                c("utype", "char", "utype of the column"),
                c("unit", "char", "Unit in VO standard format"),
                c("ucd", "char", "UCD of the column"),
                c("indexed", "int", "An indexed column; 1 means true, 0 false"),
                c(
                    "principal",
                    "int",
                    "A principal column; 1 means true, 0 false",
                ),
                c("std", "int", "A standard column; 1 means true, 0 false"),
                c(
                    "column_index",
                    "int",
                    "Recommended sort order when listing columns",
                ),
            ],
            2,
        ),
        t(
            "keys",
            "Foreign keys between the tables of this service",
            vec![
                c("key_id", "char", "Unique key identifier"),
                c("from_table", "char", "Fully qualified table name"),
                c("target_table", "char", "Fully qualified table name"),
                c("utype", "char", "utype of the key"),
                c("description", "char", "Description of the key"),
            ],
            3,
        ),
        t(
            "key_columns",
            "Columns of the foreign keys",
            vec![
                c("key_id", "char", "Key identifier from TAP_SCHEMA.keys"),
                c("from_column", "char", "Key column name in the from_table"),
                c(
                    "target_column",
                    "char",
                    "Key column name in the target_table",
                ),
            ],
            4,
        ),
    ]
}

/// The stored name of a column: TAP_SCHEMA writes `"size"` delimited,
/// queries name it `size` or `"size"`.
pub fn bare_name(name: &str) -> &str {
    name.trim_matches('"')
}

fn opt(v: &Option<String>) -> ValueRef<'_> {
    v.as_deref().map_or(ValueRef::Null, ValueRef::Str)
}

fn build(defs: &TableDef, rows: &[Vec<ValueRef<'_>>]) -> Table {
    let columns: Vec<Column> = defs
        .columns
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let mut b = ColumnBuilder::new(d.dtype(), rows.len());
            for r in rows {
                b.push(r[j]);
            }
            b.finish(bare_name(&d.name))
        })
        .collect();
    Table::new(columns).unwrap_or_default()
}

fn tap_schema_rows(tables: &[TableDef]) -> Vec<Table> {
    let defs = &tables[tables.len() - 5..];
    let schemas: Vec<Vec<ValueRef>> = SCHEMAS
        .iter()
        .enumerate()
        .map(|(i, (n, d))| {
            vec![
                ValueRef::Str(n),
                ValueRef::Null,
                ValueRef::Str(d),
                ValueRef::Int(i as i64),
            ]
        })
        .collect();
    let table_rows: Vec<Vec<ValueRef>> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            vec![
                ValueRef::Str(t.schema),
                ValueRef::Str(&t.name),
                ValueRef::Str(if t.backing == Backing::ObsPointing {
                    "view"
                } else {
                    "table"
                }),
                opt(&t.utype),
                ValueRef::Str(&t.description),
                ValueRef::Int(i as i64),
            ]
        })
        .collect();
    let flag = |b: bool| ValueRef::Int(b as i64);
    let mut column_rows: Vec<Vec<ValueRef>> = Vec::new();
    for t in tables {
        for (i, c) in t.columns.iter().enumerate() {
            column_rows.push(vec![
                ValueRef::Str(&t.name),
                ValueRef::Str(&c.name),
                ValueRef::Str(c.datatype),
                c.arraysize.map_or(ValueRef::Null, ValueRef::Str),
                opt(&c.xtype),
                ValueRef::Null,
                ValueRef::Str(&c.description),
                opt(&c.utype),
                opt(&c.unit),
                opt(&c.ucd),
                flag(c.indexed),
                flag(c.principal),
                flag(c.std),
                ValueRef::Int(i as i64),
            ]);
        }
    }
    let keys: Vec<Vec<ValueRef>> = KEYS
        .iter()
        .map(|(id, from, target, ..)| {
            let desc = ValueRef::Str("TAP_SCHEMA relation");
            vec![
                ValueRef::Str(id),
                ValueRef::Str(from),
                ValueRef::Str(target),
                ValueRef::Null,
                desc,
            ]
        })
        .collect();
    let key_columns: Vec<Vec<ValueRef>> = KEYS
        .iter()
        .map(|(id, _, _, f, t)| vec![ValueRef::Str(id), ValueRef::Str(f), ValueRef::Str(t)])
        .collect();
    vec![
        build(&defs[0], &schemas),
        build(&defs[1], &table_rows),
        build(&defs[2], &column_rows),
        build(&defs[3], &keys),
        build(&defs[4], &key_columns),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_schema_describes_every_table_and_itself() {
        let cat = catalog();
        let names: Vec<&str> = cat.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dbo.obspointing",
                "ivoa.obscore",
                "TAP_SCHEMA.schemas",
                "TAP_SCHEMA.tables",
                "TAP_SCHEMA.columns",
                "TAP_SCHEMA.keys",
                "TAP_SCHEMA.key_columns"
            ]
        );
        let columns = &cat.tap_schema[2];
        let total: usize = cat.tables.iter().map(|t| t.columns.len()).sum();
        assert_eq!(columns.num_rows(), total);
        assert_eq!(cat.tables[0].columns.len(), CAOM.len());
        assert_eq!(cat.find("IVOA.ObsCore"), Some(1));
        assert_eq!(cat.find("obscore"), Some(1));
        assert_eq!(cat.find("nope"), None);
        let obsid = cat.tables[0]
            .columns
            .iter()
            .find(|c| c.name == "obsid")
            .unwrap();
        assert_eq!(obsid.datatype, "long");
        let s_region = &cat.tables[0].columns[25];
        assert!(s_region.is_region());
        assert_eq!(cat.tables[0].sky_columns(), Some((10, 11, 25)));
        assert_eq!(cat.tables[4].sky_columns(), None);
    }
}
