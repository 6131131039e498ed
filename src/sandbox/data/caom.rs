//! CAOM observation rows: one typed Rust row ([`ObsRow`]) per observation,
//! and the builder that turns rows into the columnar [`Table`] in
//! [`schema::CAOM`] order.

use super::schema::{self, ColSpec};
use crate::table::column::ColumnBuilder;
use crate::table::{Table, ValueRef};

/// One CAOM observation, field names as MAST spells them.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(non_snake_case)]
pub struct ObsRow {
    pub intentType: String,
    pub obs_collection: String,
    pub provenance_name: Option<String>,
    pub instrument_name: String,
    pub project: String,
    pub filters: Option<String>,
    pub wavelength_region: String,
    pub target_name: String,
    pub target_classification: Option<String>,
    pub obs_id: String,
    pub s_ra: Option<f64>,
    pub s_dec: Option<f64>,
    pub dataproduct_type: String,
    pub proposal_pi: String,
    pub calib_level: i64,
    pub t_min: Option<f64>,
    pub t_max: Option<f64>,
    pub t_exptime: f64,
    pub em_min: Option<f64>,
    pub em_max: Option<f64>,
    pub obs_title: String,
    pub t_obs_release: Option<f64>,
    pub proposal_id: String,
    pub proposal_type: String,
    pub sequence_number: Option<i64>,
    pub s_region: Option<String>,
    pub jpegURL: Option<String>,
    pub dataURL: Option<String>,
    pub dataRights: String,
    pub mtFlag: bool,
    pub srcDen: Option<f64>,
    pub obsid: i64,
    pub objID: i64,
}

/// Appends [`ObsRow`]s column by column.
pub struct ObsBuilder {
    cols: Vec<ColumnBuilder>,
}

fn s(v: &str) -> ValueRef<'_> {
    ValueRef::Str(v)
}

fn os(v: &Option<String>) -> ValueRef<'_> {
    v.as_deref().map_or(ValueRef::Null, ValueRef::Str)
}

fn of(v: Option<f64>) -> ValueRef<'static> {
    v.filter(|x| x.is_finite())
        .map_or(ValueRef::Null, ValueRef::Float)
}

impl ObsBuilder {
    pub fn new(capacity: usize) -> Self {
        let cols = schema::CAOM
            .iter()
            .map(|c| ColumnBuilder::new(c.dtype, capacity))
            .collect();
        Self { cols }
    }

    pub fn len(&self) -> usize {
        self.cols[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, r: &ObsRow) {
        let vals: [ValueRef<'_>; 33] = [
            s(&r.intentType),
            s(&r.obs_collection),
            os(&r.provenance_name),
            s(&r.instrument_name),
            s(&r.project),
            os(&r.filters),
            s(&r.wavelength_region),
            s(&r.target_name),
            os(&r.target_classification),
            s(&r.obs_id),
            of(r.s_ra),
            of(r.s_dec),
            s(&r.dataproduct_type),
            s(&r.proposal_pi),
            ValueRef::Int(r.calib_level),
            of(r.t_min),
            of(r.t_max),
            ValueRef::Float(r.t_exptime),
            of(r.em_min),
            of(r.em_max),
            s(&r.obs_title),
            of(r.t_obs_release),
            s(&r.proposal_id),
            s(&r.proposal_type),
            r.sequence_number.map_or(ValueRef::Null, ValueRef::Int),
            os(&r.s_region),
            os(&r.jpegURL),
            os(&r.dataURL),
            s(&r.dataRights),
            ValueRef::Bool(r.mtFlag),
            of(r.srcDen),
            ValueRef::Int(r.obsid),
            ValueRef::Int(r.objID),
        ];
        for (b, v) in self.cols.iter_mut().zip(vals) {
            b.push(v);
        }
    }

    pub fn finish(self) -> Table {
        finish_columns(self.cols, schema::CAOM)
    }
}

/// Turn builders into a table named after `specs`.
pub fn finish_columns(cols: Vec<ColumnBuilder>, specs: &[ColSpec]) -> Table {
    let columns = cols
        .into_iter()
        .zip(specs)
        .map(|(b, c)| b.finish(c.name))
        .collect();
    Table::new(columns).expect("columns built together have equal lengths")
}

/// Read row `i` of a CAOM table back into an [`ObsRow`].
pub fn row_of(t: &Table, i: usize) -> ObsRow {
    let st = |n: usize| t.get(i, n).as_str().unwrap_or("").to_string();
    let ost = |n: usize| t.get(i, n).as_str().map(str::to_string);
    let f = |n: usize| t.get(i, n).as_f64();
    let int = |n: usize| match t.get(i, n) {
        ValueRef::Int(x) => Some(x),
        _ => None,
    };
    ObsRow {
        intentType: st(0),
        obs_collection: st(1),
        provenance_name: ost(2),
        instrument_name: st(3),
        project: st(4),
        filters: ost(5),
        wavelength_region: st(6),
        target_name: st(7),
        target_classification: ost(8),
        obs_id: st(9),
        s_ra: f(10),
        s_dec: f(11),
        dataproduct_type: st(12),
        proposal_pi: st(13),
        calib_level: int(14).unwrap_or(0),
        t_min: f(15),
        t_max: f(16),
        t_exptime: f(17).unwrap_or(0.0),
        em_min: f(18),
        em_max: f(19),
        obs_title: st(20),
        t_obs_release: f(21),
        proposal_id: st(22),
        proposal_type: st(23),
        sequence_number: int(24),
        s_region: ost(25),
        jpegURL: ost(26),
        dataURL: ost(27),
        dataRights: st(28),
        mtFlag: matches!(t.get(i, 29), ValueRef::Bool(true)),
        srcDen: f(30),
        obsid: int(31).unwrap_or(0),
        objID: int(32).unwrap_or(0),
    }
}
