//! Where a signed request goes: the OSS endpoint and how bucket and key map onto URLs.
//!
//! Three addressing styles exist, and the SDKs agree on when each applies:
//! - **Virtual-hosted** (`https://bucket.oss-cn-hangzhou.aliyuncs.com/key`): the default
//!   for any domain in oss2 (`_ENDPOINT_TYPE_ALIYUN`) and alibabacloud-oss-v2
//!   (`AddressStyle.Virtual`).
//! - **Path-style** (`http://127.0.0.1:9100/bucket/key`): both SDKs switch to it by
//!   themselves for IP hosts (oss2 `is_ip_or_localhost`, which also counts `localhost`;
//!   v2 `endpoints.is_ip`), overriding even a CNAME flag. We follow oss2 and include
//!   `localhost`, which is what the local emulator listens on.
//! - **CNAME / custom domain** (`https://cdn.example.com/key`): the domain is bound to one
//!   bucket, so the bucket appears in neither host nor path. Both SDKs only do this when
//!   told (oss2 `Bucket(..., is_cname=True)`, v2 `Config.use_cname`); they never guess.
//!
//! Our choice: [`Endpoint::parse_with_cname`] is the SDK behaviour (explicit flag).
//! [`Endpoint::parse`] additionally *guesses* CNAME for any host outside `aliyuncs.com`,
//! because every real OSS endpoint lives there, and a custom domain treated as
//! virtual-hosted would produce `bucket.cdn.example.com`, which never resolves. Signing
//! is unaffected by the style: V1 and V4 both sign `/bucket/key` regardless of host.

use alibaba_sign::encode::{query_string, uri_encode};

/// How bucket and key are placed in a URL; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressStyle {
    /// `scheme://bucket.host/key`.
    VirtualHosted,
    /// `scheme://host/bucket/key` (IP and localhost hosts).
    Path,
    /// `scheme://host/key`: a custom domain bound to the bucket.
    Cname,
}

/// A parsed OSS endpoint: scheme, host (with port) and addressing style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`, normalised (no trailing slash).
    origin: String,
    /// `http` or `https`.
    scheme: String,
    /// Host with port if non-default; IPv6 in brackets.
    host: String,
    style: AddressStyle,
}

/// Whether `host` (without port; IPv6 without brackets) is an IP literal or localhost.
fn is_ip_or_localhost(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => true,
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

impl Endpoint {
    /// Parses an endpoint URL, guessing the style: IP or localhost → path-style; a host
    /// under `aliyuncs.com` → virtual-hosted; any other domain → CNAME (see module docs
    /// for why). A missing scheme means `https`, as in the SDKs. Paths, queries,
    /// credentials and fragments are rejected: an endpoint is only an origin.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let ep = Self::parse_with_cname(url, false)?;
        let domain = ep.host_without_port().to_ascii_lowercase();
        if ep.style == AddressStyle::VirtualHosted
            && !(domain == "aliyuncs.com" || domain.ends_with(".aliyuncs.com"))
        {
            return Ok(Endpoint {
                style: AddressStyle::Cname,
                ..ep
            });
        }
        Ok(ep)
    }

    /// Parses an endpoint the way the official SDKs do: `cname = true` means a custom
    /// domain bound to the bucket (oss2 `is_cname`, v2 `use_cname`); otherwise
    /// virtual-hosted. IP and localhost hosts are path-style whatever `cname` says.
    pub fn parse_with_cname(url: &str, cname: bool) -> Result<Endpoint, String> {
        let text = url.trim();
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("https://{text}")
        };
        let parsed =
            url::Url::parse(&with_scheme).map_err(|e| format!("invalid endpoint {url:?}: {e}"))?;
        let scheme = parsed.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!("endpoint {url:?}: scheme must be http or https"));
        }
        let host = parsed
            .host()
            .ok_or_else(|| format!("endpoint {url:?} has no host"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!("endpoint {url:?} must not contain credentials"));
        }
        if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "endpoint {url:?} must be scheme://host[:port] with no path or query"
            ));
        }
        let style = if is_ip_or_localhost(&host) {
            AddressStyle::Path
        } else if cname {
            AddressStyle::Cname
        } else {
            AddressStyle::VirtualHosted
        };
        let host_str = match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Endpoint {
            origin: format!("{scheme}://{host_str}"),
            scheme: scheme.to_string(),
            host: host_str,
            style,
        })
    }

    /// The endpoint host without its port (IPv6 keeps its brackets).
    fn host_without_port(&self) -> &str {
        if self.host.starts_with('[') {
            return match self.host.find(']') {
                Some(i) => &self.host[..=i],
                None => &self.host,
            };
        }
        match self.host.rsplit_once(':') {
            Some((h, _)) => h,
            None => &self.host,
        }
    }

    /// The addressing style in effect.
    pub fn style(&self) -> AddressStyle {
        self.style
    }

    /// Whether the bucket goes in the path (IP or localhost host) rather than the host.
    pub fn is_path_style(&self) -> bool {
        self.style == AddressStyle::Path
    }

    /// Whether the host is a custom domain bound to one bucket.
    pub fn is_cname(&self) -> bool {
        self.style == AddressStyle::Cname
    }

    /// The `Host` a request for `bucket` carries: `bucket.host` when virtual-hosted,
    /// the endpoint host otherwise.
    pub fn host_for(&self, bucket: &str) -> String {
        match self.style {
            AddressStyle::VirtualHosted => format!("{bucket}.{}", self.host),
            AddressStyle::Path | AddressStyle::Cname => self.host.clone(),
        }
    }

    /// The PostObject target for `bucket`, without trailing slash:
    /// `https://bucket.host`, `http://127.0.0.1:9100/bucket`, or the custom domain.
    pub fn bucket_url(&self, bucket: &str) -> String {
        match self.style {
            AddressStyle::VirtualHosted => format!("{}://{}", self.scheme, self.host_for(bucket)),
            AddressStyle::Path => format!("{}/{bucket}", self.origin),
            AddressStyle::Cname => self.origin.clone(),
        }
    }

    /// The URL of object `key` in `bucket`, with `query` (unencoded pairs, kept in
    /// order) appended. The key is percent-encoded keeping `/`, as alibabacloud-oss-v2
    /// does (oss2 encodes `/` as `%2F` unless `slash_safe`; OSS decodes both the same).
    ///
    /// A key with a `.` or `..` segment (`uploads/x/../a.html`) is a different
    /// object from the one its dot segments would resolve to, but every URL
    /// parser that follows the URL Standard (reqwest's `url`, browsers) removes
    /// such segments, `%2E` and `%2e` included, before the request is sent.
    /// So such a key has every `/` encoded as `%2F`, as oss2 sends every key:
    /// the path is one segment that no parser rewrites, and OSS decodes it to
    /// the key byte for byte. The signature is unaffected: it covers the
    /// decoded key (see [`key_survives_url_parsing`]).
    pub fn object_url(&self, bucket: &str, key: &str, query: &[(String, String)]) -> String {
        let path = uri_encode(key, !has_dot_segment(key));
        let mut url = match self.style {
            AddressStyle::VirtualHosted => {
                format!("{}://{}/{path}", self.scheme, self.host_for(bucket))
            }
            AddressStyle::Path => format!("{}/{bucket}/{path}", self.origin),
            AddressStyle::Cname => format!("{}/{path}", self.origin),
        };
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query_string(query));
        }
        url
    }

    /// The normalised endpoint, `scheme://host[:port]`.
    pub fn as_str(&self) -> &str {
        &self.origin
    }
}

/// Whether `key` has a path segment a URL parser would resolve away: `.` or `..`.
pub fn has_dot_segment(key: &str) -> bool {
    key.split('/').any(|s| s == "." || s == "..")
}

/// Whether the path of `url`, once parsed as reqwest parses it (URL
/// Standard, dot segments removed), still names `bucket`/`key` byte for
/// byte. [`Endpoint::object_url`] guarantees it; this is the check.
pub fn key_survives_url_parsing(url: &str, style: AddressStyle, bucket: &str, key: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let path = parsed.path();
    let rest = match style {
        AddressStyle::Path => path.strip_prefix(&format!("/{bucket}/")),
        AddressStyle::VirtualHosted | AddressStyle::Cname => path.strip_prefix('/'),
    };
    rest.and_then(|r| percent_encoding::percent_decode_str(r).decode_utf8().ok())
        .is_some_and(|k| k == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(a: &str, b: &str) -> Vec<(String, String)> {
        vec![(a.to_string(), b.to_string())]
    }

    #[test]
    fn aliyun_endpoint_is_virtual_hosted() {
        let e = Endpoint::parse("https://oss-cn-hangzhou.aliyuncs.com/").unwrap();
        assert_eq!(e.as_str(), "https://oss-cn-hangzhou.aliyuncs.com");
        assert!(!e.is_path_style());
        assert_eq!(e.host_for("b"), "b.oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(e.bucket_url("b"), "https://b.oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(
            e.object_url("b", "a b/c+d.txt", &q("x-oss-expires", "60")),
            "https://b.oss-cn-hangzhou.aliyuncs.com/a%20b/c%2Bd.txt?x-oss-expires=60"
        );
        let bare = Endpoint::parse("oss-cn-hangzhou.aliyuncs.com").unwrap();
        assert_eq!(bare.as_str(), "https://oss-cn-hangzhou.aliyuncs.com");
    }

    #[test]
    fn ip_and_localhost_are_path_style() {
        let e = Endpoint::parse("http://127.0.0.1:9100").unwrap();
        assert!(e.is_path_style());
        assert_eq!(e.bucket_url("b"), "http://127.0.0.1:9100/b");
        assert_eq!(e.host_for("b"), "127.0.0.1:9100");
        assert_eq!(
            e.object_url("b", "k/é", &[]),
            "http://127.0.0.1:9100/b/k/%C3%A9"
        );
        // The CNAME flag does not override an IP host, as in both SDKs.
        assert!(Endpoint::parse_with_cname("http://localhost:9100", true)
            .unwrap()
            .is_path_style());
        let v6 = Endpoint::parse("http://[::1]:9100").unwrap();
        assert!(v6.is_path_style());
        assert_eq!(v6.bucket_url("b"), "http://[::1]:9100/b");
    }

    #[test]
    fn custom_domain_is_cname() {
        let e = Endpoint::parse("https://cdn.example.com").unwrap();
        assert!(e.is_cname());
        assert_eq!(e.bucket_url("b"), "https://cdn.example.com");
        assert_eq!(e.host_for("b"), "cdn.example.com");
        assert_eq!(
            e.object_url("b", "u/1.png", &[]),
            "https://cdn.example.com/u/1.png"
        );
        // SDK semantics: without the flag a domain is virtual-hosted.
        let v = Endpoint::parse_with_cname("https://cdn.example.com", false).unwrap();
        assert_eq!(v.bucket_url("b"), "https://b.cdn.example.com");
    }

    #[test]
    fn keys_with_dot_segments_are_sent_byte_for_byte() {
        for base in [
            "http://127.0.0.1:9100",
            "https://oss-cn-hangzhou.aliyuncs.com",
            "https://cdn.example.com",
        ] {
            let e = Endpoint::parse(base).unwrap();
            for key in [
                "uploads/r/x/../dot.html",
                "uploads/r/./a.png",
                "uploads/../x",
                "uploads/r/x/..",
                "uploads/r/a b/é.png",
                "uploads/r/..a/b..",
            ] {
                let url = e.object_url("b", key, &q("tagging", ""));
                assert!(
                    key_survives_url_parsing(&url, e.style(), "b", key),
                    "{url} for {key}"
                );
            }
        }
        let e = Endpoint::parse("http://127.0.0.1:9100").unwrap();
        assert_eq!(
            e.object_url("b", "uploads/x/../d.html", &[]),
            "http://127.0.0.1:9100/b/uploads%2Fx%2F..%2Fd.html"
        );
        // Keys without dot segments keep their slashes, as before.
        assert_eq!(
            e.object_url("b", "uploads/x/..d.html", &[]),
            "http://127.0.0.1:9100/b/uploads/x/..d.html"
        );
        // What it guards against: the plain form loses the segment.
        let plain = format!(
            "http://127.0.0.1:9100/b/{}",
            uri_encode("uploads/x/../d.html", true)
        );
        assert!(!key_survives_url_parsing(
            &plain,
            AddressStyle::Path,
            "b",
            "uploads/x/../d.html"
        ));
    }

    #[test]
    fn rejects_non_origins() {
        assert!(Endpoint::parse("ftp://x.aliyuncs.com").is_err());
        assert!(Endpoint::parse("https://x.aliyuncs.com/path").is_err());
        assert!(Endpoint::parse("https://x.aliyuncs.com?a=b").is_err());
        assert!(Endpoint::parse("https://u:p@x.aliyuncs.com").is_err());
        assert!(Endpoint::parse("https://").is_err());
    }
}
