//! The shape rules for single values (role ARNs, URLs, origins, media types,
//! key prefixes, lists), kept apart from reading the environment so each rule
//! is easy to find and reuse (the profile file uses some of them).

pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A role ARN of the form `acs:ram::<account id>:role/<role name>`.
pub fn valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("acs:ram::") else {
        return false;
    };
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    !account.is_empty()
        && account.bytes().all(|c| c.is_ascii_digit())
        && !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

pub(crate) fn valid_http_url(u: &str) -> bool {
    match url::Url::parse(u) {
        Ok(url) => {
            (url.scheme() == "https" || url.scheme() == "http")
                && url.host_str().is_some()
                && (url.path() == "/" || url.path().is_empty())
                && url.query().is_none()
                && url.username().is_empty()
        }
        Err(_) => false,
    }
}

/// Checks `UPLOAD_PREFIX`: non-empty, ends with `/`, no leading `/`, no `..`
/// segment, and none of the characters that mean something in a RAM policy.
pub fn check_prefix(p: &str) -> Result<(), String> {
    if p.is_empty() || !p.ends_with('/') {
        return Err(format!(
            "{p:?} must be a folder ending in '/', e.g. uploads/"
        ));
    }
    if p.starts_with('/') {
        return Err(format!("{p:?} must not start with '/'"));
    }
    if p.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(format!("{p:?} must not contain . or .. segments"));
    }
    if p.contains("//") {
        return Err(format!("{p:?} must not contain empty segments (//)"));
    }
    if p.chars()
        .any(|c| c.is_control() || matches!(c, '*' | '?' | '$' | '\\' | '"'))
    {
        return Err(format!(
            "{p:?} must not contain control characters or any of * ? $ \\ \""
        ));
    }
    if p.len() > 512 {
        return Err("is longer than 512 bytes".into());
    }
    Ok(())
}

/// A `type/subtype` media type of RFC 7230 token characters.
pub(crate) fn valid_mime(t: &str) -> bool {
    let Some((a, b)) = t.split_once('/') else {
        return false;
    };
    let tok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
    };
    tok(a) && tok(b)
}

pub(crate) fn valid_origin(o: &str) -> bool {
    match url::Url::parse(o) {
        Ok(u) => {
            (u.scheme() == "https" || u.scheme() == "http")
                && u.host_str().is_some()
                && u.path() == "/"
                && !o.ends_with('/')
                && u.query().is_none()
        }
        Err(_) => false,
    }
}

/// Checks a `JWT_JWKS_URL` value: https, or plain http to a loopback host
/// (for tests and a provider on the same machine). The error says what to set.
pub fn jwks_url(value: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| {
        format!("{value:?} is not a URL ({e}); set your identity provider's JWKS URL, e.g. https://login.example.com/.well-known/jwks.json")
    })?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{} is plain http; set the https URL of your identity provider's JWKS (plain http is accepted only to 127.0.0.1, [::1] or localhost, for tests)",
                url.origin().ascii_serialization()
            ))
        }
        other => {
            return Err(format!(
                "has scheme {other:?}; set the https URL of your identity provider's JWKS"
            ))
        }
    }
    if url.host().is_none() {
        return Err("has no host; set the https URL of your identity provider's JWKS".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "carries a user name or password; a JWKS URL is public, set it without them".to_owned(),
        );
    }
    Ok(url)
}
