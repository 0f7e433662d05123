//! The RPC API's browser rule: Kubo's Origin/Referer check (CSRF) and its CORS
//! answers.
//!
//! **What.** [`Cors::allows`] decides whether a request may run: one without
//! `Origin` and `Referer` (curl, the CLI, client libraries) always may; a browser
//! request only when its `Origin` — or, without one, the origin of its `Referer` —
//! is allowed. Allowed origins are config `API.HTTPHeaders.Access-Control-Allow-
//! Origin` (`"*"` allows any) plus the API's own localhost origins
//! (`http(s)://127.0.0.1:<port>`, `http(s)://[::1]:<port>`,
//! `http(s)://localhost:<port>`). [`Cors::headers`] gives an allowed browser
//! request's CORS headers; [`Cors::preflight`] answers `OPTIONS` preflights.
//!
//! **Spec.** go-ipfs-cmds `http/handler.go` (`allowOrigin`, `allowReferer`: a
//! refused request gets `403 - Forbidden`), Kubo `core/corehttp/commands.go`
//! (`addHeadersFromConfig`, `addCORSDefaults`: localhost origins, methods GET, POST,
//! PUT by default), rs/cors for the header shapes (the origin echoed, `Vary:
//! Origin`, exposed `X-Stream-Output, X-Chunked-Output, X-Content-Length`).
//!
//! **Limits.** The lists come from the config file (≤ 1 MiB) once, at start.
//!
//! **Departures.** Other `API.HTTPHeaders` entries (Kubo adds them to every
//! answer) are not sent. A preflight for an origin or method that is not allowed
//! gets 403 (rs/cors: 200 without CORS headers; the browser refuses either way).
//! Kubo's refusal of POSTs whose `User-Agent` looks like a browser but that carry
//! neither header is not done.

use std::collections::BTreeMap;

use super::Response;

/// Config header (in `API.HTTPHeaders`) listing the allowed origins.
pub const ALLOW_ORIGIN: &str = "Access-Control-Allow-Origin";
/// Config header listing the allowed methods (default GET, POST, PUT).
pub const ALLOW_METHODS: &str = "Access-Control-Allow-Methods";
/// Config header; `["true"]` lets browsers send credentials.
pub const ALLOW_CREDENTIALS: &str = "Access-Control-Allow-Credentials";
/// Request headers a preflight may ask for (rs/cors defaults plus Range and
/// User-Agent, which Kubo's clients send).
pub const ALLOWED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "origin",
    "x-requested-with",
    "range",
    "user-agent",
];
/// Response headers a browser script may read.
pub const EXPOSED_HEADERS: &str = "X-Stream-Output, X-Chunked-Output, X-Content-Length";

/// The API's browser rule, built once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    any: bool,
    origins: Vec<String>,
    methods: Vec<String>,
    credentials: bool,
}

impl Cors {
    /// From `API.HTTPHeaders` (header names matched ignoring case) and the ports the
    /// API listens on.
    pub fn new(headers: &BTreeMap<String, Vec<String>>, ports: &[u16]) -> Cors {
        let get = |name: &str| {
            headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.iter().map(|s| s.trim().to_string()))
                .collect::<Vec<_>>()
        };
        let mut origins = get(ALLOW_ORIGIN);
        for port in ports {
            for host in ["127.0.0.1", "[::1]", "localhost"] {
                for scheme in ["http", "https"] {
                    origins.push(format!("{scheme}://{host}:{port}"));
                }
            }
        }
        let mut methods: Vec<String> = get(ALLOW_METHODS)
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        if methods.is_empty() {
            methods = vec!["GET".into(), "POST".into(), "PUT".into()];
        }
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins,
            methods,
            credentials: get(ALLOW_CREDENTIALS).iter().any(|v| v == "true"),
        }
    }

    /// Whether `origin` is allowed (exactly as written, or `"*"` in the list).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.any || self.origins.iter().any(|o| o == origin)
    }

    /// Kubo's `allowOrigin && allowReferer`: no header, or an allowed origin in each
    /// header present. A `Referer` that is not an absolute URL is refused.
    pub fn allows(&self, origin: Option<&str>, referer: Option<&str>) -> bool {
        let origin_ok = match origin {
            None | Some("") => true,
            Some(o) => self.allows_origin(o),
        };
        let referer_ok = match referer {
            None | Some("") => true,
            Some(r) => self.any || referer_origin(r).is_some_and(|o| self.allows_origin(&o)),
        };
        origin_ok && referer_ok
    }

    /// The CORS headers of an allowed answer to a request from `origin`.
    pub fn headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("Access-Control-Allow-Origin", self.echo(origin)),
            ("Access-Control-Expose-Headers", EXPOSED_HEADERS.to_string()),
            ("Vary", "Origin".to_string()),
        ];
        if self.credentials {
            h.push(("Access-Control-Allow-Credentials", "true".into()));
        }
        h
    }

    /// The answer to an `OPTIONS` preflight: 200 with the CORS headers when the
    /// origin, the method and every requested header are allowed, else 403.
    pub fn preflight(&self, origin: &str, method: &str, req_headers: Option<&str>) -> Response {
        let method = method.trim().to_ascii_uppercase();
        let asked: Vec<String> = req_headers
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let ok = self.allows_origin(origin)
            && self.methods.contains(&method)
            && asked
                .iter()
                .all(|h| ALLOWED_REQUEST_HEADERS.contains(&h.as_str()));
        if !ok {
            return Response::full(403, "text/plain", "403 - Forbidden\n");
        }
        let mut r = Response::full(200, "text/plain", "");
        r.headers.extend([
            ("Access-Control-Allow-Origin", self.echo(origin)),
            ("Access-Control-Allow-Methods", method),
            (
                "Vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".into(),
            ),
        ]);
        if !asked.is_empty() {
            r.headers
                .push(("Access-Control-Allow-Headers", asked.join(", ")));
        }
        if self.credentials {
            r.headers
                .push(("Access-Control-Allow-Credentials", "true".into()));
        }
        r
    }

    /// `*` when any origin is allowed and credentials are off, else the origin.
    fn echo(&self, origin: &str) -> String {
        if self.any && !self.credentials {
            "*".into()
        } else {
            origin.to_string()
        }
    }
}

/// `scheme://host[:port]` of an absolute URL (user info dropped), as Go's
/// `u.Scheme + "://" + u.Host`.
fn referer_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return None;
    }
    Some(format!("{}://{host}", scheme.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        let mut h = BTreeMap::new();
        h.insert(
            "access-control-allow-origin".to_string(),
            origins.iter().map(|s| s.to_string()).collect(),
        );
        Cors::new(&h, &[5001])
    }

    #[test]
    fn no_browser_headers_always_pass() {
        assert!(cors(&[]).allows(None, None));
        assert!(cors(&[]).allows(Some(""), Some("")));
    }

    #[test]
    fn origin_must_be_listed_or_local() {
        let c = cors(&["https://webui.example"]);
        assert!(c.allows(Some("https://webui.example"), None));
        assert!(!c.allows(Some("https://webui.example.evil"), None));
        assert!(!c.allows(Some("http://webui.example"), None));
        assert!(c.allows(Some("http://127.0.0.1:5001"), None));
        assert!(c.allows(Some("http://localhost:5001"), None));
        assert!(!c.allows(Some("http://127.0.0.1:5002"), None));
        assert!(cors(&["*"]).allows(Some("https://any.where"), None));
    }

    #[test]
    fn referer_alone_is_checked_like_an_origin() {
        let c = cors(&["https://webui.example"]);
        assert!(c.allows(None, Some("https://webui.example/app/index.html?x=1")));
        assert!(c.allows(None, Some("https://user:pw@webui.example/")));
        assert!(!c.allows(None, Some("https://evil.example/page")));
        assert!(!c.allows(None, Some("not a url")));
        assert!(!c.allows(None, Some("/relative/path")));
        // Both present: both must pass.
        assert!(!c.allows(Some("https://webui.example"), Some("https://evil.example/")));
        assert!(cors(&["*"]).allows(None, Some("garbage")));
    }

    #[test]
    fn headers_echo_the_origin() {
        let c = cors(&["https://a.example"]);
        let h = c.headers("https://a.example");
        assert!(h.contains(&("Access-Control-Allow-Origin", "https://a.example".into())));
        assert!(h.contains(&("Vary", "Origin".into())));
        let h = cors(&["*"]).headers("https://b.example");
        assert!(h.contains(&("Access-Control-Allow-Origin", "*".into())));
    }

    #[test]
    fn preflight_checks_origin_method_and_headers() {
        let c = cors(&["https://a.example"]);
        let r = c.preflight(
            "https://a.example",
            "post",
            Some("Content-Type, X-Requested-With"),
        );
        assert_eq!(r.status, 200);
        assert!(r
            .headers
            .contains(&("Access-Control-Allow-Methods", "POST".into())));
        assert_eq!(c.preflight("https://b.example", "POST", None).status, 403);
        assert_eq!(c.preflight("https://a.example", "DELETE", None).status, 403);
        assert_eq!(
            c.preflight("https://a.example", "POST", Some("X-Secret"))
                .status,
            403
        );
    }
}
