//! Canonical request keys: the identity of a request for caching, lock files
//! and the run record. The key covers what determines the answer (service,
//! params, page, URL) and never the token.

use serde_json::Value;

/// JSON with object keys sorted at every level, no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The key of a request: SHA-256 of the canonical JSON of
/// `{"url": ..., "request": ...}`.
pub fn request_key(url: &str, request: &Value) -> String {
    let v = serde_json::json!({"url": url, "request": request});
    crate::util::sha256_hex(canonical_json(&v).as_bytes())
}

/// The identity of what is asked, whatever the host: SHA-256 of the
/// canonical JSON of the request alone. Lock files use it, so a run against
/// a mirror or the sandbox on another port asks "the same" question.
pub fn ask_key(request: &Value) -> String {
    crate::util::sha256_hex(canonical_json(request).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_ignores_key_order_but_not_values() {
        let a = json!({"service": "Mast.Caom.Filtered", "params": {"columns": "*", "filters": [{"paramName": "obs_collection", "values": ["JWST"]}]}, "page": 1});
        let b = json!({"page": 1, "params": {"filters": [{"values": ["JWST"], "paramName": "obs_collection"}], "columns": "*"}, "service": "Mast.Caom.Filtered"});
        assert_eq!(
            request_key("https://mast.stsci.edu/api/v0/invoke", &a),
            request_key("https://mast.stsci.edu/api/v0/invoke", &b)
        );
        let c = json!({"service": "Mast.Caom.Filtered", "params": {"columns": "*", "filters": [{"paramName": "obs_collection", "values": ["HST"]}]}, "page": 1});
        assert_ne!(request_key("u", &a), request_key("u", &c));
        assert_ne!(request_key("u", &a), request_key("v", &a));
        assert_eq!(
            canonical_json(&json!({"b": [1, {"d": 2, "c": 3}], "a": "x"})),
            r#"{"a":"x","b":[1,{"c":3,"d":2}]}"#
        );
    }
}
