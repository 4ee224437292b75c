//! Cursor paging of edges: `{data, paging:{cursors:{before,after}, next, previous}}`, with
//! `limit` (default 25, at most 100), `after`, `before`, and `summary=total_count`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use model::GraphError;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Answer;
use crate::params::{Params, parse_list_text};

pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 100;

/// Where a page's links point: this server's public URL and the request's path.
pub struct Links<'a> {
    pub base_url: &'a str,
    pub path: &'a str,
    /// The caller's token when it came as a parameter, carried into `next` and `previous` so
    /// clients can follow them as-is; `None` for a token from the `Authorization` header.
    pub token: Option<&'a str>,
}

pub fn encode_cursor(key: u64) -> String {
    URL_SAFE_NO_PAD.encode(key.to_string())
}

pub fn decode_cursor(cursor: &str) -> Result<u64, GraphError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| GraphError::invalid_param("The cursor is invalid"))
}

fn limit(params: &Params) -> Result<usize, GraphError> {
    match params.text("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Ok((n as usize).min(MAX_LIMIT)),
            Ok(_) => Ok(DEFAULT_LIMIT),
            Err(_) => Err(GraphError::invalid_param("Param limit must be an integer")),
        },
    }
}

/// Whether the request asks for `summary.total_count` (`summary=total_count`, or `summary=true`
/// as the Python SDK sends it).
pub fn wants_total(params: &Params) -> bool {
    params
        .text("summary")
        .and_then(|s| parse_list_text(&s))
        .is_some_and(|items| items.iter().any(|i| i == "total_count" || i == "true" || i == "1"))
}

/// One page of an edge as Graph answers it, serialized straight from this struct.
#[derive(Serialize)]
pub struct Page<R> {
    pub data: Vec<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Value>,
}

#[derive(Serialize)]
pub struct Paging {
    cursors: Cursors,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Serialize)]
struct Cursors {
    before: String,
    after: String,
}

impl<R: Serialize> Page<R> {
    pub fn answer(&self) -> Result<Answer, GraphError> {
        Answer::json(self)
    }
}

/// One page of `items`, which are sorted by their key, with links to the pages around it. Only
/// the items of the page are rendered.
pub fn page<T, R>(
    items: Vec<(u64, T)>,
    params: &Params,
    links: &Links<'_>,
    render: impl Fn(&T) -> Result<R, GraphError>,
) -> Result<Page<R>, GraphError> {
    page_by(&items, |(k, _)| *k, params, links, |(_, item)| render(item))
}

/// One page of a slice sorted by `key`: the cursor is found by binary search, and only the items
/// of the page are rendered.
pub fn page_by<T, R>(
    items: &[T],
    key: impl Fn(&T) -> u64,
    params: &Params,
    links: &Links<'_>,
    render: impl Fn(&T) -> Result<R, GraphError>,
) -> Result<Page<R>, GraphError> {
    let limit = limit(params)?;
    let total = items.len();
    let (start, end) = if let Some(after) = params.text("after").filter(|s| !s.is_empty()) {
        let cursor = decode_cursor(&after)?;
        let start = items.partition_point(|item| key(item) <= cursor);
        (start, (start + limit).min(total))
    } else if let Some(before) = params.text("before").filter(|s| !s.is_empty()) {
        let cursor = decode_cursor(&before)?;
        let end = items.partition_point(|item| key(item) < cursor);
        (end.saturating_sub(limit), end)
    } else {
        (0, limit.min(total))
    };
    let slice = &items[start..end];
    let paging = match (slice.first().map(&key), slice.last().map(&key)) {
        (Some(first), Some(last)) => Some(Paging {
            cursors: Cursors { before: encode_cursor(first), after: encode_cursor(last) },
            previous: (start > 0).then(|| link(params, links, "before", first)),
            next: (end < total).then(|| link(params, links, "after", last)),
        }),
        _ => None,
    };
    Ok(Page {
        data: slice.iter().map(&render).collect::<Result<_, _>>()?,
        paging,
        summary: wants_total(params).then(|| json!({"total_count": total})),
    })
}

/// An absolute link to the page before or after `key`, with the original query parameters and
/// the caller's token.
pub fn link(params: &Params, links: &Links<'_>, direction: &str, key: u64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut has_token = false;
    for (k, v) in params.query_pairs() {
        if k == "after" || k == "before" {
            continue;
        }
        has_token |= k == "access_token";
        query.append_pair(&k, &v);
    }
    if let (false, Some(token)) = (has_token, links.token) {
        query.append_pair("access_token", token);
    }
    query.append_pair(direction, &encode_cursor(key));
    format!("{}{}?{}", links.base_url, links.path, query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page as its client sees it.
    fn page(
        items: Vec<(u64, Value)>,
        params: &Params,
        links: &Links<'_>,
        render: impl Fn(&Value) -> Result<Value, GraphError>,
    ) -> Result<Value, GraphError> {
        Ok(serde_json::to_value(super::page(items, params, links, render)?).unwrap())
    }

    fn items(n: u64) -> Vec<(u64, Value)> {
        (1..=n).map(|i| (i * 10, json!({"id": (i * 10).to_string()}))).collect()
    }

    const LINKS: Links<'static> = Links { base_url: "http://127.0.0.1:1", path: "/v23.0/5/things", token: Some("T") };

    #[test]
    fn pages_forward_and_back_with_absolute_links() {
        let p = Params::from_query("limit=2&fields=id");
        let first = page(items(5), &p, &LINKS, |v| Ok(v.clone())).unwrap();
        assert_eq!(first["data"].as_array().unwrap().len(), 2);
        assert!(first["paging"].get("previous").is_none());
        let next = first["paging"]["next"].as_str().unwrap();
        assert!(next.starts_with("http://127.0.0.1:1/v23.0/5/things?limit=2&fields=id&access_token=T&after="));
        let after = first["paging"]["cursors"]["after"].as_str().unwrap();
        let second =
            page(items(5), &Params::from_query(&format!("limit=2&after={after}")), &LINKS, |v| Ok(v.clone())).unwrap();
        assert_eq!(second["data"][0]["id"], "30");
        assert!(second["paging"]["previous"].is_string());
        let before = second["paging"]["cursors"]["before"].as_str().unwrap();
        let back = page(items(5), &Params::from_query(&format!("limit=2&before={before}")), &LINKS, |v| Ok(v.clone()))
            .unwrap();
        assert_eq!(back["data"][0]["id"], "10");
        let last =
            page(items(5), &Params::from_query(&format!("limit=4&after={after}")), &LINKS, |v| Ok(v.clone())).unwrap();
        assert_eq!(last["data"].as_array().unwrap().len(), 3);
        assert!(last["paging"].get("next").is_none());
    }

    #[test]
    fn limits_are_clamped_and_checked() {
        let all = page(items(150), &Params::from_query("limit=1000"), &LINKS, |v| Ok(v.clone())).unwrap();
        assert_eq!(all["data"].as_array().unwrap().len(), 100);
        assert_eq!(page(items(3), &Params::from_query("limit=abc"), &LINKS, |v| Ok(v.clone())).unwrap_err().code, 100);
        assert_eq!(page(items(3), &Params::from_query("after=!!"), &LINKS, |v| Ok(v.clone())).unwrap_err().code, 100);
    }

    #[test]
    fn summary_counts_everything() {
        let p = page(items(30), &Params::from_query("summary=total_count"), &LINKS, |v| Ok(v.clone())).unwrap();
        assert_eq!(p["summary"]["total_count"], 30);
        assert!(page(items(3), &Params::from_query(""), &LINKS, |v| Ok(v.clone())).unwrap().get("summary").is_none());
    }
}
