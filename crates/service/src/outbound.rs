//! Where wabagate's own outbound requests may go: the webhook verification handshake and webhook
//! deliveries both build their client here. With `--webhook-deny-private`, a callback that is, or
//! resolves to, a loopback, link-local or private address is refused: the host's addresses are
//! checked when each request is sent (by the client's resolver, so the address checked is the
//! address connected to), and an address written in the URL itself before it is sent.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// A request refused because its callback is on an address `--webhook-deny-private` refuses.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(host: &str, ip: IpAddr) -> Refused {
    Refused(format!(
        "refused: {host} is {ip}, a loopback, link-local or private address, which this server does not call (--webhook-deny-private)"
    ))
}

/// Whether an address is loopback, link-local, private (RFC 1918, shared RFC 6598, IPv6 unique
/// local), unspecified or broadcast: an address of this machine or its own network, where a
/// callback can only be an internal service. IPv4-mapped and -compatible IPv6 addresses are
/// judged by their IPv4 address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4() {
                // ::ffff:a.b.c.d and the deprecated ::a.b.c.d (which covers ::1 and ::).
                return private_v4(v4) || v6.is_loopback() || v6.is_unspecified();
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        }
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
}

/// Resolves hosts as the system does, keeping only the addresses the server may call.
struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all.iter().copied().filter(|a| !is_private(a.ip())).collect();
            match (allowed.is_empty(), all.first()) {
                (true, Some(first)) => {
                    Err(Box::new(refused(&host, first.ip())) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The client outbound requests use: no redirects, this timeout, and with `deny_private` the
/// resolver that refuses private addresses.
pub fn client(timeout: Duration, deny_private: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none());
    if deny_private { builder.dns_resolver(Arc::new(Resolver)) } else { builder }.build()
}

/// Checks a URL before a request to it: an address written in the URL is not resolved, so it is
/// checked here (a host name is checked by the resolver when the request is sent).
pub fn check_url(url: &reqwest::Url, deny_private: bool) -> Result<(), Refused> {
    if !deny_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else { return Ok(()) };
    if is_private(ip) { Err(refused(host, ip)) } else { Ok(()) }
}

/// The refusal behind a failed request, if that is why it failed.
pub fn refusal(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Some(r.0.clone());
        }
        source = s.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_link_local_and_private_addresses_are_private_and_public_ones_are_not() {
        let private = [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
        ];
        for ip in private {
            assert!(is_private(ip.parse().unwrap()), "{ip} is private");
        }
        let public = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"];
        for ip in public {
            assert!(!is_private(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn an_address_in_the_url_is_refused_only_when_private_addresses_are() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(check_url(&url("http://127.0.0.1:9/hook"), true).is_err());
        assert!(check_url(&url("http://[::ffff:7f00:1]/hook"), true).is_err());
        assert!(check_url(&url("http://[fd00::1]/hook"), true).is_err());
        assert!(check_url(&url("http://127.0.0.1:9/hook"), false).is_ok());
        assert!(check_url(&url("http://8.8.8.8/hook"), true).is_ok());
        // A name is checked by the resolver when the request is sent.
        assert!(check_url(&url("http://localhost/hook"), true).is_ok());
    }
}
