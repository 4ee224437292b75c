//! `fields=` selection: `a,b{c,d},e`, with nesting, applied to rendered nodes.

use model::GraphError;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub children: Option<Vec<Field>>,
}

/// Parses a `fields` value. Modifiers such as `.limit(5)` are accepted and ignored.
pub fn parse(s: &str) -> Result<Vec<Field>, GraphError> {
    let bytes: Vec<char> = s.chars().collect();
    let mut pos = 0;
    let fields = parse_list(&bytes, &mut pos, 0)?;
    if pos != bytes.len() {
        return Err(GraphError::invalid_param(format!("Syntax error in fields near position {pos}")));
    }
    Ok(fields)
}

const MAX_DEPTH: usize = 8;

fn parse_list(s: &[char], pos: &mut usize, depth: usize) -> Result<Vec<Field>, GraphError> {
    if depth > MAX_DEPTH {
        return Err(GraphError::invalid_param("fields are nested too deeply"));
    }
    let mut out = Vec::new();
    loop {
        let start = *pos;
        while *pos < s.len() && (s[*pos].is_ascii_alphanumeric() || s[*pos] == '_') {
            *pos += 1;
        }
        let name: String = s[start..*pos].iter().collect();
        // Modifiers: .limit(5), .summary(true) …
        while *pos < s.len() && s[*pos] == '.' {
            while *pos < s.len() && s[*pos] != '(' {
                *pos += 1;
            }
            while *pos < s.len() && s[*pos] != ')' {
                *pos += 1;
            }
            if *pos < s.len() {
                *pos += 1;
            }
        }
        let children = if *pos < s.len() && s[*pos] == '{' {
            *pos += 1;
            let c = parse_list(s, pos, depth + 1)?;
            if *pos >= s.len() || s[*pos] != '}' {
                return Err(GraphError::invalid_param("Syntax error in fields: a '{' is not closed"));
            }
            *pos += 1;
            Some(c)
        } else {
            None
        };
        let name = name.trim().to_string();
        if !name.is_empty() {
            out.push(Field { name, children });
        } else if children.is_some() {
            return Err(GraphError::invalid_param("Syntax error in fields: '{' needs a field name before it"));
        }
        while *pos < s.len() && s[*pos] == ' ' {
            *pos += 1;
        }
        if *pos < s.len() && s[*pos] == ',' {
            *pos += 1;
            while *pos < s.len() && s[*pos] == ' ' {
                *pos += 1;
            }
            continue;
        }
        if *pos < s.len() && s[*pos] != '}' {
            return Err(GraphError::invalid_param(format!("Syntax error in fields near '{}'", s[*pos])));
        }
        return Ok(out);
    }
}

/// A node to render: the fields its type has, its default fields, and how to compute one field's
/// value. Only the fields asked for are computed; a `null` value is left out, as Graph does.
pub struct Node<'a> {
    pub type_name: &'static str,
    /// Fields this node type has, including ones with no value on this node.
    pub known: &'static [&'static str],
    /// Fields shown without `fields=`.
    pub defaults: &'static [&'static str],
    pub value: Box<dyn Fn(&str) -> Value + 'a>,
}

impl Node<'_> {
    /// The node with the requested fields (or the defaults), always with its `id`.
    pub fn select(self, fields: Option<&[Field]>) -> Result<Selected<'_>, GraphError> {
        let mut out = Selected(Vec::with_capacity(fields.map_or(self.defaults.len(), <[Field]>::len) + 1));
        match fields {
            None => {
                for name in self.defaults {
                    out.push(name, (self.value)(name));
                }
            }
            Some(fields) => {
                for f in fields {
                    if !self.known.contains(&f.name.as_str()) {
                        return Err(GraphError::nonexisting_field(&f.name, self.type_name));
                    }
                    if !out.has(&f.name) {
                        out.push(&f.name, narrow((self.value)(&f.name), f.children.as_deref()));
                    }
                }
            }
        }
        if !out.has("id") {
            out.push("id", (self.value)("id"));
        }
        Ok(out)
    }
}

/// A node's selected fields in the order asked, serialized as a JSON object straight from this
/// list (a node has a few dozen fields at most, so finding one is a short scan).
pub struct Selected<'f>(Vec<(&'f str, Value)>);

impl<'f> Selected<'f> {
    /// Adds a field; a `null` value is left out, as Graph does.
    fn push(&mut self, name: &'f str, value: Value) {
        if !value.is_null() {
            self.0.push((name, value));
        }
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| *n == name)
    }

    pub fn answer(&self) -> Result<crate::Answer, GraphError> {
        crate::Answer::json(self)
    }
}

impl Serialize for Selected<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Applies a nested selection to an object, or to each object of an array.
fn narrow(v: Value, children: Option<&[Field]>) -> Value {
    let Some(children) = children else { return v };
    match v {
        // A nested edge (`partners{partner_app}`) narrows the items of its `data`.
        Value::Object(mut map)
            if map.get("data").is_some_and(Value::is_array) && !children.iter().any(|c| c.name == "data") =>
        {
            let data = map.remove("data").unwrap_or_default();
            map.insert("data".into(), narrow(data, Some(children)));
            Value::Object(map)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for c in children {
                if let Some(inner) = map.get(&c.name) {
                    out.insert(c.name.clone(), narrow(inner.clone(), c.children.as_deref()));
                }
            }
            if let Some(id) = map.get("id") {
                out.entry("id").or_insert(id.clone());
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|i| narrow(i, Some(children))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &[Field]) -> Vec<&str> {
        fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn parses_nested_fields() {
        let f = parse("id,name,partners{partner_permissions,partner_app{id}},tasks").unwrap();
        assert_eq!(names(&f), ["id", "name", "partners", "tasks"]);
        let partners = f[2].children.as_ref().unwrap();
        assert_eq!(names(partners), ["partner_permissions", "partner_app"]);
        assert_eq!(names(partners[1].children.as_ref().unwrap()), ["id"]);
    }

    #[test]
    fn ignores_modifiers_and_spaces() {
        assert_eq!(names(&parse("id, name.limit(5) ,tasks").unwrap()), ["id", "name", "tasks"]);
    }

    #[test]
    fn refuses_broken_syntax() {
        for bad in ["a{b", "a}b", "{b}", "a,,b{", "a;b"] {
            assert_eq!(parse(bad).map_err(|e| e.code), Err(100), "{bad}");
        }
    }

    fn node() -> Node<'static> {
        Node {
            type_name: "Thing",
            known: &["id", "name", "note"],
            defaults: &["name"],
            value: Box::new(|f: &str| match f {
                "id" => Value::from("7"),
                "name" => Value::from("Seven"),
                _ => Value::Null,
            }),
        }
    }

    #[test]
    fn a_selection_serializes_in_the_order_asked_once_per_field_without_nulls_and_with_its_id() {
        let json = |fields: Option<&str>| {
            let parsed = fields.map(|f| parse(f).unwrap());
            serde_json::to_string(&node().select(parsed.as_deref()).unwrap()).unwrap()
        };
        assert_eq!(json(None), r#"{"name":"Seven","id":"7"}"#);
        assert_eq!(json(Some("name,note,name")), r#"{"name":"Seven","id":"7"}"#);
        assert_eq!(json(Some("id,name")), r#"{"id":"7","name":"Seven"}"#);
        assert_eq!(node().select(Some(&parse("colour").unwrap())).map(|_| ()).unwrap_err().code, 100);
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing() {
        let deep = "a{".repeat(100_000);
        assert!(parse(&deep).is_err());
    }
}
