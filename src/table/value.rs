//! Single cell values, owned ([`Value`]) and borrowed ([`ValueRef`]).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// An owned cell.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A borrowed cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Str(s) => ValueRef::Str(s),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Convert from a JSON value (objects and arrays become their JSON text).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n.as_f64().map_or(Value::Null, Value::Float),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            other => Value::Str(other.to_string()),
        }
    }

    /// Convert from a minijinja value; `None` for values that are not scalars.
    pub fn from_jinja(v: &minijinja::Value) -> Option<Value> {
        use minijinja::value::ValueKind;
        Some(match v.kind() {
            ValueKind::Undefined | ValueKind::None => Value::Null,
            ValueKind::Bool => Value::Bool(v.is_true()),
            ValueKind::Number if v.is_integer() => match v.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(f64::try_from(v.clone()).ok()?),
            },
            ValueKind::Number => Value::Float(f64::try_from(v.clone()).ok()?),
            ValueKind::String => Value::Str(v.as_str()?.to_string()),
            _ => return None,
        })
    }
}

impl<'a> ValueRef<'a> {
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Str(s) => Value::Str(s.to_string()),
        }
    }

    pub fn is_null(self) -> bool {
        matches!(self, ValueRef::Null)
    }

    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::Int(i) => Some(i as f64),
            ValueRef::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_str(self) -> Option<&'a str> {
        match self {
            ValueRef::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Text for messages and text formats: floats in shortest round-trip form,
    /// nulls as the empty string.
    pub fn display(self) -> String {
        match self {
            ValueRef::Null => String::new(),
            ValueRef::Bool(b) => if b { "True" } else { "False" }.to_string(),
            ValueRef::Int(i) => i.to_string(),
            ValueRef::Float(f) => format_float(f),
            ValueRef::Str(s) => s.to_string(),
        }
    }

    /// JSON form; non-finite floats become null (JSON has no NaN).
    pub fn to_json(self) -> serde_json::Value {
        match self {
            ValueRef::Null => serde_json::Value::Null,
            ValueRef::Bool(b) => serde_json::Value::Bool(b),
            ValueRef::Int(i) => serde_json::Value::from(i),
            ValueRef::Float(f) => serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            ValueRef::Str(s) => serde_json::Value::String(s.to_string()),
        }
    }

    pub fn to_jinja(self) -> minijinja::Value {
        match self {
            ValueRef::Null => minijinja::Value::from(()),
            ValueRef::Bool(b) => minijinja::Value::from(b),
            ValueRef::Int(i) => minijinja::Value::from(i),
            ValueRef::Float(f) => minijinja::Value::from(f),
            ValueRef::Str(s) => minijinja::Value::from(s),
        }
    }

    /// Total order used by sort: numbers compare numerically across int and
    /// float (NaN last among numbers), strings by bytes, bools false < true.
    /// Nulls are handled by callers (placed first or last).
    pub fn total_cmp(self, other: ValueRef<'_>) -> Ordering {
        use ValueRef::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Greater,
            (_, Null) => Ordering::Less,
            (Int(a), Int(b)) => a.cmp(&b),
            (Bool(a), Bool(b)) => a.cmp(&b),
            (Str(a), Str(b)) => a.cmp(b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => type_rank(a).cmp(&type_rank(b)),
            },
        }
    }

    /// Equality used by unique, join and group keys: ints and floats of equal
    /// numeric value are equal; null equals null (as in SQL `DISTINCT`).
    pub fn key_eq(self, other: ValueRef<'_>) -> bool {
        self.total_cmp(other) == Ordering::Equal
    }

    /// Hash consistent with [`ValueRef::key_eq`].
    pub fn key_hash<H: Hasher>(self, h: &mut H) {
        match self {
            ValueRef::Null => 0u8.hash(h),
            ValueRef::Bool(b) => (1u8, b).hash(h),
            ValueRef::Int(i) => (2u8, (i as f64).to_bits()).hash(h),
            ValueRef::Float(f) => {
                let f = if f == 0.0 { 0.0 } else { f };
                (2u8, f.to_bits()).hash(h)
            }
            ValueRef::Str(s) => (3u8, s).hash(h),
        }
    }
}

fn type_rank(v: ValueRef<'_>) -> u8 {
    match v {
        ValueRef::Bool(_) => 0,
        ValueRef::Int(_) | ValueRef::Float(_) => 1,
        ValueRef::Str(_) => 2,
        ValueRef::Null => 3,
    }
}

/// Shortest text that reads back as the same f64 (ryu), with `nan`, `inf`,
/// `-inf` for the non-finite values.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        let mut buf = ryu::Buffer::new();
        buf.format_finite(f).to_string()
    }
}

impl Hash for ValueRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_hash(state)
    }
}
