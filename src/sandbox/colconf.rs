//! `POST /portal/Mashup/Mashup.asmx/columnsconfig` (protocol doc §1.5):
//! the real 2019 `Mast.Caom.Cone` config from the astroquery fixture (plus
//! three JWST-era columns), a generated config for `Mast.Caom.Products`,
//! and one per SI-keyword service generated from its table. Unknown ids get
//! `{}` (astroquery only needs a JSON object).

use super::data::{Archive, schema};
use crate::table::DataType;
use serde_json::{Map, Value, json};

const CAOM_CONE: &str = include_str!("data/fixtures/columnsconfig.json");

fn caom_cone() -> Value {
    let mut v: Value = serde_json::from_str(CAOM_CONE).unwrap_or_else(|_| json!({}));
    if let Some(m) = v.as_object_mut() {
        m.entry("provenance_name").or_insert_with(|| {
            json!({"text": "Provenance Name", "vot.datatype": "char", "vot.description": "Provenance name, or source of data"})
        });
        m.entry("proposal_type").or_insert_with(|| {
            json!({"text": "Proposal Type", "vot.datatype": "char", "vot.description": "Type of telescope proposal"})
        });
        m.entry("sequence_number").or_insert_with(|| {
            json!({"text": "Sequence Number", "vot.datatype": "int", "vot.description": "Sequence number, e.g. Kepler quarter or TESS sector"})
        });
    }
    v
}

fn datatype(t: DataType) -> &'static str {
    match t {
        DataType::Bool => "boolean",
        DataType::Int => "long",
        DataType::Float => "double",
        DataType::String => "char",
    }
}

fn from_columns<'a>(cols: impl Iterator<Item = (&'a str, DataType)>) -> Value {
    let mut m = Map::new();
    for (name, t) in cols {
        let entry = if t == DataType::Bool {
            json!({"text": name, "type": "boolean"})
        } else {
            json!({"text": name, "vot.datatype": datatype(t)})
        };
        m.insert(name.to_string(), entry);
    }
    Value::Object(m)
}

/// The config for `id` (case-insensitive).
pub fn config(a: &Archive, id: &str) -> Value {
    let lower = id.trim().to_ascii_lowercase();
    match lower.as_str() {
        "mast.caom.cone" | "mast.caom.filtered" | "mast.caom.filtered.position" => caom_cone(),
        "mast.caom.products" => from_columns(schema::PRODUCTS.iter().map(|c| (c.name, c.dtype))),
        s if s.starts_with("mast.jwst.filtered.") => {
            match a.sikw.get(&s["mast.jwst.filtered.".len()..]) {
                Some(si) => from_columns(
                    si.table
                        .columns()
                        .iter()
                        .map(|c| (c.name.as_str(), c.data_type())),
                ),
                None => json!({}),
            }
        }
        _ => json!({}),
    }
}
