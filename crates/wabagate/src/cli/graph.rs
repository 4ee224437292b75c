//! The Graph API as the CLI calls it: any Graph-compatible base URL (wabagate's, or Meta's with a
//! real token), the token as a bearer header, `appsecret_proof` when an app secret is given, and
//! Meta's error envelope turned into an error that shows its message, code, subcode and trace id.

use std::fmt;

use reqwest::Method;
use serde_json::Value;

/// What can go wrong, each with its exit code (documented in `wabagate --help`).
#[derive(Debug)]
pub enum CliError {
    /// The server answered with Graph's error envelope.
    Graph { status: u16, message: String, kind: String, code: u64, subcode: Option<u64>, fbtrace_id: String },
    /// The server could not be reached, or did not answer JSON.
    Unreachable(String),
    /// The command line or an input file is wrong.
    Usage(String),
    /// The person at the prompt did not confirm.
    Cancelled,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Graph { .. } => 1,
            CliError::Unreachable(_) => 3,
            CliError::Usage(_) => super::USAGE_EXIT,
            CliError::Cancelled => 5,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Graph { status, message, kind, code, subcode, fbtrace_id } => {
                write!(f, "{message}\n  code {code}")?;
                if let Some(s) = subcode {
                    write!(f, ", subcode {s}")?;
                }
                write!(f, " ({kind}, HTTP {status}), fbtrace_id {fbtrace_id}")
            }
            CliError::Unreachable(m) | CliError::Usage(m) => f.write_str(m),
            CliError::Cancelled => f.write_str("apply cancelled: nothing was changed"),
        }
    }
}

pub struct Graph {
    http: reqwest::Client,
    /// `{graph_url}/{version}`
    base: String,
    token: Option<String>,
    proof: Option<String>,
}

impl Graph {
    pub fn new(graph_url: &str, version: &str, token: Option<String>, app_secret: Option<&str>) -> Self {
        let proof = match (&token, app_secret) {
            (Some(t), Some(secret)) => Some(service::secrets::appsecret_proof(secret, t)),
            _ => None,
        };
        let base = format!("{}/{}", graph_url.trim_end_matches('/'), version.trim_matches('/'));
        Graph { http: reqwest::Client::new(), base, token, proof }
    }

    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, CliError> {
        self.call(Method::GET, path, params).await
    }

    pub async fn post(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, CliError> {
        self.call(Method::POST, path, params).await
    }

    pub async fn delete(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, CliError> {
        self.call(Method::DELETE, path, params).await
    }

    /// Every item of a paged edge, following `paging.next`.
    pub async fn get_all(&self, path: &str, params: &[(&str, &str)]) -> Result<Vec<Value>, CliError> {
        let mut page = self.get(path, &[params, &[("limit", "100")]].concat()).await?;
        let mut items = Vec::new();
        loop {
            if let Some(data) = page.get_mut("data").and_then(Value::as_array_mut) {
                items.append(data);
            }
            let Some(next) = page.pointer("/paging/next").and_then(Value::as_str).map(str::to_string) else {
                return Ok(items);
            };
            page = self.send(self.authorized(self.http.get(self.on_base(&next)?))).await?;
        }
    }

    /// A `paging.next` link, moved onto the origin (scheme, host and port) the CLI was pointed
    /// at: the token goes with it, and only to that server, whatever host the link names (a
    /// server behind a proxy names its public address; a hostile one could name any host).
    fn on_base(&self, link: &str) -> Result<reqwest::Url, CliError> {
        let unusable = || CliError::Unreachable(format!("the server's paging link is not a URL: {link}"));
        let mut url = reqwest::Url::parse(link).map_err(|_| unusable())?;
        let base = reqwest::Url::parse(&self.base).map_err(|_| unusable())?;
        if url.origin() != base.origin() {
            url.set_scheme(base.scheme()).map_err(|_| unusable())?;
            url.set_host(base.host_str()).map_err(|_| unusable())?;
            url.set_port(base.port()).map_err(|_| unusable())?;
        }
        Ok(url)
    }

    async fn call(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Result<Value, CliError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut params: Vec<(&str, &str)> = params.to_vec();
        if let Some(p) = &self.proof {
            params.push(("appsecret_proof", p));
        }
        let request = if method == Method::POST {
            self.http.post(url).form(&params)
        } else {
            self.http.request(method, url).query(&params)
        };
        self.send(self.authorized(request)).await
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let response = request.send().await.map_err(|e| {
            CliError::Unreachable(format!("cannot reach the Graph API at {}: {}", self.base, root_cause(&e)))
        })?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .map_err(|e| CliError::Unreachable(format!("the answer from {} is not JSON: {e}", self.base)))?;
        match body.get("error") {
            Some(e) if status >= 400 => Err(CliError::Graph {
                status,
                message: e["message"].as_str().unwrap_or("(no message)").to_string(),
                kind: e["type"].as_str().unwrap_or("").to_string(),
                code: e["code"].as_u64().unwrap_or(0),
                subcode: e["error_subcode"].as_u64(),
                fbtrace_id: e["fbtrace_id"].as_str().unwrap_or("").to_string(),
            }),
            _ if status >= 400 => Err(CliError::Unreachable(format!("HTTP {status} without a Graph error: {body}"))),
            _ => Ok(body),
        }
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_are_followed_only_on_the_server_the_cli_was_pointed_at() {
        let graph = Graph::new("http://127.0.0.1:8787", "v23.0", Some("EAAsecret".into()), None);
        let same = "http://127.0.0.1:8787/v23.0/1/system_users?limit=100&after=MQ";
        assert_eq!(graph.on_base(same).unwrap().as_str(), same);
        // A link on another host (a public URL, or a hostile server's choice) is moved back onto
        // the configured origin, path and query kept, so the bearer token goes nowhere else.
        let moved = graph.on_base("https://graph.example.test/v23.0/1/system_users?after=MQ").unwrap();
        assert_eq!(moved.as_str(), "http://127.0.0.1:8787/v23.0/1/system_users?after=MQ");
        assert!(graph.on_base("not a url").is_err());
    }
}
