//! Request parameters, gathered from the query string and the body (form, multipart or JSON),
//! and parsed into domain types at the edge.

use std::borrow::Cow;
use std::collections::BTreeMap;

use model::{GraphError, GraphId, Scope, ScopeSet, Task, TaskSet};
use serde_json::Value;

/// One parameter as it arrived: text (query, form, multipart) or a JSON value (JSON bodies).
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Text(String),
    Json(Value),
}

/// The parameters of one request. Body parameters override query parameters of the same name.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: BTreeMap<String, Param>,
    /// The query string as it came, to rebuild paging links with its pairs in order.
    query: String,
}

/// Refuses URL-encoded text (a query string, a form body) whose decoded names or values are not
/// UTF-8, instead of reading them with replacement characters.
pub fn check_utf8(encoded: &[u8]) -> Result<(), GraphError> {
    // Plain ASCII without escapes decodes to itself: nothing to check (the common case).
    if encoded.iter().all(|&b| b.is_ascii() && b != b'%') {
        return Ok(());
    }
    for part in encoded.split(|&b| b == b'&' || b == b'=') {
        if percent_encoding::percent_decode(part).decode_utf8().is_err() {
            return Err(GraphError::invalid_param("Parameters must be UTF-8 text"));
        }
    }
    Ok(())
}

impl Params {
    pub fn from_query(query: &str) -> Params {
        let mut params = Params { values: BTreeMap::new(), query: query.to_string() };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            params.add_text(k.into_owned(), v.into_owned());
        }
        params
    }

    pub fn add_form(&mut self, body: &[u8]) {
        for (k, v) in form_urlencoded::parse(body) {
            self.add_text(k.into_owned(), v.into_owned());
        }
    }

    /// Adds a text parameter. `name[]=…` and `name[0]=…` (PHP-style arrays, as `curl -F` users
    /// write them) add to a list named `name`, in order.
    pub fn add_text(&mut self, name: String, value: String) {
        if let Some(base) = array_name(&name) {
            let list = self.values.entry(base.to_string()).or_insert(Param::Json(Value::Array(Vec::new())));
            match list {
                Param::Json(Value::Array(items)) => items.push(Value::String(value)),
                other => *other = Param::Json(Value::Array(vec![Value::String(value)])),
            }
            return;
        }
        self.values.insert(name, Param::Text(value));
    }

    /// Adds the fields of a JSON object body. Anything but an object is refused.
    pub fn add_json(&mut self, body: &[u8]) -> Result<(), GraphError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                for (k, v) in map {
                    self.values.insert(k, Param::Json(v));
                }
                Ok(())
            }
            Ok(_) => Err(GraphError::invalid_param("The request body must be a JSON object")),
            Err(e) => Err(GraphError::invalid_param(format!("The request body is not valid JSON: {e}"))),
        }
    }

    /// The query string's pairs, in order.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query.as_bytes())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A parameter as text. JSON strings give their content, other JSON values their JSON text.
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.values.get(name)? {
            Param::Text(s) => Some(Cow::Borrowed(s)),
            Param::Json(Value::String(s)) => Some(Cow::Borrowed(s)),
            Param::Json(Value::Null) => None,
            Param::Json(v) => Some(Cow::Owned(v.to_string())),
        }
    }

    pub fn required(&self, name: &str) -> Result<String, GraphError> {
        match self.text(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.into_owned()),
            _ => Err(GraphError::missing_param(name)),
        }
    }

    /// A parameter that names a node by id.
    pub fn id(&self, name: &str) -> Result<Option<GraphId>, GraphError> {
        match self.text(name) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => GraphId::parse(v.trim())
                .map(Some)
                .ok_or_else(|| GraphError::invalid_param(format!("Param {name} must be a valid id"))),
        }
    }

    pub fn required_id(&self, name: &str) -> Result<GraphId, GraphError> {
        self.id(name)?.ok_or_else(|| GraphError::missing_param(name))
    }

    /// A parameter holding JSON: a JSON value of a JSON body, or JSON text of a form.
    pub fn json(&self, name: &str) -> Option<Result<Value, serde_json::Error>> {
        match self.values.get(name)? {
            Param::Json(Value::String(s)) | Param::Text(s) => Some(serde_json::from_str(s)),
            Param::Json(v) => Some(Ok(v.clone())),
        }
    }

    /// The whole parameter set as one JSON object (a Cloud API message body).
    pub fn as_json(&self) -> Value {
        Value::Object(
            self.values
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Param::Json(v) => v.clone(),
                        // Form fields holding JSON objects (`text={"body":"hi"}`) are read as JSON.
                        Param::Text(s) => match serde_json::from_str::<Value>(s) {
                            Ok(v @ Value::Object(_)) => v,
                            _ => Value::String(s.clone()),
                        },
                    };
                    (k.clone(), v)
                })
                .collect(),
        )
    }

    /// A boolean, as `true`/`false`, `1`/`0` or a JSON boolean.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, GraphError> {
        let v = match self.values.get(name) {
            None => return Ok(None),
            Some(Param::Json(Value::Bool(b))) => return Ok(Some(*b)),
            Some(_) => self.text(name).unwrap_or_default(),
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" | "" => Ok(Some(false)),
            _ => Err(GraphError::invalid_param(format!("Param {name} must be a boolean"))),
        }
    }

    /// A list in any of the encodings clients use: a JSON array, a JSON array in a string,
    /// `['A','B']`, or comma-separated text.
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, GraphError> {
        let bad = || GraphError::invalid_param(format!("Param {name} must be an array"));
        match self.values.get(name) {
            None => Ok(None),
            Some(Param::Json(Value::Array(items))) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Param::Json(Value::Null)) => Ok(None),
            Some(Param::Json(Value::String(s))) | Some(Param::Text(s)) => parse_list_text(s).map(Some).ok_or_else(bad),
            Some(Param::Json(_)) => Err(bad()),
        }
    }
}

/// The list a parameter name adds to: `tasks` for `tasks[]` and `tasks[3]`.
fn array_name(name: &str) -> Option<&str> {
    let (base, rest) = name.split_once('[')?;
    let index = rest.strip_suffix(']')?;
    (!base.is_empty() && index.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

/// Parses a list written as text: `["A","B"]`, `['A','B']`, `[A,B]` or `A,B`.
pub fn parse_list_text(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(Vec::new());
    }
    if s.starts_with('[') {
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(s) {
            return items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect();
        }
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        return Some(
            split_csv(inner)
                .into_iter()
                .map(|item| {
                    let item = item.trim();
                    let unquoted = item
                        .strip_prefix('\'')
                        .and_then(|i| i.strip_suffix('\''))
                        .or_else(|| item.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
                        .unwrap_or(item);
                    unquoted.trim().to_string()
                })
                .collect(),
        );
    }
    Some(split_csv(s).into_iter().map(|i| i.trim().to_string()).collect())
}

fn split_csv(s: &str) -> Vec<&str> {
    s.split(',').filter(|i| !i.trim().is_empty()).collect()
}

/// The `tasks` of an assignment: every value one of the 13 WABA tasks.
pub fn parse_tasks(items: &[String]) -> Result<TaskSet, GraphError> {
    let mut set = TaskSet::EMPTY;
    for (i, item) in items.iter().enumerate() {
        match Task::parse(item) {
            Some(t) => set.insert(t),
            None => {
                let names: Vec<&str> = Task::ALL.iter().map(|t| t.as_str()).collect();
                return Err(GraphError::invalid_param(format!(
                    "Param tasks[{i}] must be one of {{{}}}",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(set)
}

/// The `scope` of a token: every value a permission a system-user token can carry (else 3962).
pub fn parse_scopes(items: &[String]) -> Result<ScopeSet, GraphError> {
    items.iter().map(|s| Scope::parse(s).ok_or_else(GraphError::invalid_scope)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(query: &str) -> Vec<String> {
        Params::from_query(query).list("tasks").unwrap().unwrap()
    }

    #[test]
    fn reads_the_four_list_encodings() {
        let want = vec!["MANAGE".to_string(), "DEVELOP".to_string()];
        assert_eq!(list("tasks=%5B%22MANAGE%22%2C%22DEVELOP%22%5D"), want);
        assert_eq!(list("tasks=%5B%27MANAGE%27%2C%27DEVELOP%27%5D"), want);
        assert_eq!(list("tasks=MANAGE,DEVELOP"), want);
        assert_eq!(list("tasks=[MANAGE, DEVELOP]"), want);
        let mut p = Params::default();
        p.add_json(br#"{"tasks":["MANAGE","DEVELOP"]}"#).unwrap();
        assert_eq!(p.list("tasks").unwrap().unwrap(), want);
    }

    #[test]
    fn reads_php_style_arrays_in_order() {
        let want = vec!["MANAGE".to_string(), "DEVELOP".to_string()];
        assert_eq!(list("tasks%5B%5D=MANAGE&tasks%5B%5D=DEVELOP"), want);
        assert_eq!(list("tasks[0]=MANAGE&tasks[1]=DEVELOP"), want);
        let mut p = Params::default();
        p.add_form(b"tasks[]=MANAGE&tasks[]=DEVELOP");
        assert_eq!(p.list("tasks").unwrap().unwrap(), want);
        assert_eq!(array_name("a[b]"), None);
    }

    #[test]
    fn refuses_lists_of_objects_and_bad_json() {
        let mut p = Params::default();
        p.add_json(br#"{"tasks":[{"a":1}]}"#).unwrap();
        assert_eq!(p.list("tasks").unwrap_err().code, 100);
        assert_eq!(p.add_json(b"{nope").unwrap_err().code, 100);
        assert_eq!(p.add_json(b"[1]").unwrap_err().code, 100);
    }

    #[test]
    fn unknown_tasks_and_scopes_get_their_codes() {
        assert_eq!(parse_tasks(&["FULL_CONTROL".into()]).unwrap_err().code, 100);
        assert_eq!(parse_scopes(&["publish_actions".into()]).unwrap_err().code, 3962);
    }

    #[test]
    fn booleans_come_in_several_spellings() {
        let p = Params::from_query("a=true&b=0&c=maybe");
        assert_eq!(p.bool("a").unwrap(), Some(true));
        assert_eq!(p.bool("b").unwrap(), Some(false));
        assert!(p.bool("c").is_err());
        assert_eq!(p.bool("d").unwrap(), None);
    }
}
