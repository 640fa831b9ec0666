//! Calls the provider makes to addresses a client chose: a `private_key_jwt` client's `jwks_uri`
//! (GET) and its `backchannel_logout_uri` (POST). For a client an admin registered these are the
//! admin's choice and may well be internal hosts. For a client that registered itself (RFC 7591)
//! they are a stranger's choice, and a provider that calls them blindly can be made to reach its
//! own loopback services, the internal network or a cloud metadata address (server-side request
//! forgery): unless the operator names the allowed hosts (`registration.allowed_redirect_hosts`),
//! such a client's URIs must lead to public addresses. That is checked twice,
//! when the URI is registered ([`check_public_host`]) and when it is called ([`Callers`]): a name
//! after its resolution ([`PublicOnly`]), since a public-looking name may resolve to a private
//! address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an ordinary address on the public internet: not unspecified, loopback,
/// private (RFC 1918, RFC 4193), shared (RFC 6598), link-local, multicast, broadcast, reserved or
/// documentation space; an IPv4 address inside IPv6 (mapped, NAT64) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // RFC 6598 shared address space (carrier-grade NAT).
        || (a == 100 && (64..128).contains(&b))
        // RFC 6890: IETF protocol assignments, benchmarking, reserved (240/4).
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240;
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // RFC 6052 NAT64 well-known prefix 64:ff9b::/96: the last 32 bits are an IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 (deprecated) site-local.
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        // 2001:db8::/32 documentation; ::/96 (IPv4-compatible, deprecated).
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
        || segments[..6] == [0, 0, 0, 0, 0, 0];
    !special
}

/// At registration: the URI's host, when it is an address, must be public, and no name of this
/// machine (`localhost`, `*.localhost`, RFC 6761 §6.3) is accepted. Other names are judged when
/// they are called ([`PublicOnly`]).
pub fn check_public_host(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("{uri:?}: {e}"))?;
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) if !is_public_v4(ip) => Err(format!("{uri:?}: {ip} is not a public address")),
        Some(url::Host::Ipv6(ip)) if !is_public_v6(ip) => Err(format!("{uri:?}: {ip} is not a public address")),
        Some(url::Host::Domain(name)) if is_local_name(name) => Err(format!("{uri:?}: {name} names this machine")),
        Some(_) => Ok(()),
        None => Err(format!("{uri:?} has no host")),
    }
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The same HTTP client settings twice: for URIs an admin chose (any address) and for URIs a
/// self-registered client chose (public addresses only).
pub struct Callers {
    any_address: reqwest::Client,
    public_only: reqwest::Client,
}

impl Callers {
    /// Both clients wait at most `timeout` (to connect, and for the whole call) and follow no
    /// redirect (a redirect could lead anywhere, past every check here).
    pub fn new(timeout: Duration) -> Result<Callers, String> {
        let settings = |builder: reqwest::ClientBuilder| {
            builder
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("dingtalk-oidc/", env!("CARGO_PKG_VERSION")))
        };
        let any_address = settings(reqwest::Client::builder()).build().map_err(|e| e.to_string())?;
        // Directly, not through an HTTP(S)_PROXY of the environment: a proxy would resolve the
        // name itself, past the resolver that keeps to public addresses.
        let public_only = settings(reqwest::Client::builder())
            .no_proxy()
            .dns_resolver(PublicOnly)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Callers { any_address, public_only })
    }

    /// The client to call `url` with. With `public_only`, a host written as an address is checked
    /// here (addresses are not resolved) and a name by the resolver; a refusal says why.
    pub fn for_url(&self, url: &str, public_only: bool) -> Result<&reqwest::Client, String> {
        if !public_only {
            return Ok(&self.any_address);
        }
        check_public_host(url)?;
        Ok(&self.public_only)
    }
}

/// A resolver that answers only with public addresses: a name that resolves to none is an error
/// (the request is not sent). Used by the HTTP clients that call self-registered clients' URIs.
#[derive(Debug, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let refusal = format!("{host} resolves to no public address");
                return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, refusal).into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_count_as_public() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for special in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "::",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(!is_public(special.parse().unwrap()), "{special}");
        }
    }

    #[test]
    fn a_self_registered_host_must_be_a_public_address_or_a_name_not_of_this_machine() {
        assert!(check_public_host("https://keys.example.com/jwks").is_ok());
        assert!(check_public_host("https://8.8.8.8/jwks").is_ok());
        for local in [
            "https://127.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://10.0.0.8:8443/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:192.168.0.1]/jwks",
            "https://localhost/jwks",
            "https://LOCALHOST./jwks",
            "https://api.localhost/jwks",
            // Written in the forms the URL parser reads as 127.0.0.1.
            "https://2130706433/jwks",
            "https://0x7f.1/jwks",
        ] {
            assert!(check_public_host(local).is_err(), "{local}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_this_machine_is_not_called() {
        // A server that would answer, on loopback; `localhost` resolves to it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
            }
        });
        let url = format!("http://localhost:{port}/");
        let plain = reqwest::Client::builder().build().unwrap();
        let answer = plain.get(&url).send().await;
        assert!(answer.as_ref().is_ok_and(|r| r.status().is_success()), "the server answers: {answer:?}");
        let guarded = reqwest::Client::builder().dns_resolver(PublicOnly).build().unwrap();
        let err = guarded.get(&url).send().await.unwrap_err();
        assert!(format!("{err:?}").contains("resolves to no public address"), "{err:?}");
    }
}
