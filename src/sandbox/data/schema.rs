//! Column lists and MAST wire type names of the emulated tables.
//!
//! The CAOM order is the 2024 server order (`intentType, obs_collection,
//! provenance_name, …`, protocol doc §3.1); product columns are the 19 of
//! §3.2. `fields[].type` follows the fixtures: `obsid`/`objID` are declared
//! `"string"` but sent as JSON numbers (§1.3 "Types can lie").

use crate::table::DataType;

/// One column of an emulated table: name, storage type, wire type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColSpec {
    pub name: &'static str,
    pub dtype: DataType,
    pub wire: &'static str,
}

const fn c(name: &'static str, dtype: DataType, wire: &'static str) -> ColSpec {
    ColSpec { name, dtype, wire }
}

use DataType::{Bool as B, Float as F, Int as I, String as S};

/// CAOM observation columns, in server order.
pub const CAOM: &[ColSpec] = &[
    c("intentType", S, "string"),
    c("obs_collection", S, "string"),
    c("provenance_name", S, "string"),
    c("instrument_name", S, "string"),
    c("project", S, "string"),
    c("filters", S, "string"),
    c("wavelength_region", S, "string"),
    c("target_name", S, "string"),
    c("target_classification", S, "string"),
    c("obs_id", S, "string"),
    c("s_ra", F, "float"),
    c("s_dec", F, "float"),
    c("dataproduct_type", S, "string"),
    c("proposal_pi", S, "string"),
    c("calib_level", I, "int"),
    c("t_min", F, "float"),
    c("t_max", F, "float"),
    c("t_exptime", F, "float"),
    c("em_min", F, "float"),
    c("em_max", F, "float"),
    c("obs_title", S, "string"),
    c("t_obs_release", F, "float"),
    c("proposal_id", S, "string"),
    c("proposal_type", S, "string"),
    c("sequence_number", I, "int"),
    c("s_region", S, "string"),
    c("jpegURL", S, "string"),
    c("dataURL", S, "string"),
    c("dataRights", S, "string"),
    c("mtFlag", B, "boolean"),
    c("srcDen", F, "float"),
    c("obsid", I, "string"),
    c("objID", I, "string"),
];

/// Columns a cone adds (`Mast.Caom.Cone`): distance in arcsec, then the
/// portal's `_selected_` artefact (fixture `caom.json`).
pub const CONE_EXTRA: &[ColSpec] = &[c("distance", F, "float"), c("_selected_", B, "boolean")];

/// Columns `Mast.Caom.Filtered.Position` adds (fixture `advSearchPos.json`).
pub const POSITION_EXTRA: &[ColSpec] = &[c("objID1", I, "string"), c("distance", F, "float")];

/// Product columns (`Mast.Caom.Products`), then `_selected_` (fixture `products.json`).
pub const PRODUCTS: &[ColSpec] = &[
    c("obsID", S, "string"),
    c("obs_collection", S, "string"),
    c("dataproduct_type", S, "string"),
    c("obs_id", S, "string"),
    c("description", S, "string"),
    c("type", S, "string"),
    c("dataURI", S, "string"),
    c("productType", S, "string"),
    c("productGroupDescription", S, "string"),
    c("productSubGroupDescription", S, "string"),
    c("productDocumentationURL", S, "string"),
    c("project", S, "string"),
    c("prvversion", S, "string"),
    c("proposal_id", S, "string"),
    c("productFilename", S, "string"),
    c("size", I, "int"),
    c("parent_obsid", S, "string"),
    c("dataRights", S, "string"),
    c("calib_level", I, "int"),
    c("_selected_", B, "boolean"),
];

/// The CAOM columns MAST treats as multi-valued (separator `;`, from the
/// `Mast.Caom.Cone` columns config).
pub const CAOM_MULTI_VALUED: &[&str] = &[
    "obs_collection",
    "project",
    "filters",
    "wavelength_region",
    "target_classification",
];

/// Position of `name` in `cols`.
pub fn position(cols: &[ColSpec], name: &str) -> Option<usize> {
    cols.iter().position(|c| c.name == name)
}

/// Wire type for an SI-keyword column of storage type `t`: date columns
/// (those with an `_mjd` twin) are `datetime`.
pub fn si_wire_type(name: &str, t: DataType, has_mjd_twin: bool) -> &'static str {
    if has_mjd_twin && t == DataType::String {
        return "datetime";
    }
    let _ = name;
    match t {
        DataType::Bool => "boolean",
        DataType::Int => "int",
        DataType::Float => "float",
        DataType::String => "string",
    }
}
