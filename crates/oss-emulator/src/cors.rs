//! Bucket CORS as OSS keeps and applies it: the rules PutBucketCors sets,
//! GetBucketCors returns and DeleteBucketCors removes (`?cors` on a bucket),
//! preflights answered from the first matching rule, and the headers added to
//! an actual request's answer.
//!
//! OSS's semantics (PutBucketCors / GetBucketCors help pages, and error pages
//! 0034-00000002 and 0034-00000011):
//! - PutBucketCors replaces every rule; at most 10 rules, at least one; each
//!   rule needs an `AllowedOrigin` and an `AllowedMethod` (GET, PUT, DELETE,
//!   POST, HEAD only); an origin or an allowed header holds at most one `*`;
//!   an exposed header holds none.
//! - A request matches the **first** rule whose origin, method (the
//!   preflight's `Access-Control-Request-Method`) and every requested header
//!   (`Access-Control-Request-Headers`) it allows. A preflight that matches no
//!   rule is 403; an actual request that matches none gets no CORS header,
//!   which is how a browser ends up unable to read `ETag`.
//! - No rules at all: every preflight is 403, no answer carries CORS headers.
//!
//! Each bucket starts with one rule made from
//! [`EmulatorConfig::allowed_origins`] (all five methods, any header, `ETag`
//! and `x-oss-request-id` exposed, 600 s; `ETag` left out when
//! [`ServeOptions::cors_expose_etag`] is off), so local mode's page and
//! clients work as a bucket configured as README says. Rules live in memory
//! only.

use std::collections::HashMap;
use std::sync::RwLock;

use http::{HeaderMap, StatusCode};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::wire::header;
use super::xml::{self, elem, OssError};
use super::{EmulatorConfig, ServeOptions};

/// The methods a rule may allow.
const METHODS: &[&str] = &["GET", "PUT", "DELETE", "POST", "HEAD"];
/// OSS's limit on rules per bucket.
const MAX_RULES: usize = 10;

/// One `<CORSRule>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct CorsRule {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<u64>,
}

/// A bucket's `<CORSConfiguration>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct CorsConfig {
    pub rules: Vec<CorsRule>,
    pub response_vary: Option<bool>,
}

/// Every bucket's rules.
pub(super) struct CorsRules {
    by_bucket: RwLock<HashMap<String, CorsConfig>>,
}

impl CorsRules {
    /// The starting rules: one per bucket from `allowed_origins` (none when
    /// the list is empty), exposing `ETag` unless `opts` says not to.
    pub(super) fn new(cfg: &EmulatorConfig, opts: &ServeOptions) -> CorsRules {
        let mut by_bucket = HashMap::new();
        if !cfg.allowed_origins.is_empty() {
            let rule = CorsRule {
                origins: cfg.allowed_origins.clone(),
                methods: METHODS.iter().map(|m| (*m).to_string()).collect(),
                headers: vec!["*".into()],
                expose: if opts.cors_expose_etag {
                    vec!["ETag".into(), "x-oss-request-id".into()]
                } else {
                    vec!["x-oss-request-id".into()]
                },
                max_age: Some(600),
            };
            for b in &cfg.buckets {
                by_bucket.insert(
                    b.clone(),
                    CorsConfig {
                        rules: vec![rule.clone()],
                        response_vary: None,
                    },
                );
            }
        }
        CorsRules {
            by_bucket: RwLock::new(by_bucket),
        }
    }

    fn get(&self, bucket: &str) -> Option<CorsConfig> {
        self.by_bucket
            .read()
            .ok()
            .and_then(|m| m.get(bucket).cloned())
    }

    fn set(&self, bucket: &str, config: Option<CorsConfig>) -> Result<(), OssError> {
        let mut m = self
            .by_bucket
            .write()
            .map_err(|_| OssError::internal("CORS rules unavailable."))?;
        match config {
            Some(c) => m.insert(bucket.to_string(), c),
            None => m.remove(bucket),
        };
        Ok(())
    }

    /// PutBucketCors: validates `body` and replaces the bucket's rules.
    pub(super) fn put(&self, bucket: &str, body: &[u8]) -> Result<(), OssError> {
        let config = parse(body)?;
        validate(&config)?;
        self.set(bucket, Some(config))
    }

    /// GetBucketCors: the rules as OSS writes them; 404 when there are none.
    pub(super) fn get_xml(&self, bucket: &str) -> Result<String, OssError> {
        let c = self.get(bucket).ok_or_else(|| {
            OssError::new(
                StatusCode::NOT_FOUND,
                "NoSuchCORSConfiguration",
                "The CORS Configuration does not exist.",
            )
            .with("BucketName", bucket)
        })?;
        let mut s = xml::doc("CORSConfiguration");
        for r in &c.rules {
            s.push_str("  <CORSRule>\n");
            for (name, values) in [
                ("AllowedOrigin", &r.origins),
                ("AllowedMethod", &r.methods),
                ("AllowedHeader", &r.headers),
                ("ExposeHeader", &r.expose),
            ] {
                for v in values {
                    elem(&mut s, name, v);
                }
            }
            if let Some(age) = r.max_age {
                elem(&mut s, "MaxAgeSeconds", &age.to_string());
            }
            s.push_str("  </CORSRule>\n");
        }
        if let Some(v) = c.response_vary {
            elem(&mut s, "ResponseVary", if v { "true" } else { "false" });
        }
        s.push_str("</CORSConfiguration>\n");
        Ok(s)
    }

    /// DeleteBucketCors: removes the rules, whether or not there were any.
    pub(super) fn delete(&self, bucket: &str) -> Result<(), OssError> {
        self.set(bucket, None)
    }

    /// Answers a preflight (`OPTIONS`) to `bucket`: the headers of a 200, or
    /// the error.
    pub(super) fn preflight(
        &self,
        bucket: &str,
        h: &HeaderMap,
    ) -> Result<Vec<(String, String)>, OssError> {
        let origin = header(h, "origin").ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            )
        })?;
        let method = header(h, "access-control-request-method").ok_or_else(|| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Insufficient information. Request Access-Control-Request-Method header needed.",
            )
        })?;
        let config = self.get(bucket).ok_or_else(|| {
            OssError::new(
                StatusCode::FORBIDDEN,
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
            )
        })?;
        let requested: Vec<&str> = header(h, "access-control-request-headers")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let rule = config
            .rules
            .iter()
            .find(|r| {
                r.allows_origin(origin)
                    && r.methods.iter().any(|m| m == method)
                    && requested.iter().all(|rh| r.allows_header(rh))
            })
            .ok_or_else(denied)?;
        let mut r = rule.answer_headers(origin);
        if let Some(rh) = header(h, "access-control-request-headers") {
            r.push(("access-control-allow-headers".into(), rh.into()));
        }
        if config.response_vary == Some(true) {
            r.push((
                "vary".into(),
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".into(),
            ));
        }
        Ok(r)
    }

    /// The CORS headers for an actual request with `Origin: origin` and
    /// method `method` to `bucket`: those of the first matching rule, or none.
    pub(super) fn actual(&self, bucket: &str, origin: &str, method: &str) -> Vec<(String, String)> {
        let Some(config) = self.get(bucket) else {
            return Vec::new();
        };
        let Some(rule) = config
            .rules
            .iter()
            .find(|r| r.allows_origin(origin) && r.methods.iter().any(|m| m == method))
        else {
            return Vec::new();
        };
        let mut r = rule.answer_headers(origin);
        if config.response_vary == Some(true) {
            r.push(("vary".into(), "Origin".into()));
        }
        r
    }
}

impl CorsRule {
    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| wildcard_match(o, origin))
    }

    fn allows_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| wildcard_match(h, name))
    }

    /// `Access-Control-Allow-Origin` (`*` when the rule allows any origin,
    /// else the request's), `-Allow-Methods`, `-Expose-Headers`, `-Max-Age`.
    fn answer_headers(&self, origin: &str) -> Vec<(String, String)> {
        let any = self.origins.iter().any(|o| o == "*");
        let mut r = vec![
            (
                "access-control-allow-origin".to_string(),
                if any { "*" } else { origin }.to_string(),
            ),
            (
                "access-control-allow-methods".to_string(),
                self.methods.join(", "),
            ),
        ];
        if !self.expose.is_empty() {
            r.push((
                "access-control-expose-headers".into(),
                self.expose.join(", "),
            ));
        }
        if let Some(age) = self.max_age {
            r.push(("access-control-max-age".into(), age.to_string()));
        }
        r
    }
}

/// ASCII-case-insensitive match of `value` against `pattern`, where
/// `pattern` may hold one `*` standing for any run of characters.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.to_ascii_lowercase(), value.to_ascii_lowercase());
    match p.split_once('*') {
        None => p == v,
        Some((pre, post)) => {
            v.len() >= pre.len() + post.len() && v.starts_with(pre) && v.ends_with(post)
        }
    }
}

/// The 403 of a preflight no rule allows.
fn denied() -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "AccessForbidden",
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    )
}

fn bad_xml() -> OssError {
    OssError::malformed(
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

/// Parses a `<CORSConfiguration>`; elements outside its schema are
/// MalformedXML.
fn parse(body: &[u8]) -> Result<CorsConfig, OssError> {
    let text = std::str::from_utf8(body).map_err(|_| bad_xml())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut config = CorsConfig::default();
    let mut rule: Option<CorsRule> = None;
    let mut saw_root = false;
    let mut text_of: Option<String> = None;
    loop {
        match reader.read_event().map_err(|_| bad_xml())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let allowed = match (path.len(), name.as_str()) {
                    (0, "CORSConfiguration") => {
                        saw_root = true;
                        true
                    }
                    (1, "CORSRule") => {
                        rule = Some(CorsRule::default());
                        true
                    }
                    (1, "ResponseVary") => true,
                    (
                        2,
                        "AllowedOrigin" | "AllowedMethod" | "AllowedHeader" | "ExposeHeader"
                        | "MaxAgeSeconds",
                    ) => path.last().map(String::as_str) == Some("CORSRule"),
                    _ => false,
                };
                if !allowed {
                    return Err(bad_xml());
                }
                text_of = Some(String::new());
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match (path.len(), name.as_str()) {
                    (0, "CORSConfiguration") => saw_root = true,
                    // An empty method is refused by validation below.
                    (2, "AllowedMethod") => {
                        if let Some(r) = rule.as_mut() {
                            r.methods.push(String::new());
                        }
                    }
                    (2, "AllowedOrigin" | "AllowedHeader" | "ExposeHeader") => {}
                    _ => return Err(bad_xml()),
                }
            }
            Event::Text(t) => {
                let v = t.unescape().map_err(|_| bad_xml())?;
                if let Some(acc) = text_of.as_mut() {
                    acc.push_str(&v);
                }
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(bad_xml());
                };
                let v = text_of.take().unwrap_or_default();
                match name.as_str() {
                    "CORSRule" => config.rules.push(rule.take().ok_or_else(bad_xml)?),
                    "ResponseVary" => {
                        config.response_vary = Some(match v.as_str() {
                            "true" => true,
                            "false" => false,
                            _ => return Err(bad_xml()),
                        })
                    }
                    "CORSConfiguration" => {}
                    field => {
                        let r = rule.as_mut().ok_or_else(bad_xml)?;
                        match field {
                            "AllowedOrigin" => r.origins.push(v),
                            "AllowedMethod" => r.methods.push(v),
                            "AllowedHeader" => r.headers.push(v),
                            "ExposeHeader" => r.expose.push(v),
                            "MaxAgeSeconds" => {
                                r.max_age = Some(v.trim().parse().map_err(|_| {
                                    OssError::invalid_argument("MaxAgeSeconds is not valid.")
                                        .with("ArgumentName", "MaxAgeSeconds")
                                        .with("ArgumentValue", v.clone())
                                })?)
                            }
                            _ => return Err(bad_xml()),
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root || !path.is_empty() {
        return Err(bad_xml());
    }
    Ok(config)
}

/// OSS's rules for a configuration.
fn validate(c: &CorsConfig) -> Result<(), OssError> {
    if c.rules.is_empty() {
        return Err(OssError::invalid_argument(
            "The CORS configuration must contain at least one CORSRule.",
        ));
    }
    if c.rules.len() > MAX_RULES {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "CORSRuleBeyondLimit",
            "The CORS rules count is beyond the limit of 10.",
        ));
    }
    for r in &c.rules {
        if r.origins.is_empty() || r.methods.is_empty() {
            return Err(OssError::invalid_argument(
                "Each CORSRule needs at least one AllowedOrigin and one AllowedMethod.",
            ));
        }
        if let Some(m) = r.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(OssError::invalid_argument(format!(
                "Unsupported method in CORS config: {m:?}; allowed: GET, PUT, DELETE, POST, HEAD."
            ))
            .with("ArgumentName", "AllowedMethod")
            .with("ArgumentValue", m.clone()));
        }
        for (name, values) in [("AllowedOrigin", &r.origins), ("AllowedHeader", &r.headers)] {
            if let Some(v) = values
                .iter()
                .find(|v| v.is_empty() || v.matches('*').count() > 1)
            {
                return Err(OssError::invalid_argument(format!(
                    "{name} {v:?} must be non-empty with at most one '*'."
                ))
                .with("ArgumentName", name)
                .with("ArgumentValue", v.clone()));
            }
        }
        if let Some(v) = r
            .expose
            .iter()
            .find(|v| v.is_empty() || v.contains('*') || v.contains(' '))
        {
            return Err(OssError::invalid_argument(format!(
                "ExposeHeader {v:?} must be a header name, without '*'."
            ))
            .with("ArgumentName", "ExposeHeader")
            .with("ArgumentValue", v.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn rules(origins: &[&str]) -> CorsRules {
        rules_with(origins, &ServeOptions::default())
    }

    fn rules_with(origins: &[&str], opts: &ServeOptions) -> CorsRules {
        CorsRules::new(
            &EmulatorConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                data_dir: None,
                buckets: vec!["b-1".into()],
                account: alibaba_sign::Credentials::new("a", "b", None),
                account_id: "1".into(),
                allowed_origins: origins.iter().map(|s| (*s).to_string()).collect(),
                max_object_bytes: 1,
            },
            opts,
        )
    }

    // The body the Go v2 SDK's PutBucketCors test marshals, byte for byte.
    const GO_V2_BODY: &str = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>Authorization</AllowedHeader></CORSRule><CORSRule><AllowedOrigin>http://example.com</AllowedOrigin><AllowedOrigin>http://example.net</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>Authorization</AllowedHeader><ExposeHeader>x-oss-test</ExposeHeader><ExposeHeader>x-oss-test1</ExposeHeader><MaxAgeSeconds>100</MaxAgeSeconds></CORSRule><ResponseVary>false</ResponseVary></CORSConfiguration>";

    #[test]
    fn put_get_delete_round_trip() {
        let r = rules(&[]);
        assert_eq!(
            r.get_xml("b-1").unwrap_err().code,
            "NoSuchCORSConfiguration"
        );
        r.put("b-1", GO_V2_BODY.as_bytes()).unwrap();
        let c = r.get("b-1").unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[1].expose, ["x-oss-test", "x-oss-test1"]);
        assert_eq!(c.rules[1].max_age, Some(100));
        assert_eq!(c.response_vary, Some(false));
        let back = r.get_xml("b-1").unwrap();
        assert_eq!(parse(back.as_bytes()).unwrap(), c);
        r.delete("b-1").unwrap();
        assert!(r.get("b-1").is_none());
    }

    #[test]
    fn bad_configurations_are_refused_as_oss_does() {
        let r = rules(&[]);
        let one = |inner: &str| {
            format!("<CORSConfiguration><CORSRule>{inner}</CORSRule></CORSConfiguration>")
        };
        for (body, code) in [
            ("<CORSConfiguration></CORSConfiguration>".to_string(), "InvalidArgument"),
            (one("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>TEST</AllowedMethod>"), "InvalidArgument"),
            (one("<AllowedOrigin>*</AllowedOrigin><AllowedMethod></AllowedMethod>"), "InvalidArgument"),
            (one("<AllowedOrigin>*</AllowedOrigin>"), "InvalidArgument"),
            (one("<AllowedOrigin>http://*.a.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), "InvalidArgument"),
            (one("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader>"), "InvalidArgument"),
            (one("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Bogus>1</Bogus>"), "MalformedXML"),
            ("<CORSConfiguration><CORSRule>".to_string(), "MalformedXML"),
            ("<Other/>".to_string(), "MalformedXML"),
            (format!("<CORSConfiguration>{}</CORSConfiguration>", "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>".repeat(11)), "CORSRuleBeyondLimit"),
        ] {
            assert_eq!(r.put("b-1", body.as_bytes()).unwrap_err().code, code, "{body}");
        }
    }

    #[test]
    fn first_matching_rule_answers() {
        let r = rules(&[]);
        let body = "<CORSConfiguration><CORSRule><AllowedOrigin>https://*.app.example</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>content-type</AllowedHeader><ExposeHeader>x-oss-request-id</ExposeHeader></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>";
        r.put("b-1", body.as_bytes()).unwrap();
        let origin = "https://www.app.example";
        // The first rule matches: its exposed headers, not the second's.
        let h = r.actual("b-1", origin, "PUT");
        let get = |h: &[(String, String)], n: &str| {
            h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(&h, "access-control-allow-origin").as_deref(),
            Some(origin)
        );
        assert_eq!(
            get(&h, "access-control-expose-headers").as_deref(),
            Some("x-oss-request-id")
        );
        assert!(r.actual("b-1", origin, "DELETE").is_empty());
        // A preflight asking for a header the first rule lacks falls to the second.
        let p = r
            .preflight(
                "b-1",
                &hm(&[
                    ("origin", origin),
                    ("access-control-request-method", "PUT"),
                    (
                        "access-control-request-headers",
                        "Content-Type, x-oss-forbid-overwrite",
                    ),
                ]),
            )
            .unwrap();
        assert_eq!(get(&p, "access-control-allow-origin").as_deref(), Some("*"));
        assert_eq!(
            get(&p, "access-control-expose-headers").as_deref(),
            Some("ETag")
        );
        let denied = r
            .preflight(
                "b-1",
                &hm(&[("origin", origin), ("access-control-request-method", "GET")]),
            )
            .unwrap_err();
        assert_eq!(
            (denied.status, denied.code.as_str()),
            (StatusCode::FORBIDDEN, "AccessForbidden")
        );
        assert_eq!(
            r.preflight("b-1", &hm(&[("origin", origin)]))
                .unwrap_err()
                .code,
            "BadRequest"
        );
        r.delete("b-1").unwrap();
        let off = r
            .preflight(
                "b-1",
                &hm(&[("origin", origin), ("access-control-request-method", "PUT")]),
            )
            .unwrap_err();
        assert!(off.message.contains("not enabled"), "{}", off.message);
        assert!(r.actual("b-1", origin, "PUT").is_empty());
    }

    #[test]
    fn default_rule_comes_from_allowed_origins() {
        let r = rules(&["http://127.0.0.1:9000"]);
        let h = r.actual("b-1", "http://127.0.0.1:9000", "PUT");
        assert!(h
            .iter()
            .any(|(k, v)| k == "access-control-expose-headers" && v.contains("ETag")));
        assert!(r.actual("b-1", "http://evil.example", "PUT").is_empty());
        assert!(rules(&[]).get("b-1").is_none());
        let hidden = ServeOptions {
            cors_expose_etag: false,
            ..ServeOptions::default()
        };
        let h = rules_with(&["http://127.0.0.1:9000"], &hidden).actual(
            "b-1",
            "http://127.0.0.1:9000",
            "PUT",
        );
        assert!(h
            .iter()
            .any(|(k, v)| k == "access-control-expose-headers" && v == "x-oss-request-id"));
    }
}
