//! The client's address, by one rule for every consumer (rate limits, audit events): the socket
//! peer, unless the peer is one of `server.trusted_proxies`; then the right-most address of the
//! forwarded chain that is not a trusted proxy (RFC 7239 §5.2, and the `X-Forwarded-For` list it
//! standardises). Only the header the trusted proxy writes (`server.forwarded_header`) is read:
//! a proxy appends to that one and passes any other through from the client untouched.
//!
//! The edge layer computes the address once per request and puts it in the request's extensions
//! ([`ClientAddr`]); `web::client_ip` reads it from there.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::http::HeaderMap;
use poem::http::header::FORWARDED;

/// Read from `server.forwarded_header` by `config`, which checks it at start-up.
pub use crate::config::ForwardedHeader;
use crate::config::{ConfigError, ServerConfig};

/// The client's address as the edge layer determined it, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// How the client's address is found: which peers are trusted proxies and which header they write.
#[derive(Debug, Clone)]
pub struct ClientAddrRule {
    trusted: Vec<IpNet>,
    header: ForwardedHeader,
}

/// One hop of a forwarded chain (RFC 7239 §6): an address, or something that is none (the
/// identifier `unknown`, an obfuscated `_name`, an element without `for=`, or garbage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Ip(IpAddr),
    Opaque,
}

impl ClientAddrRule {
    /// Reads `server.trusted_proxies` (addresses or CIDR ranges) and `server.forwarded_header`;
    /// an entry that is neither is a start-up error naming the option.
    pub fn from_config(server: &ServerConfig) -> Result<ClientAddrRule, ConfigError> {
        Ok(ClientAddrRule { trusted: server.trusted_proxy_nets()?, header: server.forwarded_header_kind()? })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` carrying `headers`.
    ///
    /// RFC 7239 §5.2: each proxy appends the address it received the request from, so only the
    /// right end of the chain was written by proxies we trust; everything left of the first
    /// untrusted address came from the client and is ignored. Walking from the right, trusted
    /// proxies are skipped and the first other address is the client. A hop that is not an
    /// address (`unknown`, obfuscated, unparseable) ends the walk at the trusted proxy that
    /// reported it: that proxy is the closest we can identify, and the client cannot pick it.
    /// When every hop is a trusted proxy, the left-most one is the client.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let chain = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for_chain(headers),
            ForwardedHeader::Forwarded => forwarded_chain(headers),
        };
        let mut nearest = peer;
        for hop in chain.into_iter().rev() {
            match hop {
                Hop::Ip(ip) if self.is_trusted(ip) => nearest = ip,
                Hop::Ip(ip) => return ip,
                Hop::Opaque => return nearest,
            }
        }
        nearest
    }
}

/// The values of every `name` header line, in order: several lines are one comma-separated list
/// (RFC 9110 §5.3). Bytes that are not UTF-8 cannot be part of an address and are replaced, so the
/// rest of the line (the hops our proxy appended) still parses.
fn header_lines<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + 'a {
    headers.get_all(name).into_iter().map(|value| String::from_utf8_lossy(value.as_bytes()))
}

/// `X-Forwarded-For: client, proxy1, proxy2`, hops left to right. Empty list elements are ignored
/// (RFC 9110 §5.6.1).
fn x_forwarded_for_chain(headers: &HeaderMap) -> Vec<Hop> {
    let mut chain = Vec::new();
    for line in header_lines(headers, "x-forwarded-for") {
        chain.extend(line.split(',').map(str::trim).filter(|h| !h.is_empty()).map(parse_node));
    }
    chain
}

/// RFC 7239 §4: `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`, the `for` of
/// each forwarded-element left to right. An element without `for` is an opaque hop.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Hop> {
    let mut chain = Vec::new();
    for line in header_lines(headers, FORWARDED.as_str()) {
        for element in split_outside_quotes(&line, ',') {
            if element.trim().is_empty() {
                continue;
            }
            let for_value = split_outside_quotes(element, ';').into_iter().find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                // RFC 7239 §4: parameter names are case-insensitive.
                name.trim().eq_ignore_ascii_case("for").then(|| unquote(value.trim()))
            });
            chain.push(for_value.map_or(Hop::Opaque, |v| parse_node(&v)));
        }
    }
    chain
}

/// Splits `text` at `separator` where it is not inside a quoted-string (RFC 9110 §5.6.4).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token or a quoted-string's content with its `\` escapes undone (RFC 9110 §5.6.4).
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

/// RFC 7239 §6: `node = nodename [ ":" node-port ]`, the name an IPv4 address, a bracketed IPv6
/// address, `unknown` or an obfuscated `_identifier`. A bare IPv6 address (as `X-Forwarded-For`
/// carries it) is accepted too. Anything that is not an address is an opaque hop.
fn parse_node(node: &str) -> Hop {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Hop::Ip(ip.to_canonical());
    }
    let name = match node.strip_prefix('[') {
        Some(rest) => rest.split_once(']').filter(|(_, port)| port.is_empty() || port.starts_with(':')).map(|(a, _)| a),
        None => node.split_once(':').map(|(a, _)| a),
    };
    match name.and_then(|n| n.parse::<IpAddr>().ok()) {
        Some(ip) => Hop::Ip(ip.to_canonical()),
        None => Hop::Opaque,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(trusted: &[&str], header: &str) -> ClientAddrRule {
        let server = ServerConfig {
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            forwarded_header: header.into(),
            ..ServerConfig::default()
        };
        ClientAddrRule::from_config(&server).unwrap()
    }

    fn headers(name: &str, lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(poem::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), line.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PROXY: &str = "10.0.0.2";

    #[test]
    fn rfc7239_5_2_the_right_most_untrusted_address_is_the_client() {
        let r = rule(&["10.0.0.0/8"], "x-forwarded-for");
        // The client wrote the first two entries; our proxies appended the last three.
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.9, 203.0.113.5, 10.1.1.1, 10.0.0.3"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("203.0.113.5"));
        // Rotating the fake first entry does not change the answer.
        let h = headers("x-forwarded-for", &["7.7.7.7, 198.51.100.9, 203.0.113.5"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("203.0.113.5"));
    }

    #[test]
    fn rfc7239_5_2_headers_are_read_only_from_a_trusted_peer() {
        let r = rule(&["10.0.0.0/8"], "x-forwarded-for");
        let h = headers("x-forwarded-for", &["203.0.113.5"]);
        assert_eq!(r.client_ip(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        // Without the header, a trusted peer is itself the client.
        assert_eq!(r.client_ip(ip(PROXY), &HeaderMap::new()), ip(PROXY));
        // An IPv4-mapped peer (a dual-stack listener) is the same IPv4 address.
        assert_eq!(r.client_ip(ip("::ffff:10.0.0.2"), &h), ip("203.0.113.5"));
    }

    #[test]
    fn rfc9110_5_3_several_header_lines_are_one_list_in_order() {
        let r = rule(&[PROXY], "x-forwarded-for");
        let h = headers("x-forwarded-for", &["6.6.6.6", "203.0.113.5, , 198.51.100.7"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("198.51.100.7"));
        let h = headers("x-forwarded-for", &["198.51.100.7", PROXY]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("198.51.100.7"), "the proxy's own hop on a line of its own");
    }

    #[test]
    fn when_every_hop_is_a_trusted_proxy_the_left_most_is_the_client() {
        let r = rule(&["10.0.0.0/8"], "x-forwarded-for");
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.3"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("10.9.9.9"));
    }

    #[test]
    fn rfc7239_6_an_unknown_or_unparseable_hop_stops_at_the_proxy_that_reported_it() {
        let r = rule(&["10.0.0.0/8"], "x-forwarded-for");
        // The client cannot reach past garbage our proxy recorded: it is keyed as that proxy.
        let h = headers("x-forwarded-for", &["203.0.113.5, unknown, 10.0.0.3"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("10.0.0.3"));
        let h = headers("x-forwarded-for", &["not-an-address"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip(PROXY));
        // Garbage left of the untrusted hop is the client's own and changes nothing.
        let h = headers("x-forwarded-for", &["%%%, 203.0.113.5"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("203.0.113.5"));
    }

    #[test]
    fn x_forwarded_for_hops_with_ports_and_bare_or_bracketed_ipv6_are_addresses() {
        let r = rule(&[PROXY], "x-forwarded-for");
        for (hop, expected) in [
            ("203.0.113.5:4711", "203.0.113.5"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
        ] {
            let h = headers("x-forwarded-for", &[hop]);
            assert_eq!(r.client_ip(ip(PROXY), &h), ip(expected), "{hop}");
        }
    }

    #[test]
    fn rfc7239_4_forwarded_for_is_read_right_to_left_with_quoted_ipv6_and_ports() {
        let r = rule(&["10.0.0.0/8"], "forwarded");
        let h = headers(
            "forwarded",
            &["for=6.6.6.6, For=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.3", "for=10.0.0.3"],
        );
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &["for=192.0.2.60;proto=http;by=203.0.113.43"]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("192.0.2.60"));
        let h = headers("forwarded", &["for=\"192.0.2.43:47011\""]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("192.0.2.43"));
    }

    #[test]
    fn rfc7239_6_obfuscated_and_unknown_identifiers_are_not_addresses() {
        let r = rule(&["10.0.0.0/8"], "forwarded");
        for element in ["for=unknown", "for=_hidden", "for=\"_SEVKISEK\"", "proto=https", "for=\"[::1\""] {
            let h = headers("forwarded", &[&format!("for=203.0.113.5, {element}")]);
            assert_eq!(r.client_ip(ip(PROXY), &h), ip(PROXY), "{element}");
        }
        // A comma inside a quoted-string does not split the element: no second hop appears.
        let h = headers("forwarded", &["for=203.0.113.9;by=\"a,for=198.51.100.7,b\""]);
        assert_eq!(r.client_ip(ip(PROXY), &h), ip("203.0.113.9"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // A proxy that writes X-Forwarded-For passes a client's Forwarded through untouched.
        let xff = rule(&[PROXY], "x-forwarded-for");
        let mut h = headers("forwarded", &["for=6.6.6.6"]);
        assert_eq!(xff.client_ip(ip(PROXY), &h), ip(PROXY));
        h.append("x-forwarded-for", "203.0.113.5".parse().unwrap());
        assert_eq!(xff.client_ip(ip(PROXY), &h), ip("203.0.113.5"));
        // And one that writes Forwarded passes a client's X-Forwarded-For through.
        let forwarded = rule(&[PROXY], "forwarded");
        let h = headers("x-forwarded-for", &["6.6.6.6"]);
        assert_eq!(forwarded.client_ip(ip(PROXY), &h), ip(PROXY));
    }

    #[test]
    fn trusted_proxies_accept_addresses_and_cidr_ranges_and_name_the_option_otherwise() {
        let r = rule(&["192.0.2.7", "10.0.0.0/8", "2001:db8::/32", " 172.16.5.0/24 "], "x-forwarded-for");
        for trusted in ["192.0.2.7", "10.200.3.4", "2001:db8:1::9", "172.16.5.200"] {
            assert!(r.is_trusted(ip(trusted)), "{trusted}");
        }
        for untrusted in ["192.0.2.8", "11.0.0.1", "2001:db9::1", "172.16.6.1"] {
            assert!(!r.is_trusted(ip(untrusted)), "{untrusted}");
        }
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0", ""] {
            let server = ServerConfig { trusted_proxies: vec![bad.into()], ..ServerConfig::default() };
            let err = ClientAddrRule::from_config(&server).unwrap_err().to_string();
            assert!(err.contains("server.trusted_proxies") && err.contains(&format!("{bad:?}")), "{err}");
        }
        let server = ServerConfig { forwarded_header: "x-real-ip".into(), ..ServerConfig::default() };
        let err = ClientAddrRule::from_config(&server).unwrap_err().to_string();
        assert!(err.contains("server.forwarded_header"), "{err}");
    }
}
