//! The endpoint policy of `[offices]`: which hosts an adapter may name as its endpoint,
//! checked when a file is loaded and when `PUT /v1/adapters/{office}` arrives — before
//! any connection is made, so an adapter cannot turn the gateway towards its own
//! loopback services, a cloud metadata address or a host outside the federation.
//!
//! Invariant: only the endpoint URL as written is judged; names are trusted by suffix (the
//! operator controls the DNS of the suffixes it lists), IP literals by network.

use std::net::IpAddr;
use std::path::Path;

use super::{Adapter, AdapterError, DefError};

/// An entry of the endpoint policy that cannot be read: the value and what it should be
/// ([`PolicyError::key`] names the configuration key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An entry of `offices.endpoint_host_suffixes` is not a DNS suffix.
    #[error("{0:?} is not a DNS suffix like \".ahv-iv.ch\"")]
    Suffix(String),
    /// An entry of `offices.endpoint_networks` is not an IP network.
    #[error("{0:?} is not a network like 10.20.0.0/16")]
    Network(String),
}

impl PolicyError {
    /// The configuration key the refused entry belongs to.
    pub fn key(&self) -> &'static str {
        match self {
            PolicyError::Suffix(_) => "offices.endpoint_host_suffixes",
            PolicyError::Network(_) => "offices.endpoint_networks",
        }
    }
}

/// Allowed endpoint hosts. The default allows any host except loopback and the
/// addresses that are never an office (unspecified, multicast, link-local).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    suffixes: Vec<String>,
    networks: Vec<Network>,
    allow_loopback: bool,
}

/// An IP network `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(s: &str) -> Option<Network> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Network { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32u32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            u128::MAX << host_bits
        };
        a & mask == b & mask
    }
}

impl EndpointPolicy {
    /// Any host, loopback included (tests and tools that judge no endpoint).
    pub fn permissive() -> EndpointPolicy {
        EndpointPolicy {
            allow_loopback: true,
            ..EndpointPolicy::default()
        }
    }

    /// From the `[offices]` keys; the error names the key.
    pub fn new(
        suffixes: &[String],
        networks: &[String],
        allow_loopback: bool,
    ) -> Result<EndpointPolicy, PolicyError> {
        let mut out = EndpointPolicy {
            allow_loopback,
            ..EndpointPolicy::default()
        };
        for s in suffixes {
            let norm = s.trim().trim_start_matches('.').trim_end_matches('.');
            let ok = !norm.is_empty()
                && norm
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err(PolicyError::Suffix(s.clone()));
            }
            out.suffixes.push(norm.to_ascii_lowercase());
        }
        for n in networks {
            let network =
                Network::parse(n.trim()).ok_or_else(|| PolicyError::Network(n.clone()))?;
            out.networks.push(network);
        }
        Ok(out)
    }

    /// Whether `endpoint` may be used; the error names the field and says why.
    pub fn check(&self, endpoint: &reqwest::Url) -> Result<(), DefError> {
        let refused = |why: String| Err(DefError::field("endpoint", why));
        let listed = !self.suffixes.is_empty() || !self.networks.is_empty();
        let Some(host) = endpoint.host_str() else {
            return refused("no host".into());
        };
        // `url` writes IPv6 literals in brackets and IPv4 literals canonically.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            return self.check_ip(ip, listed);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            return self.loopback(&name);
        }
        let matches = self
            .suffixes
            .iter()
            .any(|s| name == *s || name.ends_with(&format!(".{s}")));
        if listed && !matches {
            return refused(format!(
                "host {name} is outside offices.endpoint_host_suffixes"
            ));
        }
        Ok(())
    }

    /// Checks adapters loaded from `dir` at start; the error names the file and field.
    pub fn check_loaded<'a>(
        &self,
        dir: &Path,
        adapters: impl IntoIterator<Item = &'a Adapter>,
    ) -> Result<(), AdapterError> {
        for a in adapters {
            self.check(&a.endpoint).map_err(|e| AdapterError {
                file: dir.join(format!("{}.toml", a.office)),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn loopback(&self, host: &str) -> Result<(), DefError> {
        if self.allow_loopback {
            Ok(())
        } else {
            Err(DefError::field(
                "endpoint",
                format!(
                    "host {host} is loopback, allowed only in a development configuration (offices.allow_loopback = true)"
                ),
            ))
        }
    }

    fn check_ip(&self, ip: IpAddr, listed: bool) -> Result<(), DefError> {
        if ip.is_loopback() {
            return self.loopback(&ip.to_string());
        }
        let in_networks = self.networks.iter().any(|n| n.contains(ip));
        let never = ip.is_unspecified()
            || ip.is_multicast()
            || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        if never || (link_local && !in_networks) {
            return Err(DefError::field(
                "endpoint",
                format!("address {ip} cannot be an office (unspecified, multicast or link-local)"),
            ));
        }
        if listed && !in_networks {
            return Err(DefError::field(
                "endpoint",
                format!("address {ip} is outside offices.endpoint_networks"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).expect("url")
    }

    #[test]
    fn loopback_only_in_development() {
        let prod = EndpointPolicy::default();
        for u in [
            "https://127.0.0.1:1/",
            "https://127.9.9.9/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://localhost/",
            "https://a.localhost./",
        ] {
            let e = prod.check(&url(u)).expect_err(u).to_string();
            assert!(
                e.contains("field endpoint") && e.contains("allow_loopback"),
                "{e}"
            );
            assert!(EndpointPolicy::permissive().check(&url(u)).is_ok(), "{u}");
        }
        assert!(prod.check(&url("https://office.example.ch/ik")).is_ok());
    }

    #[test]
    fn never_offices_and_lists() {
        let p = EndpointPolicy::new(
            &[".ahv-iv.ch".into()],
            &["10.20.0.0/16".into(), "fd00::/8".into()],
            false,
        )
        .expect("policy");
        assert!(p.check(&url("https://ik.zh.ahv-iv.ch/")).is_ok());
        assert!(p.check(&url("https://ahv-iv.ch/")).is_ok());
        assert!(
            p.check(&url("https://evil-ahv-iv.ch/")).is_err(),
            "label boundary"
        );
        assert!(p.check(&url("https://10.20.3.4/")).is_ok());
        assert!(p.check(&url("https://10.21.0.1/")).is_err());
        assert!(p.check(&url("https://[fd12::1]/")).is_ok());
        for u in [
            "https://169.254.169.254/",
            "https://0.0.0.0/",
            "https://[fe80::1]/",
        ] {
            assert!(p.check(&url(u)).is_err(), "{u}");
            assert!(EndpointPolicy::permissive().check(&url(u)).is_err(), "{u}");
        }
        let e = EndpointPolicy::new(&[], &["10.0.0.0/33".into()], false).expect_err("bad");
        assert_eq!(e.key(), "offices.endpoint_networks");
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
        let e = EndpointPolicy::new(&["a b".into()], &[], false).expect_err("bad");
        assert_eq!(e.key(), "offices.endpoint_host_suffixes");
        assert!(e.to_string().contains("a b"), "{e}");
    }
}
