//! The `[server]` table: listeners, shutdown timing and the reverse proxies trusted to name the
//! client (`web::client_addr` applies the rule; its options are read and checked here).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    pub listen: String,
    /// Empty: `/metrics` is served on `listen` with everything else. Set (`0.0.0.0:9090`): a
    /// second listener serves `/metrics` alone on this address and `listen` answers it 404, so
    /// the public port does not expose it.
    pub metrics_listen: String,
    /// Reverse proxies (addresses or CIDR ranges) whose `forwarded_header` names the client for
    /// rate limits and audit events; any other peer is itself the client (`web::client_addr`).
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write: "x-forwarded-for" or "forwarded" (RFC 7239). Only
    /// this one is read; a proxy passes the other through from the client untouched.
    pub forwarded_header: String,
    /// After SIGTERM, new connections are still accepted this long (a load balancer may not have
    /// noticed `/readyz` yet); see `drain`.
    pub shutdown_accept_secs: u64,
    /// Then requests already received have this long to finish; unset, the longest a request can
    /// take (`drain::longest_request`).
    pub shutdown_drain_secs: Option<u64>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: String::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::X_FORWARDED_FOR.into(),
            shutdown_accept_secs: 5,
            shutdown_drain_secs: None,
        }
    }
}

impl ServerConfig {
    /// `/metrics` has a listener of its own (`server.metrics_listen` is set).
    pub fn metrics_on_own_listener(&self) -> bool {
        !self.metrics_listen.trim().is_empty()
    }

    /// `server.trusted_proxies` as networks (an address is a network of one); an entry that is
    /// neither an address nor a CIDR range is a start-up error naming the option.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies.iter().map(|entry| parse_trusted(entry)).collect()
    }

    /// `server.forwarded_header` as the header it names.
    pub fn forwarded_header_kind(&self) -> Result<ForwardedHeader, ConfigError> {
        ForwardedHeader::parse(&self.forwarded_header)
    }
}

/// The same listening address, written the same or alike (`[::1]:80` and `[0:0:0:0:0:0:0:1]:80`).
pub(super) fn same_address(a: &str, b: &str) -> bool {
    match (a.trim().parse::<std::net::SocketAddr>(), b.trim().parse::<std::net::SocketAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

/// Which header the trusted proxies write (`server.forwarded_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx `$proxy_add_x_forwarded_for`).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    pub const X_FORWARDED_FOR: &'static str = "x-forwarded-for";
    pub const FORWARDED: &'static str = "forwarded";

    fn parse(value: &str) -> Result<ForwardedHeader, ConfigError> {
        match value.to_ascii_lowercase().as_str() {
            Self::X_FORWARDED_FOR => Ok(ForwardedHeader::XForwardedFor),
            Self::FORWARDED => Ok(ForwardedHeader::Forwarded),
            _ => Err(ConfigError::Option {
                option: "server.forwarded_header",
                problem: format!(
                    "is {value:?}; use {:?} or {:?} (the header your proxy writes)",
                    Self::X_FORWARDED_FOR,
                    Self::FORWARDED
                ),
            }),
        }
    }
}

/// One `server.trusted_proxies` entry: an address (`10.0.0.7`, `2001:db8::7`) or a CIDR range
/// (`10.0.0.0/8`, `2001:db8::/32`).
fn parse_trusted(entry: &str) -> Result<IpNet, ConfigError> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(IpNet::from(ip.to_canonical()));
    }
    entry.parse::<IpNet>().map(|net| net.trunc()).map_err(|_| ConfigError::Option {
        option: "server.trusted_proxies",
        problem: format!(
            "has {entry:?}, which is neither an IP address nor a CIDR range (e.g. \"10.0.0.7\", \"10.0.0.0/8\", \
             \"2001:db8::/32\")"
        ),
    })
}
