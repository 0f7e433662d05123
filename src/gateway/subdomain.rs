//! Which gateway a request's host names: the path gateway, or a subdomain gateway
//! (`<cid>.ipfs.<host>`), as Kubo's `Gateway.PublicGateways` configures them.
//!
//! **What.** [`Hosts::route`] maps (Host, path) to what to do, with no I/O:
//! - a configured host (`localhost` by default) serving subdomains: a path request
//!   `/ipfs/<cid>/rest?q` is redirected (301) to
//!   `<scheme>://<cid>.ipfs.<host>/rest?q`, the CID in its DNS form;
//! - `<cid>.ipfs.<host>` for such a host: served as `/ipfs/<cid>/…`, a CIDv0 or a
//!   too long label first redirected to the DNS form;
//! - a configured host without subdomains: its `Paths` served, the rest 404;
//! - any other host: the path gateway, as before.
//!
//! **Spec.** Kubo's `Gateway.PublicGateways` (`Paths`, `UseSubdomains`) and the
//! subdomain gateway spec (<https://specs.ipfs.tech/http-gateways/subdomain-gateway/>).
//! The DNS form of a CID is Kubo's: CIDv1 (a CIDv0 is converted, keeping its
//! multihash and dag-pb codec) in base32; if that is longer than a DNS label
//! ([`DNS_LABEL_MAX_BYTES`]), base36; if still longer, an error (400).
//!
//! **Departures.** No DNSLink (a subdomain that is not a CID is answered by the
//! path gateway as a bad CID); `/ipns/` is not served, so `<name>.ipns.<host>` gets
//! the path gateway's 404. Kubo serves a non-canonical CIDv0 subdomain as is; Acorn
//! redirects it to the CIDv1 form (host names are case-insensitive, base58 is not).

use std::collections::BTreeMap;

use crate::core_api::Cid;

use crate::config::PublicGateway;

/// Longest DNS label (RFC 1034 §3.1), in bytes.
pub const DNS_LABEL_MAX_BYTES: usize = 63;

/// The host names the gateway knows, lower-cased.
#[derive(Debug, Clone)]
pub struct Hosts {
    known: BTreeMap<String, PublicGateway>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Serve this `/ipfs/…` path. On a subdomain, `hidden` is the prefix the
    /// client's URL does not show (`/ipfs/<cid>`), for redirects inside the
    /// content, and `gateway` the gateway host's URL (`http://localhost:8080`), for
    /// links to other content.
    Serve {
        path: String,
        hidden: Option<String>,
        gateway: Option<String>,
    },
    /// 301 to this URL.
    Redirect(String),
    /// 404: a known host that does not serve this path.
    NotFound,
    /// 400 with this message.
    BadRequest(String),
}

impl Hosts {
    /// The hosts of `Gateway.PublicGateways`, over the default (`localhost`: a
    /// subdomain gateway for `/ipfs`); a `null` entry removes a default.
    pub fn new(config: &BTreeMap<String, Option<PublicGateway>>) -> Hosts {
        let mut known = BTreeMap::new();
        known.insert(
            "localhost".to_string(),
            PublicGateway {
                paths: vec!["/ipfs".into(), "/ipns".into()],
                use_subdomains: true,
                ..PublicGateway::default()
            },
        );
        for (host, gw) in config {
            let host = host.to_ascii_lowercase();
            match gw {
                Some(gw) => known.insert(host, gw.clone()),
                None => known.remove(&host),
            };
        }
        Hosts { known }
    }

    /// What to do for `path` (with `query`, raw, may be empty) asked of `host` (the
    /// Host header, port included; `path` percent-decoded, `query` encoded);
    /// `https` when the client came over TLS.
    pub fn route(&self, host: Option<&str>, path: &str, query: &str, https: bool) -> Route {
        let serve = Route::Serve {
            path: path.to_string(),
            hidden: None,
            gateway: None,
        };
        let Some(host) = host else {
            return serve;
        };
        // Host names are case-insensitive, a CIDv0 label is not: only the part
        // matched against the known hosts is lower-cased.
        let (name, port) = split_port(host);
        let scheme = if https { "https" } else { "http" };
        if let Some(gw) = self.known.get(&name.to_ascii_lowercase()) {
            if !has_prefix(path, &gw.paths) {
                return Route::NotFound;
            }
            if gw.use_subdomains {
                if let Some(rest) = path.strip_prefix("/ipfs/") {
                    let (root, tail) = rest.split_once('/').unwrap_or((rest, ""));
                    if !root.is_empty() {
                        return match subdomain_url(scheme, root, host, tail, query) {
                            Ok(url) => Route::Redirect(url),
                            Err(e) => Route::BadRequest(e.to_string()),
                        };
                    }
                }
            }
            return serve;
        }
        // `<root>.<ns>.<gateway host>`: at least two labels before a known host.
        let labels: Vec<&str> = name.split('.').collect();
        for i in (2..labels.len()).rev() {
            let fqdn = labels[i..].join(".").to_ascii_lowercase();
            let Some(gw) = self.known.get(&fqdn) else {
                continue;
            };
            let ns = labels[i - 1].to_ascii_lowercase();
            let ns = ns.as_str();
            if !gw.use_subdomains || !matches!(ns, "ipfs" | "ipns") {
                continue;
            }
            let root = labels[..i - 1].join(".");
            let prefix = format!("/{ns}/{root}");
            if !has_prefix(&prefix, &gw.paths) {
                return Route::NotFound;
            }
            if ns == "ipfs" {
                if let Ok(cid) = Cid::try_from(root.as_str()) {
                    if cid.version() == cid::Version::V0 || root.len() > DNS_LABEL_MAX_BYTES {
                        let host = match port {
                            Some(p) => format!("{fqdn}:{p}"),
                            None => fqdn.clone(),
                        };
                        let tail = path.strip_prefix('/').unwrap_or(path);
                        return match subdomain_url(scheme, &root, &host, tail, query) {
                            Ok(url) => Route::Redirect(url),
                            Err(e) => Route::BadRequest(e.to_string()),
                        };
                    }
                }
            }
            let gateway = match port {
                Some(p) => format!("{scheme}://{fqdn}:{p}"),
                None => format!("{scheme}://{fqdn}"),
            };
            return Route::Serve {
                path: format!("{prefix}{path}"),
                hidden: Some(prefix),
                gateway: Some(gateway),
            };
        }
        serve
    }
}

/// `host` without its `:port` (an IPv6 literal keeps its brackets), and the port.
fn split_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find("]:") {
            Some(i) => (&host[..=i], Some(&host[i + 2..])),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (host, None),
    }
}

/// Kubo's `hasPrefix`: `path` is one of `prefixes` or below one.
fn has_prefix(path: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        let p = p.trim_end_matches('/');
        path == p || path.starts_with(&format!("{p}/"))
    })
}

/// Why a CID has no subdomain form (Kubo's messages).
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("invalid CID {root:?} in path: {reason}")]
    InvalidCid { root: String, reason: String },
    #[error("CID {cid}: {reason}")]
    Encoding { cid: Cid, reason: String },
    #[error("CID incompatible with DNS label length limit of {DNS_LABEL_MAX_BYTES}: {base36}")]
    TooLong { base36: String },
}

/// `scheme://<root in DNS form>.ipfs.<host>/<tail>[?query]`.
fn subdomain_url(
    scheme: &str,
    root: &str,
    host: &str,
    tail: &str,
    query: &str,
) -> Result<String, LabelError> {
    let label = match Cid::try_from(root) {
        Ok(cid) => dns_label(&cid)?,
        // Not a CID: the path gateway answers it (400), on the path form.
        Err(e) => {
            return Err(LabelError::InvalidCid {
                root: root.to_string(),
                reason: e.to_string(),
            })
        }
    };
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let tail = percent_encoding::utf8_percent_encode(tail, super::PATH_SET);
    Ok(format!("{scheme}://{label}.ipfs.{host}/{tail}{q}"))
}

/// Kubo's DNS form of a CID: CIDv1 base32, else base36 when base32 does not fit a
/// DNS label, else an error.
pub fn dns_label(cid: &Cid) -> Result<String, LabelError> {
    let v1 = Cid::new_v1(cid.codec(), *cid.hash());
    for base in [multibase::Base::Base32Lower, multibase::Base::Base36Lower] {
        let s = v1
            .to_string_of_base(base)
            .map_err(|e| LabelError::Encoding {
                cid: *cid,
                reason: e.to_string(),
            })?;
        if s.len() <= DNS_LABEL_MAX_BYTES {
            return Ok(s);
        }
    }
    Err(LabelError::TooLong {
        base36: v1
            .to_string_of_base(multibase::Base::Base36Lower)
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
    const V1: &str = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby";

    fn hosts(extra: &[(&str, Option<PublicGateway>)]) -> Hosts {
        Hosts::new(
            &extra
                .iter()
                .map(|(h, g)| (h.to_string(), g.clone()))
                .collect(),
        )
    }

    fn serve(path: &str, hidden: Option<&str>) -> Route {
        Route::Serve {
            path: path.into(),
            hidden: hidden.map(Into::into),
            gateway: None,
        }
    }

    fn serve_sub(path: &str, hidden: &str, gateway: &str) -> Route {
        Route::Serve {
            path: path.into(),
            hidden: Some(hidden.into()),
            gateway: Some(gateway.into()),
        }
    }

    #[test]
    fn localhost_paths_redirect_to_the_cidv1_subdomain() {
        let h = hosts(&[]);
        assert_eq!(
            h.route(
                Some("localhost:8080"),
                &format!("/ipfs/{V0}/a/b.txt"),
                "x=1",
                false
            ),
            Route::Redirect(format!("http://{V1}.ipfs.localhost:8080/a/b.txt?x=1"))
        );
        assert_eq!(
            h.route(Some("LOCALHOST"), &format!("/ipfs/{V1}"), "", true),
            Route::Redirect(format!("https://{V1}.ipfs.LOCALHOST/"))
        );
        // Other hosts (127.0.0.1) stay a path gateway; no Host too.
        let p = format!("/ipfs/{V0}");
        assert_eq!(
            h.route(Some("127.0.0.1:8080"), &p, "", false),
            serve(&p, None)
        );
        assert_eq!(h.route(None, &p, "", false), serve(&p, None));
        // A known host's other paths are 404.
        assert_eq!(h.route(Some("localhost"), "/", "", false), Route::NotFound);
    }

    #[test]
    fn subdomains_are_served_and_cidv0_is_canonicalised() {
        let h = hosts(&[]);
        assert_eq!(
            h.route(Some(&format!("{V1}.ipfs.localhost:8080")), "/a", "", false),
            serve_sub(
                &format!("/ipfs/{V1}/a"),
                &format!("/ipfs/{V1}"),
                "http://localhost:8080"
            )
        );
        // Lower-cased by a browser, a CIDv0 is no longer one: the path gateway's 400.
        let lower = V0.to_ascii_lowercase();
        assert_eq!(
            h.route(Some(&format!("{lower}.ipfs.localhost")), "/", "", false),
            serve_sub(
                &format!("/ipfs/{lower}/"),
                &format!("/ipfs/{lower}"),
                "http://localhost"
            )
        );
        // As typed, it is redirected to its CIDv1 form, port kept.
        assert_eq!(
            h.route(Some(&format!("{V0}.ipfs.localhost:81")), "/x", "", false),
            Route::Redirect(format!("http://{V1}.ipfs.localhost:81/x"))
        );
        // Not a subdomain of a known host: the path gateway.
        assert_eq!(
            h.route(Some(&format!("{V1}.ipfs.example.org")), "/a", "", false),
            serve("/a", None)
        );
    }

    #[test]
    fn configured_hosts_and_removing_localhost() {
        let sub = PublicGateway {
            paths: vec!["/ipfs".into()],
            use_subdomains: true,
            ..PublicGateway::default()
        };
        let path_only = PublicGateway {
            paths: vec!["/ipfs".into()],
            ..PublicGateway::default()
        };
        let h = hosts(&[
            ("dweb.example", Some(sub)),
            ("gw.example", Some(path_only)),
            ("localhost", None),
        ]);
        assert_eq!(
            h.route(Some("dweb.example"), &format!("/ipfs/{V1}/"), "", false),
            Route::Redirect(format!("http://{V1}.ipfs.dweb.example/"))
        );
        let p = format!("/ipfs/{V1}/");
        assert_eq!(h.route(Some("gw.example"), &p, "", false), serve(&p, None));
        assert_eq!(
            h.route(Some("gw.example"), "/api/v0/id", "", false),
            Route::NotFound
        );
        // A host without subdomains does not serve them.
        assert_eq!(
            h.route(Some(&format!("{V1}.ipfs.gw.example")), "/", "", false),
            serve("/", None)
        );
        // localhost removed: a plain path gateway.
        assert_eq!(h.route(Some("localhost"), &p, "", false), serve(&p, None));
    }

    #[test]
    fn dns_labels_fall_back_to_base36_then_fail() {
        // A dag-pb sha2-256 CID fits in base32 (59 chars).
        let v0: Cid = V0.parse().unwrap();
        assert_eq!(dns_label(&v0).unwrap(), V1);
        // An ed25519 peer ID as a CIDv1 (identity multihash, 38 bytes): 65 chars in
        // base32, 62 in base36.
        let key = [[0x08, 0x01, 0x12, 0x20].as_slice(), &[9u8; 32]].concat();
        let mh = cid::multihash::Multihash::<64>::wrap(0x00, &key).unwrap();
        let peer = Cid::new_v1(0x72, mh);
        let label = dns_label(&peer).unwrap();
        assert!(
            label.starts_with('k') && label.len() <= DNS_LABEL_MAX_BYTES,
            "{label}"
        );
        assert_eq!(
            hosts(&[]).route(Some("localhost"), &format!("/ipfs/{peer}"), "", false),
            Route::Redirect(format!("http://{label}.ipfs.localhost/"))
        );
        // sha2-512: too long in any base.
        let mh = cid::multihash::Multihash::<64>::wrap(0x13, &[7u8; 64]).unwrap();
        let long = Cid::new_v1(0x55, mh);
        let e = dns_label(&long).unwrap_err().to_string();
        assert!(e.contains("DNS label length limit of 63"), "{e}");
        assert!(matches!(
            hosts(&[]).route(Some("localhost"), &format!("/ipfs/{long}"), "", false),
            Route::BadRequest(_)
        ));
    }

    #[test]
    fn ports_split() {
        assert_eq!(split_port("a.b:80"), ("a.b", Some("80")));
        assert_eq!(split_port("a.b"), ("a.b", None));
        assert_eq!(split_port("[::1]:8080"), ("[::1]", Some("8080")));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
    }
}
