//! The CORS probes: preflights from the app's origin against the function
//! and the bucket, and whether OSS exposes `ETag` on its actual answers.

use super::http::send;
use super::{CorsSeen, Doctor};
use crate::doctor::report::Finding;
use reqwest::Method;

impl Doctor<'_> {
    pub(super) async fn cors_function(&mut self) {
        const CHECK: &str = "cors-function";
        let Some(origin) = self.args.origin.clone() else {
            self.add(Finding::skipped(
                CHECK,
                "no --origin given (your app's origin, e.g. https://app.example.com)",
            ));
            return;
        };
        let same_origin = url::Url::parse(&self.args.url)
            .map(|u| u.origin().ascii_serialization() == origin)
            .unwrap_or(false);
        if same_origin {
            self.add(Finding::ok(
                CHECK,
                format!("{origin} is the function's own origin: browsers send it no preflight"),
            ));
            return;
        }
        let fix =
            format!("add {origin} to ALLOWED_ORIGINS (the deployment file's allowedOrigins var)");
        let mut seen = Vec::new();
        for (method, path) in [("POST", "/v1/presign"), ("DELETE", "/s3/multipart/doctor")] {
            let rb = self
                .http
                .request(Method::OPTIONS, format!("{}{path}", self.args.url))
                .header("origin", origin.as_str())
                .header("access-control-request-method", method)
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                );
            match send(rb).await {
                Ok(a) => {
                    let allowed = a
                        .header("access-control-allow-origin")
                        .is_some_and(|o| o == origin || o == "*")
                        && (200..300).contains(&a.status)
                        && a.header("access-control-allow-methods")
                            .is_some_and(|m| m.contains(method));
                    if !allowed {
                        self.add(Finding::problem(
                            CHECK,
                            format!("the preflight for {method} {path} from {origin} answered {} without allowing it", a.status),
                            fix,
                        ));
                        return;
                    }
                    seen.push(method);
                }
                Err(e) => {
                    self.add(Finding::problem(
                        CHECK,
                        format!("OPTIONS {path}: {e}"),
                        "the HTTP trigger must allow OPTIONS",
                    ));
                    return;
                }
            }
        }
        self.add(Finding::ok(
            CHECK,
            format!(
                "preflights from {origin} for {} are allowed",
                seen.join(" and ")
            ),
        ));
    }

    pub(super) async fn cors_bucket(&mut self) {
        let Some(origin) = self.args.origin.clone() else {
            self.add(Finding::skipped("cors-bucket", "no --origin given"));
            self.add(Finding::skipped("bucket-etag", "no --origin given"));
            return;
        };
        let rule = format!("bucket CORS: a rule with AllowedOrigin {origin}, AllowedMethod PUT POST GET HEAD, AllowedHeader *, ExposeHeader ETag and x-oss-request-id");
        match self.bucket_url.clone() {
            None => self.add(Finding::skipped(
                "cors-bucket",
                "no upload reached OSS, so no bucket URL to ask",
            )),
            Some(url) => {
                let rb = self
                    .http
                    .request(Method::OPTIONS, &url)
                    .header("origin", origin.as_str())
                    .header("access-control-request-method", "PUT")
                    .header(
                        "access-control-request-headers",
                        "content-type, x-oss-forbid-overwrite",
                    );
                match send(rb).await {
                    Ok(a)
                        if (200..300).contains(&a.status)
                            && a.header("access-control-allow-origin").is_some() =>
                    {
                        self.add(Finding::ok(
                            "cors-bucket",
                            format!("the bucket allows PUT from {origin}"),
                        ))
                    }
                    Ok(a) => self.add(Finding::problem(
                        "cors-bucket",
                        format!(
                            "the bucket's preflight for PUT from {origin} answered {}",
                            a.short()
                        ),
                        rule.clone(),
                    )),
                    Err(e) => self.add(Finding::problem(
                        "cors-bucket",
                        format!("OPTIONS to OSS: {e}"),
                        rule.clone(),
                    )),
                }
            }
        }
        let puts: Vec<&CorsSeen> = self
            .cors_seen
            .iter()
            .filter(|c| c.what.contains("PUT"))
            .collect();
        let Some(last) = puts.last() else {
            self.add(Finding::skipped("bucket-etag", "no PUT reached OSS"));
            return;
        };
        let exposes = |c: &CorsSeen| {
            c.expose
                .as_deref()
                .is_some_and(|e| e.split(',').any(|h| h.trim().eq_ignore_ascii_case("etag")))
        };
        self.add(if last.allow_origin.is_none() {
            Finding::problem(
                "bucket-etag",
                format!("OSS's answer to a {} from {origin} carried no CORS headers: a browser cannot read it", last.what),
                rule,
            )
        } else if puts.iter().all(|c| exposes(c)) {
            Finding::ok("bucket-etag", "OSS exposes ETag on PUT answers (Access-Control-Expose-Headers)")
        } else {
            Finding::problem(
                "bucket-etag",
                format!(
                    "OSS's answer to a {} lists Access-Control-Expose-Headers {:?}, without ETag: browsers cannot read part ETags (multipart, Uppy)",
                    last.what,
                    last.expose.as_deref().unwrap_or("")
                ),
                "bucket CORS: add ExposeHeader ETag (and x-oss-request-id) to the rule for your origin",
            )
        });
    }
}
