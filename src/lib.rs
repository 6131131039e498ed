//! mastflow: declarative, reproducible query manifests for JWST data in MAST.
//!
//! The crate mirrors its pipeline (see `docs/architecture.md`):
//! `manifest` (what the user wrote) → `validate` (what was checked) → `plan`
//! (the DAG) → `exec` (the async scheduler) → `services` (archive clients) →
//! `table` (columns and operations) → `output` (files and the run record) →
//! `cli`. Lower layers never import higher ones.

pub mod cli;
pub mod diag;
pub mod exec;
pub mod lock;
pub mod manifest;
pub mod output;
pub mod plan;
pub mod publish;
pub mod sandbox;
pub mod services;
pub mod table;
pub mod template;
pub mod textsafe;
pub mod util;
pub mod validate;
pub mod wire;
