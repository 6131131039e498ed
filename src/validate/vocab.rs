//! Known vocabularies of CAOM's enumerated columns (`obs_collection`,
//! `instrument_name`, `dataproduct_type`, `intentType`, `calib_level`,
//! `dataRights`, `wavelength_region`), shipped as the dated snapshot
//! `schemas/caom-vocabularies.json`. A criterion value outside one is a
//! warning with a did-you-mean (an error with `--strict`): MAST answers such a
//! search with 0 rows and no hint.
//!
//! Values compare case-insensitively, as MAST's filters do; a value with `*`
//! or `%` is a pattern and must match at least one known value. Templates are
//! checked when they read only params.

use super::{CaomCriterion, Problem, Seg, Validator, k, vec_with};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The snapshot as shipped.
const SNAPSHOT: &str = include_str!("../../schemas/caom-vocabularies.json");

#[derive(Deserialize)]
struct Vocabularies {
    snapshot: String,
    columns: BTreeMap<String, Vocabulary>,
}

#[derive(Deserialize)]
struct Vocabulary {
    values: Vec<String>,
    /// Checked only when `obs_collection` is exactly this.
    #[serde(default)]
    when_obs_collection: Option<String>,
    /// Values starting with one of these are not checked (spelling unknown).
    #[serde(default)]
    unchecked_prefixes: Vec<String>,
    /// For the reader of the snapshot (docs/manifest.md says the same).
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

fn vocabularies() -> &'static Vocabularies {
    static V: OnceLock<Vocabularies> = OnceLock::new();
    V.get_or_init(|| {
        serde_json::from_str(SNAPSHOT).expect("schemas/caom-vocabularies.json is valid (tested)")
    })
}

/// Whether `value` (maybe a `*`/`%` pattern) names a known value.
fn known(value: &str, voc: &Vocabulary) -> bool {
    let v = value.to_ascii_uppercase();
    if voc
        .unchecked_prefixes
        .iter()
        .any(|p| v.starts_with(&p.to_ascii_uppercase()))
    {
        return true;
    }
    voc.values
        .iter()
        .any(|k| glob_match(&v, &k.to_ascii_uppercase()))
}

/// `pattern` (with `*`/`%` for any run of characters) matches `text` whole.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split(['*', '%']).collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The help for an unknown value: the closest known value, else the list.
fn help(col: &str, value: &str, voc: &Vocabulary, strict: bool) -> String {
    let stem = value.trim_end_matches(['*', '%']);
    let modes: Vec<&str> = voc
        .values
        .iter()
        .map(String::as_str)
        .filter(|k| {
            k.to_ascii_uppercase()
                .starts_with(&format!("{}/", stem.to_ascii_uppercase()))
        })
        .collect();
    let mut h = if !modes.is_empty() {
        format!(
            "MAST spells it with the mode: {}; or `{stem}*` for every mode",
            modes
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let close = crate::util::did_you_mean(value, voc.values.iter().map(String::as_str));
        match close {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!(
                "known values of `{col}`: {}",
                voc.values
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    h.push_str(&format!(" (known values as of {}", vocabularies().snapshot));
    h.push_str(if strict {
        ")"
    } else {
        "; `--strict` makes this an error)"
    });
    h
}

impl Validator<'_> {
    /// Warn (or, with `--strict`, refuse) each criterion value outside its
    /// column's known vocabulary.
    pub(super) fn check_vocabularies(
        &mut self,
        criteria: &[(String, CaomCriterion)],
        spelled: &[(String, bool)],
        path: &[Seg],
    ) {
        let collection = criteria.iter().find_map(|(c, crit)| match crit {
            CaomCriterion::Values(v) if c == "obs_collection" && v.len() == 1 => {
                v[0].as_str().map(str::to_ascii_uppercase)
            }
            _ => None,
        });
        for ((col, crit), (written, many)) in criteria.iter().zip(spelled) {
            let Some(voc) = vocabularies().columns.get(col) else {
                continue;
            };
            if voc
                .when_obs_collection
                .as_ref()
                .is_some_and(|w| collection.as_deref() != Some(&w.to_ascii_uppercase()))
            {
                continue;
            }
            let CaomCriterion::Values(values) = crit else {
                continue;
            };
            for (i, v) in values.iter().enumerate() {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let text = match super::template::is_template(&text) {
                    true => match self.params_rendered(&text) {
                        Some(t) => t,
                        None => continue,
                    },
                    false => text,
                };
                if known(&text, voc) {
                    continue;
                }
                let vp = match many {
                    true => vec_with(&vec_with(path, k(written)), Seg::Index(i)),
                    false => vec_with(path, k(written)),
                };
                self.vocabulary_problem(col, &text, voc, &vp);
            }
        }
    }

    fn vocabulary_problem(&mut self, col: &str, text: &str, voc: &Vocabulary, vp: &[Seg]) {
        let message = format!("`{text}` is not a known value of `{col}`: MAST would find no rows");
        let p = Problem::new("unknown_value", message, self.span_value(vp))
            .label("not in the vocabulary")
            .help(help(col, text, voc, self.strict));
        self.err(if self.strict { p } else { p.warning() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_parses_and_patterns_match() {
        let v = vocabularies();
        assert!(v.columns.contains_key("instrument_name"));
        let inst = &v.columns["instrument_name"];
        assert!(known("NIRSPEC/IFU", inst));
        assert!(known("nirspec/ifu", inst));
        assert!(known("NIRSPEC*", inst));
        assert!(known("NIR*/IMAGE", inst));
        assert!(known("FGS", inst));
        assert!(!known("NIRSPEC", inst));
        assert!(!known("NIRSpec IFU", inst));
        assert!(!known("NIRSPEX*", inst));
        assert!(glob_match("A*B*C", "AXBYC"));
        assert!(!glob_match("A*B", "AB_"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn help_names_the_modes_or_the_closest_value() {
        let v = vocabularies();
        let inst = &v.columns["instrument_name"];
        let h = help("instrument_name", "NIRSPEC", inst, false);
        assert!(
            h.starts_with("MAST spells it with the mode: `NIRSPEC/IFU`, `NIRSPEC/MSA`, `NIRSPEC/SLIT`; or `NIRSPEC*` for every mode"),
            "{h}"
        );
        let h = help("instrument_name", "NIRSpec IFU", inst, false);
        assert!(h.starts_with("did you mean `NIRSPEC/IFU`?"), "{h}");
        let h = help("dataRights", "publik", &v.columns["dataRights"], true);
        assert!(h.starts_with("did you mean `PUBLIC`?"), "{h}");
    }
}
