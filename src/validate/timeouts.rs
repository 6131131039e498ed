//! The manifest's `timeouts` section (request, step, run) and the one parser
//! of timeout durations, shared with the `--*-timeout` flags: a duration with
//! its unit, never a bare number, never zero, never too long to represent.

use super::{Timeouts, Validator, k};
use crate::diag::Problem;
use crate::manifest::RawTimeouts;
use std::time::Duration;

/// `60s`, `30min`, `2h`, `500ms`: the unit is required (`60` is refused
/// with the fix), zero is refused, and an overflow is an error.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.ends_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "`{t}` has no unit: write `{t}s`, `{t}min` or `{t}h`"
        ));
    }
    let d =
        super::parse_duration(t).map_err(|e| format!("{e}: write e.g. `90s`, `10min` or `2h`"))?;
    if d.is_zero() {
        return Err(format!("`{t}` is zero: a timeout must be longer than that"));
    }
    Ok(d)
}

impl Validator<'_> {
    /// Check `timeouts:`; a bad entry is reported at its value.
    pub(super) fn timeouts(&mut self, raw: Option<&RawTimeouts>) -> Timeouts {
        let Some(raw) = raw else {
            return Timeouts::default();
        };
        let mut one = |key: &str, value: &Option<String>| {
            let v = value.as_deref()?;
            match parse_timeout(v) {
                Ok(d) => Some(d),
                Err(msg) => {
                    let span = self.span_value(&[k("timeouts"), k(key)]);
                    self.err(
                        Problem::new("bad_value", format!("`timeouts.{key}`: {msg}"), span)
                            .label("not a timeout")
                            .help("write a duration with its unit, e.g. `60s`, `30min` or `2h`"),
                    );
                    None
                }
            }
        };
        Timeouts {
            request: one("request", &raw.request),
            step: one("step", &raw.step),
            run: one("run", &raw.run),
        }
    }
}
