//! The shapes of the JSON objects wabagate keeps (message bodies, template components): which
//! keys an object may hold and how long each text may be. What a shape does not name is dropped
//! before the object is stored; a text or list over its limit is refused. One normaliser, so a
//! stored object can only ever hold what its shape allows.

use serde_json::{Map, Value};

use crate::GraphError;

/// What a value may be.
#[derive(Debug)]
pub enum Shape {
    /// A string of at most this many characters (a number or boolean is kept as it is).
    Text(usize),
    Bool,
    /// A number, or a string of at most 64 characters holding one.
    Number,
    /// An object holding at most these keys, each of its shape.
    Object(&'static [(&'static str, Shape)]),
    /// A list of at most this many items of one shape.
    List(usize, &'static Shape),
    /// Any JSON (a free-form payload such as a flow's data), at most this many bytes serialised.
    Json(usize),
}

/// The error for a value over its limit, naming it by its path (`text.body`).
pub type Refuse = fn(String) -> GraphError;

/// `value` as `shape` allows it: unknown keys and values of the wrong type are dropped (`None`),
/// texts and lists over their limits are refused.
pub fn normalize(value: &Value, shape: &Shape, path: &str, refuse: Refuse) -> Result<Option<Value>, GraphError> {
    Ok(match (shape, value) {
        (Shape::Text(max), Value::String(s)) => {
            if s.chars().count() > *max {
                return Err(refuse(format!("{path} must be at most {max} characters long")));
            }
            Some(value.clone())
        }
        (Shape::Text(_) | Shape::Number, Value::Number(_) | Value::Bool(_)) => Some(value.clone()),
        (Shape::Number, Value::String(s)) if s.len() <= 64 => Some(value.clone()),
        (Shape::Bool, Value::Bool(_)) => Some(value.clone()),
        (Shape::Bool, Value::String(s)) if matches!(s.as_str(), "true" | "false") => Some(value.clone()),
        (Shape::Object(keys), Value::Object(given)) => Some(Value::Object(object(given, keys, path, refuse)?)),
        (Shape::List(max, item), Value::Array(items)) => {
            if items.len() > *max {
                return Err(refuse(format!("{path} may hold at most {max} items")));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                if let Some(v) = normalize(v, item, &format!("{path}[{i}]"), refuse)? {
                    out.push(v);
                }
            }
            Some(Value::Array(out))
        }
        (Shape::Json(max), v) => {
            if serde_json::to_string(v).map_or(usize::MAX, |s| s.len()) > *max {
                return Err(refuse(format!("{path} must be at most {max} bytes of JSON")));
            }
            Some(v.clone())
        }
        _ => None,
    })
}

/// The keys of `given` that `keys` names, each normalised.
pub fn object(
    given: &Map<String, Value>,
    keys: &[(&'static str, Shape)],
    path: &str,
    refuse: Refuse,
) -> Result<Map<String, Value>, GraphError> {
    let mut out = Map::new();
    for (key, shape) in keys {
        if let Some(v) = given.get(*key) {
            let path = if path.is_empty() { (*key).to_string() } else { format!("{path}.{key}") };
            if let Some(v) = normalize(v, shape, &path, refuse)? {
                out.insert((*key).to_string(), v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const INNER: Shape = Shape::Object(&[("body", Shape::Text(5)), ("flag", Shape::Bool)]);
    const OUTER: Shape = Shape::Object(&[("text", INNER), ("items", Shape::List(2, &Shape::Number))]);

    fn refuse(detail: String) -> GraphError {
        GraphError::invalid_param(detail)
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_dropped() {
        let v = json!({"text": {"body": "hi", "flag": "nope", "junk": "x".repeat(10_000)}, "access_token": "EAA"});
        let out = normalize(&v, &OUTER, "", refuse).unwrap().unwrap();
        assert_eq!(out, json!({"text": {"body": "hi"}}));
    }

    #[test]
    fn texts_and_lists_over_their_limits_are_refused_by_path() {
        let long = json!({"text": {"body": "toolong"}});
        let e = normalize(&long, &OUTER, "", refuse).unwrap_err();
        assert!(e.message.contains("text.body must be at most 5 characters"), "{}", e.message);
        let many = json!({"items": [1, 2, 3]});
        let e = normalize(&many, &OUTER, "", refuse).unwrap_err();
        assert!(e.message.contains("items may hold at most 2 items"), "{}", e.message);
        assert_eq!(
            normalize(&json!({"items": [1, "2"]}), &OUTER, "", refuse).unwrap().unwrap()["items"],
            json!([1, "2"])
        );
    }
}
