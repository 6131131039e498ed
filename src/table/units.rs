//! Sizes on the sky and durations as the user writes them: a number with its
//! unit. A bare number is refused with the fix (`radius: 5` → "write `5deg`
//! or `5arcmin`"), so a radius never silently means degrees and a timeout
//! never silently means seconds; ranges are checked here too (a radius in
//! (0, max], no NaN or infinity, no duration too long to represent).
//!
//! Positions (ra, dec) are not sizes: a bare number there is decimal degrees,
//! as in every MAST interface; see [`super::expr::parse_ra`].

use std::time::Duration;

/// Why a text is not the angle or duration asked for: what is wrong, and
/// what to write instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    pub help: String,
}

impl Refusal {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        Refusal {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.message, self.help)
    }
}

/// The units an angle may carry, with their size in degrees.
const ANGLE_UNITS: &[(&str, f64)] = &[
    ("deg", 1.0),
    ("degree", 1.0),
    ("degrees", 1.0),
    ("d", 1.0),
    ("°", 1.0),
    ("arcmin", 1.0 / 60.0),
    ("amin", 1.0 / 60.0),
    ("m", 1.0 / 60.0),
    ("'", 1.0 / 60.0),
    ("arcsec", 1.0 / 3600.0),
    ("asec", 1.0 / 3600.0),
    ("s", 1.0 / 3600.0),
    ("\"", 1.0 / 3600.0),
    ("mas", 1.0 / 3_600_000.0),
];

/// The units a duration may carry, with their size in seconds.
const DURATION_UNITS: &[(&str, f64)] = &[
    ("ms", 0.001),
    ("s", 1.0),
    ("sec", 1.0),
    ("secs", 1.0),
    ("m", 60.0),
    ("min", 60.0),
    ("h", 3600.0),
    ("d", 86400.0),
];

/// `text` split into its number and its unit (`"2.5arcmin"` → 2.5, `arcmin`).
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let split = t
        .char_indices()
        .find(|&(i, c)| {
            let exp = (c == 'e' || c == 'E')
                && t[i + 1..].starts_with(|d: char| d.is_ascii_digit() || d == '-' || d == '+');
            !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || exp)
        })
        .map_or(t.len(), |(i, _)| i);
    let (num, unit) = t.split_at(split);
    Some((num.parse().ok()?, unit.trim()))
}

/// A radius (or any size on the sky) in degrees, within (0, `max_deg`].
pub fn radius_deg(text: &str, max_deg: f64) -> Result<f64, Refusal> {
    let t = text.trim();
    let examples = "write e.g. `30arcsec`, `2arcmin` or `0.5deg` (also `30s`, `2m`, `0.5d`)";
    let Some((x, unit)) = number_and_unit(t) else {
        return Err(Refusal::new(format!("`{t}` is not an angle"), examples));
    };
    if unit.is_empty() {
        return Err(Refusal::new(
            format!("the radius `{t}` has no unit"),
            format!("write `{t}deg` or `{t}arcmin` (or `{t}arcsec`)"),
        ));
    }
    let Some(&(_, scale)) = ANGLE_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(Refusal::new(
            format!("`{unit}` in `{t}` is not an angle unit"),
            "use deg, arcmin or arcsec (also d, m, s, °, ', \", mas)",
        ));
    };
    let deg = x * scale;
    if !deg.is_finite() {
        return Err(Refusal::new(
            format!("`{t}` is not a finite angle"),
            examples,
        ));
    }
    if deg <= 0.0 {
        return Err(Refusal::new(
            format!("the radius `{t}` must be greater than 0"),
            examples,
        ));
    }
    if deg > max_deg {
        return Err(Refusal::new(
            format!("the radius `{t}` is {deg}°, more than the largest allowed, {max_deg}°"),
            if max_deg >= 180.0 {
                "180deg already covers the whole sky; give the cone you mean, e.g. `5arcmin`"
                    .to_string()
            } else {
                format!("give at most `{max_deg}deg`, e.g. `1arcsec` or `2arcmin`")
            },
        ));
    }
    Ok(deg)
}

/// A duration with its unit (`500ms`, `90s`, `10min`, `1h`, `2d`).
pub fn duration(text: &str) -> Result<Duration, Refusal> {
    let t = text.trim();
    let examples = "write e.g. `90s`, `10min` or `1h` (also `500ms`, `10m`, `2d`)";
    let Some((x, unit)) = number_and_unit(t) else {
        return Err(Refusal::new(format!("`{t}` is not a duration"), examples));
    };
    if unit.is_empty() {
        return Err(Refusal::new(
            format!("the duration `{t}` has no unit"),
            format!("write `{t}s` or `{t}min`"),
        ));
    }
    let Some(&(_, scale)) = DURATION_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(Refusal::new(
            format!("`{unit}` in `{t}` is not a unit of time"),
            "use ms, s, min (or m), h or d",
        ));
    };
    let secs = x * scale;
    if secs.is_nan() || secs < 0.0 {
        return Err(Refusal::new(
            format!("`{t}` is not a duration: it must be 0 or more"),
            examples,
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| {
        Refusal::new(
            format!("`{t}` is too long for a duration"),
            "give at most a few years, e.g. `30d`",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radii_need_a_unit_and_a_sane_size() {
        assert_eq!(radius_deg("0.5deg", 180.0), Ok(0.5));
        assert!((radius_deg("30s", 180.0).unwrap() - 30.0 / 3600.0).abs() < 1e-15);
        assert!((radius_deg("2 arcmin", 180.0).unwrap() - 2.0 / 60.0).abs() < 1e-15);
        assert!((radius_deg("1e-3deg", 180.0).unwrap() - 1e-3).abs() < 1e-18);
        assert_eq!(radius_deg("180deg", 180.0), Ok(180.0));
        let bare = radius_deg("5", 180.0).unwrap_err();
        assert_eq!(bare.message, "the radius `5` has no unit");
        assert_eq!(bare.help, "write `5deg` or `5arcmin` (or `5arcsec`)");
        for bad in [
            "300deg",
            "1e9deg",
            "-5m",
            "0s",
            "NaN",
            "nandeg",
            "infdeg",
            "5 parsecs",
            "",
            "99999999999999999999999999deg",
        ] {
            assert!(radius_deg(bad, 180.0).is_err(), "{bad}");
        }
        assert!(
            radius_deg("11deg", 10.0)
                .unwrap_err()
                .help
                .contains("10deg")
        );
    }

    #[test]
    fn durations_need_a_unit_and_fit() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("10min"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert_eq!(
            duration("600").unwrap_err().help,
            "write `600s` or `600min`"
        );
        assert!(
            duration("99999999999999999999h")
                .unwrap_err()
                .message
                .contains("too long")
        );
        for bad in ["-1s", "NaNs", "1 fortnight", "h", ""] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
