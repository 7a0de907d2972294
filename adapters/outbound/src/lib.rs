//! The one gate every outbound request of Switchboard passes.
//!
//! A team admin names addresses Switchboard sends to (webhook receivers, a WeCom API
//! base), and the operator names others (a generative model's API). A team admin is
//! trusted with their team only, never with the network the instance runs in, so an
//! address must not reach the instance itself, its neighbours or a cloud's metadata
//! service. [`OutboundClient`]:
//!
//! - resolves a host name once and checks **every** address it resolves to with
//!   [`classify`]; the connection goes to an address that was checked (the resolver is the
//!   client's own, so nothing resolves the name a second time);
//! - checks an address written literally in the URL the same way (no resolver runs for it);
//! - follows no redirects and uses no proxy from the environment;
//! - reads bodies only up to a bound ([`read_limited`], [`discard`]).
//!
//! Loopback, private, link-local, shared (CGNAT), multicast, unspecified, broadcast,
//! documentation and reserved addresses are refused, IPv4 and IPv6 alike, also when an IPv4
//! address hides inside an IPv6 one (mapped, compatible, NAT64, 6to4). Only the instance's
//! operator can let ranges through ([`OutboundPolicy::allow`], `[outbound] allow` in the
//! configuration); cloud metadata addresses stay refused even then.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
pub use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
pub use reqwest::ClientBuilder;
use reqwest::{Method, RequestBuilder, Url};

/// What kind of address an IP address is, as far as sending to it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// A global unicast address: allowed.
    Public,
    /// This machine (127.0.0.0/8, ::1).
    Loopback,
    /// A private network (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48).
    Private,
    /// Link-local (169.254/16, fe80::/10).
    LinkLocal,
    /// Carrier-grade NAT space shared by a provider's customers (100.64/10).
    Shared,
    /// Multicast (224/4, ff00::/8).
    Multicast,
    /// "This host" or "this network" (0/8, ::).
    Unspecified,
    /// The limited broadcast address (255.255.255.255).
    Broadcast,
    /// Reserved for documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32).
    Documentation,
    /// Reserved or not routed on the internet (192.0.0/24, 198.18/15, 240/4, Teredo,
    /// discard-only, unallocated IPv6).
    Reserved,
    /// A cloud's instance metadata service (169.254.169.254, 169.254.170.2,
    /// 100.100.100.200, fd00:ec2::254): refused even inside an allowed range.
    Metadata,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Shared => "shared (carrier-grade NAT)",
            Self::Multicast => "multicast",
            Self::Unspecified => "unspecified",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
            Self::Metadata => "cloud metadata",
        })
    }
}

/// Classifies an address. Pure: tests run it over tables of addresses, never connecting.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

const METADATA_V4: [Ipv4Addr; 3] =
    [Ipv4Addr::new(169, 254, 169, 254), Ipv4Addr::new(169, 254, 170, 2), Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if METADATA_V4.contains(&ip) {
        return AddressClass::Metadata;
    }
    match (a, b, c) {
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::Shared,
        (169, 254, _) => AddressClass::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (192, 0, 0) | (192, 88, 99) | (198, 18..=19, _) => AddressClass::Reserved,
        (224..=239, _, _) => AddressClass::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => AddressClass::Broadcast,
        (240..=255, _, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

/// The IPv4 address an IPv6 address carries for translation or tunnelling, if any.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:aabb:ccdd::/48 (6to4).
        [0x2002, high, low16, ..] => {
            Some(Ipv4Addr::new((high >> 8) as u8, high as u8, (low16 >> 8) as u8, low16 as u8))
        }
        _ => None,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip == Ipv6Addr::UNSPECIFIED {
        return AddressClass::Unspecified;
    }
    if ip == Ipv6Addr::LOCALHOST {
        return AddressClass::Loopback;
    }
    if ip == METADATA_V6 {
        return AddressClass::Metadata;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    match s[0] {
        0xfc00..=0xfdff => AddressClass::Private,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfec0..=0xfeff => AddressClass::Private,
        0xff00..=0xffff => AddressClass::Multicast,
        0x2001 if s[1] == 0x0db8 => AddressClass::Documentation,
        0x2001 if s[1] == 0 => AddressClass::Reserved,
        0x0064 if s[1] == 0xff9b && s[2] == 1 => AddressClass::Private,
        0x2000..=0x3fff => AddressClass::Public,
        _ => AddressClass::Reserved,
    }
}

/// Which addresses outbound requests may go to: public ones, and the ranges the instance's
/// operator allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allow: Vec<IpNet>,
    hosts: BTreeMap<String, Vec<IpAddr>>,
    hosts_only: bool,
}

impl OutboundPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses and these ranges (the operator's `[outbound] allow`); cloud
    /// metadata addresses stay refused.
    pub fn allow(ranges: impl IntoIterator<Item = IpNet>) -> Self {
        Self { allow: ranges.into_iter().collect(), ..Self::default() }
    }

    /// Gives `host` fixed addresses instead of asking DNS (as a hosts file does); they are
    /// checked like resolved ones. Tests use it to name hosts without any lookup leaving
    /// the machine.
    pub fn with_host(mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.hosts.insert(host.to_ascii_lowercase(), addrs.into_iter().collect());
        self
    }

    /// Resolves only the names given with [`OutboundPolicy::with_host`], never asking DNS:
    /// for a machine that must not look names up (the test harnesses: no lookup may leave
    /// the machine).
    pub fn hosts_only(mut self) -> Self {
        self.hosts_only = true;
        self
    }

    /// The allowed ranges.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allow
    }

    /// `Ok` when requests may go to `ip`; otherwise the class that refuses it.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let class = classify(ip);
        let allowed = || {
            let mapped = match ip {
                IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
                IpAddr::V4(_) => None,
            };
            self.allow.iter().any(|net| net.contains(&ip) || mapped.is_some_and(|v4| net.contains(&v4)))
        };
        match class {
            AddressClass::Public => Ok(()),
            AddressClass::Metadata => Err(class),
            _ if allowed() => Ok(()),
            _ => Err(class),
        }
    }
}

/// Why an outbound request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// Not an absolute `http://` or `https://` URL with a host (the URL itself is not
    /// repeated: it may carry a receiver's token).
    #[error("the address must be an http:// or https:// URL with a host")]
    BadUrl,
    /// The host is, or resolves to, an address requests may not go to.
    #[error(
        "{} a {class} address: Switchboard sends only to public addresses unless the \
         instance's operator allows the range ([outbound] allow in the configuration)",
        which(host, addr)
    )]
    Refused {
        /// The host as written.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// Why it is refused.
        class: AddressClass,
    },
    /// The name resolves to no address.
    #[error("{host} has no address")]
    NoAddress {
        /// The host as written.
        host: String,
    },
    /// The name could not be resolved.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host as written.
        host: String,
        /// The resolver's explanation.
        reason: String,
    },
}

/// "10.0.0.1 is" for an address written as such, "crm.example.com resolves to 10.0.0.1,"
/// for a name.
fn which(host: &str, addr: &IpAddr) -> String {
    let written = host.trim_start_matches('[').trim_end_matches(']');
    if written.parse::<IpAddr>().is_ok_and(|ip| ip == *addr) {
        format!("{addr} is")
    } else {
        format!("{host} resolves to {addr},")
    }
}

impl OutboundError {
    /// The guard's refusal behind a client error, if that is why a request failed.
    pub fn behind<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a OutboundError> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(refusal) = error.downcast_ref::<OutboundError>() {
                return Some(refusal);
            }
            cause = error.source();
        }
        None
    }
}

/// Resolves `host` and checks every address; all of them must pass, so a name that
/// mixes a public address with a private one cannot be used to reach the private one.
async fn resolve_checked(policy: &OutboundPolicy, host: &str) -> Result<Vec<SocketAddr>, OutboundError> {
    let addrs: Vec<SocketAddr> = match policy.hosts.get(&host.to_ascii_lowercase()) {
        Some(fixed) => fixed.iter().map(|ip| SocketAddr::new(*ip, 0)).collect(),
        None if policy.hosts_only => Vec::new(),
        None => tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| OutboundError::Resolve { host: host.to_owned(), reason: e.to_string() })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(OutboundError::NoAddress { host: host.to_owned() });
    }
    for addr in &addrs {
        policy.check(addr.ip()).map_err(|class| OutboundError::Refused {
            host: host.to_owned(),
            addr: addr.ip(),
            class,
        })?;
    }
    Ok(addrs)
}

/// The client's resolver: the only place its host names are resolved.
struct CheckingResolver {
    policy: Arc<OutboundPolicy>,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let addrs = resolve_checked(&policy, name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client whose every request passes the guard (see the crate documentation).
#[derive(Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundClient").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl OutboundClient {
    /// A client from `builder` (timeouts, user agent) under `policy`; redirects, proxies
    /// and name resolution are the guard's and cannot be set otherwise.
    pub fn new(policy: OutboundPolicy, builder: reqwest::ClientBuilder) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckingResolver { policy: policy.clone() }))
            .build()?;
        Ok(Self { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// Parses `url` and checks an address written in it, without any lookup; a host name
    /// is checked when a request connects (or by [`OutboundClient::check`]).
    pub fn parse(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::BadUrl);
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(parsed),
            None => return Err(OutboundError::BadUrl),
        };
        let host = parsed.host_str().unwrap_or_default().to_owned();
        self.policy.check(literal).map_err(|class| OutboundError::Refused { host, addr: literal, class })?;
        Ok(parsed)
    }

    /// A request to `url`, refused before anything is sent when the URL names a refused
    /// address.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, OutboundError> {
        Ok(self.client.request(method, self.parse(url)?))
    }

    /// A `GET` request (see [`OutboundClient::request`]).
    pub fn get(&self, url: &str) -> Result<RequestBuilder, OutboundError> {
        self.request(Method::GET, url)
    }

    /// A `POST` request (see [`OutboundClient::request`]).
    pub fn post(&self, url: &str) -> Result<RequestBuilder, OutboundError> {
        self.request(Method::POST, url)
    }

    /// Checks `url` now, resolving its host: what registration does, so a bad address is
    /// refused when it is entered. Sending checks again (DNS can change).
    pub async fn check(&self, url: &str) -> Result<(), OutboundError> {
        let parsed = self.parse(url)?;
        if let Some(url::Host::Domain(host)) = parsed.host() {
            resolve_checked(&self.policy, host).await?;
        }
        Ok(())
    }
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Longer than allowed.
    #[error("the answer is longer than {0} bytes")]
    TooLarge(usize),
    /// The connection failed while reading.
    #[error("reading the answer failed: {0}")]
    Read(String),
}

/// Reads a body of at most `max` bytes; a longer one is refused as soon as it passes the
/// bound, without reading the rest.
pub async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Bytes, BodyError> {
    if response.content_length().is_some_and(|len| len > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| BodyError::Read(e.without_url().to_string()))? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Reads and drops at most `max` bytes of a body nobody should see (an error page), so a
/// short one leaves the connection reusable and a long one costs nothing more.
pub async fn discard(mut response: reqwest::Response, max: usize) {
    let mut read = 0;
    while read < max {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn class(ip: &str) -> AddressClass {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn addresses_are_classified_by_range() {
        let table = [
            ("8.8.8.8", AddressClass::Public),
            ("1.1.1.1", AddressClass::Public),
            ("223.5.5.5", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.255.255.254", AddressClass::Loopback),
            ("10.0.0.1", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Shared),
            ("100.127.255.255", AddressClass::Shared),
            ("100.128.0.1", AddressClass::Public),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("169.254.169.254", AddressClass::Metadata),
            ("169.254.170.2", AddressClass::Metadata),
            ("100.100.100.200", AddressClass::Metadata),
            ("0.0.0.0", AddressClass::Unspecified),
            ("0.1.2.3", AddressClass::Unspecified),
            ("224.0.0.1", AddressClass::Multicast),
            ("239.255.255.250", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("240.0.0.1", AddressClass::Reserved),
            ("192.0.0.8", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("192.0.2.1", AddressClass::Documentation),
            ("198.51.100.7", AddressClass::Documentation),
            ("203.0.113.9", AddressClass::Documentation),
            ("::", AddressClass::Unspecified),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:10.1.2.3", AddressClass::Private),
            ("::ffff:169.254.169.254", AddressClass::Metadata),
            ("::ffff:8.8.8.8", AddressClass::Public),
            ("::127.0.0.1", AddressClass::Loopback),
            ("64:ff9b::a00:1", AddressClass::Private),
            ("64:ff9b::808:808", AddressClass::Public),
            ("64:ff9b:1::1", AddressClass::Private),
            ("2002:7f00:1::1", AddressClass::Loopback),
            ("2002:a9fe:a9fe::1", AddressClass::Metadata),
            ("2002:0808:0808::1", AddressClass::Public),
            ("fc00::1", AddressClass::Private),
            ("fd12:3456::1", AddressClass::Private),
            ("fd00:ec2::254", AddressClass::Metadata),
            ("fe80::1", AddressClass::LinkLocal),
            ("fec0::1", AddressClass::Private),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
            ("2001::1", AddressClass::Reserved),
            ("100::1", AddressClass::Reserved),
            ("2400:3200::1", AddressClass::Public),
            ("2606:4700::1111", AddressClass::Public),
        ];
        for (ip, expected) in table {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn only_public_addresses_pass_by_default() {
        let policy = OutboundPolicy::public_only();
        assert_eq!(policy.check("8.8.8.8".parse().unwrap()), Ok(()));
        for refused in ["127.0.0.1", "10.1.2.3", "::1", "::ffff:192.168.0.1", "169.254.169.254", "100.64.1.1"] {
            assert!(policy.check(refused.parse().unwrap()).is_err(), "{refused}");
        }
    }

    #[test]
    fn the_operator_allows_ranges_but_never_metadata() {
        let policy = OutboundPolicy::allow(["10.1.0.0/16".parse().unwrap(), "169.254.0.0/16".parse().unwrap()]);
        assert_eq!(policy.check("10.1.2.3".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("::ffff:10.1.2.3".parse().unwrap()), Ok(()), "mapped form of an allowed address");
        assert_eq!(policy.check("10.2.0.1".parse().unwrap()), Err(AddressClass::Private));
        assert_eq!(policy.check("169.254.169.254".parse().unwrap()), Err(AddressClass::Metadata));
        assert_eq!(policy.check("169.254.1.1".parse().unwrap()), Ok(()));
    }

    #[test]
    fn urls_name_http_or_https_and_a_host() {
        let client = OutboundClient::new(OutboundPolicy::public_only(), reqwest::Client::builder()).unwrap();
        for bad in ["ftp://example.com/", "file:///etc/passwd", "not a url", "http://"] {
            assert_eq!(client.parse(bad).err(), Some(OutboundError::BadUrl), "{bad}");
        }
        // Literal addresses in every spelling the URL parser accepts are checked.
        for literal in
            ["http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://[::1]/", "http://[::ffff:7f00:1]/"]
        {
            assert!(
                matches!(client.parse(literal), Err(OutboundError::Refused { class: AddressClass::Loopback, .. })),
                "{literal}"
            );
        }
        assert!(client.parse("https://example.com/hook?token=x").is_ok(), "names are checked when resolved");
    }
}
