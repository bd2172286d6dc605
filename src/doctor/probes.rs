//! The doctor's probes: each talks to the function (and to OSS through the
//! URLs and credentials the function hands out) exactly as a client does, and
//! turns what it sees into [`Finding`]s.

use super::options::Args;
use super::report::{Finding, Report};
use super::samples::{self, Sample};
use crate::oss::client::{signed_request, OssRequest};
use crate::oss::endpoint::Endpoint;
use alibaba_sign::Credentials;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What a fix names when an upload's verdict never comes.
const TRIGGER_FIX: &str = "add an OSS trigger per profile prefix on this function (events oss:ObjectCreated:PutObject, PostObject, CompleteMultipartUpload, AppendObject, PutSymlink; README \"Deploy with Serverless Devs\" step 4); if it exists, look in the function's log for POST /invoke answered 404 (FC sent no x-fc-control-path: /invoke)";
/// Bytes of each part of the three-part multipart check (the smallest part
/// OSS accepts before the last, so the upload could have been completed).
const PART_BYTES: usize = crate::oss::multipart::MIN_PART_BYTES as usize;

/// One HTTP answer, body read.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The function's error `(code, message)`, if the body is one.
    fn api_error(&self) -> Option<(String, String)> {
        let v = self.json()?;
        let e = v.get("error")?;
        Some((
            e.get("code")?.as_str()?.to_owned(),
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ))
    }

    /// OSS's XML error `Code`, if the body is one.
    fn oss_code(&self) -> Option<String> {
        let text = std::str::from_utf8(&self.body).ok()?;
        let start = text.find("<Code>")? + 6;
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_owned())
    }

    fn short(&self) -> String {
        match (self.api_error(), self.oss_code()) {
            (Some((code, message)), _) => format!("{} {code}: {message}", self.status),
            (None, Some(code)) => format!("{} {code}", self.status),
            _ => {
                let text = String::from_utf8_lossy(&self.body);
                let text: String = text.chars().take(80).collect();
                format!("{} {}", self.status, text.trim().replace('\n', " "))
            }
        }
    }
}

/// What the CORS headers of one actual answer from OSS said.
struct CorsSeen {
    what: String,
    allow_origin: Option<String>,
    expose: Option<String>,
}

/// An upload waiting for its verdict.
struct Pending {
    check: String,
    key: String,
    spaced: bool,
}

struct Doctor<'a> {
    args: &'a Args,
    http: reqwest::Client,
    findings: Vec<Finding>,
    cors_seen: Vec<CorsSeen>,
    /// An object URL (no query) OSS served for the bucket preflight.
    bucket_url: Option<String>,
    /// A key under the caller's prefix (for the DELETE check).
    some_key: Option<String>,
}

/// Runs every probe against `args.url`.
pub(super) async fn run(args: &Args) -> Result<Report, String> {
    let http =
        crate::http_client::for_signed_requests(Duration::from_secs(5), Duration::from_secs(60))
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut d = Doctor {
        args,
        http,
        findings: Vec::new(),
        cors_seen: Vec::new(),
        bucket_url: None,
        some_key: None,
    };
    d.all().await;
    Ok(Report::new(&args.url, d.findings))
}

fn uri_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Doctor<'_> {
    async fn all(&mut self) {
        if !self.healthz().await {
            return;
        }
        let Some(config) = self.config().await else {
            return;
        };
        let pending = self.uploads(&config).await;
        self.verdicts(pending).await;
        self.multipart_abort(&config).await;
        self.cors_function().await;
        self.cors_bucket().await;
        self.delete().await;
    }

    fn add(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// A request to the function (`path` from its root), with the token.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{path}", self.args.url));
        if let Some(t) = &self.args.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        send(rb).await.map_err(|e| format!("{method} {path}: {e}"))
    }

    /// A request to OSS (a URL the function handed out), with `Origin` when
    /// one is configured; its CORS headers are remembered as `what`.
    async fn oss(
        &mut self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut rb = self.http.request(method, url);
        for (k, v) in headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(o) = &self.args.origin {
            rb = rb.header("origin", o.as_str());
        }
        let a = send(rb.body(body))
            .await
            .map_err(|e| format!("{what} to OSS: {e}"))?;
        if self.args.origin.is_some() {
            self.cors_seen.push(CorsSeen {
                what: what.to_owned(),
                allow_origin: a.header("access-control-allow-origin").map(str::to_owned),
                expose: a.header("access-control-expose-headers").map(str::to_owned),
            });
        }
        if self.bucket_url.is_none() {
            self.bucket_url = Some(url.split('?').next().unwrap_or(url).to_owned());
        }
        Ok(a)
    }

    async fn healthz(&mut self) -> bool {
        let fix = "check the URL (the HTTP trigger's), that the function deployed and started (its log), and that the trigger allows GET";
        match self.call(Method::GET, "/healthz", None).await {
            Ok(a) if a.status == 200 && a.json() == Some(json!({"status": "ok"})) => {
                self.add(Finding::ok(
                    "healthz",
                    "GET /healthz answered {\"status\":\"ok\"}",
                ));
                true
            }
            Ok(a) => {
                self.add(Finding::problem(
                    "healthz",
                    format!("GET /healthz answered {}", a.short()),
                    fix,
                ));
                false
            }
            Err(e) => {
                self.add(Finding::problem("healthz", e, fix));
                false
            }
        }
    }

    async fn config(&mut self) -> Option<Value> {
        let fix =
            "the function's /v1/config must answer its public settings; see the function's log";
        let a = match self.call(Method::GET, "/v1/config", None).await {
            Ok(a) => a,
            Err(e) => {
                self.add(Finding::problem("config", e, fix));
                return None;
            }
        };
        let config = a
            .json()
            .filter(|c| c["profiles"].is_array() && a.status == 200);
        let Some(config) = config else {
            self.add(Finding::problem(
                "config",
                format!("GET /v1/config answered {}", a.short()),
                fix,
            ));
            return None;
        };
        let profiles: Vec<String> = profiles(&config)
            .iter()
            .map(|p| {
                let methods: Vec<&str> = p["methods"]
                    .as_array()
                    .map(|m| m.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                format!(
                    "{} ({})",
                    p["name"].as_str().unwrap_or("?"),
                    methods.join(", ")
                )
            })
            .collect();
        let auth = config["authMode"].as_str().unwrap_or("?").to_owned();
        self.add(Finding::ok(
            "config",
            format!(
                "auth {auth}, signature {}, bucket {}; profiles: {}",
                config["signatureVersion"].as_str().unwrap_or("?"),
                config["bucket"].as_str().unwrap_or("?"),
                profiles.join("; ")
            ),
        ));
        if auth != "anonymous" && self.args.token.is_none() {
            self.add(Finding::problem(
                "token",
                format!("AUTH_MODE is {auth} and no --token was given: only anonymous profiles can be checked"),
                "pass --token <a test user's JWT>",
            ));
        }
        Some(config)
    }

    /// Uploads one file per profile and method; returns what waits for a verdict.
    async fn uploads(&mut self, config: &Value) -> Vec<Pending> {
        let mut pending = Vec::new();
        let mut first = true;
        for p in profiles(config) {
            let name = p["name"].as_str().unwrap_or("default").to_owned();
            let methods: Vec<String> = p["methods"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let anonymous = p["anonymous"].as_bool().unwrap_or(false);
            for method in methods {
                let check = format!("upload:{name}:{method}");
                if self.args.token.is_none() && !anonymous && config["authMode"] != "anonymous" {
                    self.add(Finding::skipped(&check, "needs --token"));
                    continue;
                }
                let types: Vec<String> = p["contentTypes"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let min = p["minBytes"].as_u64().unwrap_or(1);
                let max = p["maxBytes"].as_u64().unwrap_or(u64::MAX);
                let Some(sample) = samples::for_profile(&types, min, max) else {
                    self.add(Finding::skipped(
                        &check,
                        format!(
                            "the doctor makes no file of an allowed type ({}) within {min}..{max} bytes",
                            types.join(", ")
                        ),
                    ));
                    continue;
                };
                // The first upload's name has no space, every later one has:
                // if only the spaced ones stay without a verdict, the event
                // keys arrive encoded.
                let spaced = !first;
                first = false;
                let filename = if spaced {
                    format!("doctor check {method}.{}", sample.ext)
                } else {
                    format!("doctor-check-{method}.{}", sample.ext)
                };
                let result = match method.as_str() {
                    "post-policy" => self.upload_post_policy(&name, &filename, &sample).await,
                    "presign" => self.upload_presign(&name, &filename, &sample).await,
                    "sts" => self.upload_sts(&name, &filename, &sample).await,
                    "multipart" => self.upload_multipart(&name, &filename, &sample).await,
                    other => {
                        self.add(Finding::skipped(
                            &check,
                            format!("unknown method {other:?}"),
                        ));
                        continue;
                    }
                };
                match result {
                    Ok(key) => {
                        self.some_key.get_or_insert_with(|| key.clone());
                        pending.push(Pending { check, key, spaced });
                    }
                    Err((detail, fix)) => self.add(Finding::problem(&check, detail, fix)),
                }
            }
        }
        pending
    }

    /// A function route's JSON answer, or the finding's (detail, fix).
    async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, (String, String)> {
        let a = self
            .call(method.clone(), path, body)
            .await
            .map_err(|e| (e, "check that the function is reachable".to_owned()))?;
        match a.json() {
            Some(v) if (200..300).contains(&a.status) => Ok(v),
            _ => {
                let code = a.api_error().map(|(c, _)| c).unwrap_or_default();
                Err((
                    format!(
                        "{method} {} answered {}",
                        path.split('?').next().unwrap_or(path),
                        a.short()
                    ),
                    api_fix(a.status, &code),
                ))
            }
        }
    }

    async fn upload_post_policy(
        &mut self,
        profile: &str,
        filename: &str,
        s: &Sample,
    ) -> Result<String, (String, String)> {
        let req = json!({"profile": profile, "filename": filename,
            "contentType": s.content_type, "size": s.bytes.len()});
        let p = self
            .api(Method::POST, "/v1/post-policy", Some(&req))
            .await?;
        let (Some(url), Some(key), Some(fields)) = (
            p["url"].as_str(),
            p["key"].as_str(),
            p["fields"].as_object(),
        ) else {
            return Err((
                "/v1/post-policy answered without url, key or fields".into(),
                see_log(),
            ));
        };
        let boundary = format!("doctor{}", crate::profiles::keys::random_id());
        let mut body = Vec::new();
        for (k, v) in fields {
            let v = v.as_str().unwrap_or_default();
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                filename.replace('"', ""),
                s.content_type
            )
            .as_bytes(),
        );
        body.extend(&s.bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let headers = [(
            "content-type".to_owned(),
            format!("multipart/form-data; boundary={boundary}"),
        )];
        let (url, key) = (url.to_owned(), key.to_owned());
        let a = self
            .oss(
                "POST policy upload",
                Method::POST,
                &url,
                &headers,
                body.into(),
            )
            .await
            .map_err(|e| (e, "check that OSS's endpoint is reachable".to_owned()))?;
        oss_ok(&a, "PostObject", &key)?;
        Ok(key)
    }

    async fn upload_presign(
        &mut self,
        profile: &str,
        filename: &str,
        s: &Sample,
    ) -> Result<String, (String, String)> {
        let req = json!({"profile": profile, "filename": filename,
            "contentType": s.content_type, "size": s.bytes.len()});
        let p = self.api(Method::POST, "/v1/presign", Some(&req)).await?;
        let (Some(url), Some(key)) = (p["url"].as_str(), p["key"].as_str()) else {
            return Err(("/v1/presign answered without url or key".into(), see_log()));
        };
        let headers = string_map(&p["headers"]);
        let (url, key) = (url.to_owned(), key.to_owned());
        let a = self
            .oss(
                "presigned PUT",
                Method::PUT,
                &url,
                &headers,
                s.bytes.clone().into(),
            )
            .await
            .map_err(|e| (e, "check that OSS's endpoint is reachable".to_owned()))?;
        oss_ok(&a, "PutObject", &key)?;
        Ok(key)
    }

    async fn upload_sts(
        &mut self,
        profile: &str,
        filename: &str,
        s: &Sample,
    ) -> Result<String, (String, String)> {
        let c = self
            .api(
                Method::GET,
                &format!("/v1/sts?profile={}", uri_component(profile)),
                None,
            )
            .await?;
        let field = |n: &str| c[n].as_str().unwrap_or_default().to_owned();
        let creds = Credentials::new(
            field("AccessKeyId"),
            field("AccessKeySecret"),
            Some(field("SecurityToken")),
        );
        let endpoint = Endpoint::parse(&field("Endpoint")).map_err(|e| {
            (
                format!("/v1/sts answered an endpoint OSS clients cannot use: {e}"),
                see_log(),
            )
        })?;
        let key = format!(
            "{}{}/{filename}",
            field("Prefix"),
            crate::profiles::keys::random_id()
        );
        let req = OssRequest::new("PUT", &field("Bucket"), &key)
            .header("Content-Type", s.content_type.clone())
            .body(s.bytes.clone());
        let signed = signed_request(
            &creds,
            &field("Region"),
            &endpoint,
            &req,
            chrono::Utc::now(),
        );
        let a = self
            .oss(
                "STS PutObject",
                Method::PUT,
                &signed.url,
                &signed.headers,
                req.body,
            )
            .await
            .map_err(|e| (e, "check that OSS's endpoint is reachable".to_owned()))?;
        oss_ok(&a, "PutObject", &key)?;
        Ok(key)
    }

    /// A one-part multipart upload, completed.
    async fn upload_multipart(
        &mut self,
        profile: &str,
        filename: &str,
        s: &Sample,
    ) -> Result<String, (String, String)> {
        let size = s.bytes.len();
        let req = json!({"profile": profile, "filename": filename,
            "contentType": s.content_type, "size": size});
        let up = self.api(Method::POST, "/v1/multipart", Some(&req)).await?;
        let key = up["key"].as_str().unwrap_or_default().to_owned();
        let id = up["uploadId"].as_str().unwrap_or_default().to_owned();
        let signed = self
            .api(
                Method::POST,
                "/v1/multipart/sign",
                Some(&json!({"key": key, "uploadId": id, "size": size, "partNumbers": [1]})),
            )
            .await?;
        let part = &signed["parts"][0];
        let url = part["url"].as_str().unwrap_or_default().to_owned();
        let a = self
            .oss(
                "multipart part PUT",
                Method::PUT,
                &url,
                &string_map(&part["headers"]),
                s.bytes.clone().into(),
            )
            .await
            .map_err(|e| (e, "check that OSS's endpoint is reachable".to_owned()))?;
        oss_ok(&a, "UploadPart", &key)?;
        let etag = a.header("etag").unwrap_or_default().to_owned();
        self.api(
            Method::POST,
            "/v1/multipart/complete",
            Some(&json!({"key": key, "uploadId": id, "parts": [{"partNumber": 1, "etag": etag}]})),
        )
        .await?;
        Ok(key)
    }

    /// Waits (all at once, up to `--wait`) for every upload's verdict.
    async fn verdicts(&mut self, pending: Vec<Pending>) {
        if pending.is_empty() {
            self.add(Finding::skipped("oss-trigger", "nothing was uploaded"));
            return;
        }
        let deadline = Instant::now() + self.args.wait;
        let this = &*self;
        let outcomes = futures_util::future::join_all(
            pending.iter().map(|p| this.wait_verdict(&p.key, deadline)),
        )
        .await;
        let mut arrived = 0;
        let (mut spaced_ok, mut plain_ok, mut spaced_late) = (false, false, false);
        for (p, outcome) in pending.iter().zip(outcomes) {
            let f = match outcome {
                Verdict::Verified(t) => {
                    arrived += 1;
                    if p.spaced {
                        spaced_ok = true;
                    } else {
                        plain_ok = true;
                    }
                    Finding::ok(&p.check, format!("{:?} verified after {:.1} s", p.key, t.as_secs_f64()))
                }
                Verdict::Rejected(reason) => {
                    arrived += 1;
                    Finding::problem(
                        &p.check,
                        format!("{:?} was rejected by the upload check: {reason}", p.key),
                        "the check refused a valid file: compare the profile's content_types and limits with /v1/config, and read the function's log for this key",
                    )
                }
                Verdict::Missing => Finding::problem(
                    &p.check,
                    format!("{:?} is missing: not stored, or removed", p.key),
                    "the upload reported success but the object is gone: check for a lifecycle rule or another process deleting under the prefix",
                ),
                Verdict::Pending => {
                    if p.spaced {
                        spaced_late = true;
                    }
                    Finding::problem(
                        &p.check,
                        format!("{:?} has no verdict after {} s", p.key, self.args.wait.as_secs()),
                        TRIGGER_FIX,
                    )
                }
                Verdict::Failed(detail, fix) => Finding::problem(&p.check, detail, fix),
            };
            self.add(f);
        }
        self.add(if arrived > 0 {
            Finding::ok(
                "oss-trigger",
                format!("{arrived} of {} uploads got a verdict: OSS events reach the function's /invoke", pending.len()),
            )
        } else {
            Finding::problem(
                "oss-trigger",
                format!("none of {} uploads got a verdict within {} s: OSS events do not reach the function", pending.len(), self.args.wait.as_secs()),
                TRIGGER_FIX,
            )
        });
        self.add(match (spaced_ok, plain_ok, spaced_late) {
            (true, _, _) => Finding::ok("key-encoding", "a key with a space in its name was checked: event keys arrive as stored"),
            (false, true, true) => Finding::problem(
                "key-encoding",
                "keys without a space got verdicts, keys with a space did not: the events' oss.object.key arrives encoded (e.g. '+' for a space)",
                "report it with the function's log lines for these keys; meanwhile avoid spaces in file names",
            ),
            _ => Finding::skipped("key-encoding", "no verdict on a key with a space to judge by"),
        });
    }

    async fn wait_verdict(&self, key: &str, deadline: Instant) -> Verdict {
        let start = Instant::now();
        let path = format!("/v1/uploads/status?key={}", uri_component(key));
        loop {
            match self.call(Method::GET, &path, None).await {
                Ok(a) if a.status == 200 => {
                    let v = a.json().unwrap_or_default();
                    match v["status"].as_str() {
                        Some("verified") => return Verdict::Verified(start.elapsed()),
                        Some("rejected") => {
                            return Verdict::Rejected(
                                v["reason"].as_str().unwrap_or("no reason given").to_owned(),
                            )
                        }
                        Some("missing") if Instant::now() >= deadline => return Verdict::Missing,
                        _ => {}
                    }
                }
                Ok(a) => {
                    let code = a.api_error().map(|(c, _)| c).unwrap_or_default();
                    let fix = if code.starts_with("Oss") {
                        "RAM: the upload role needs oss:GetObjectTagging on every profile prefix (the status route reads the verdict tags)".to_owned()
                    } else {
                        api_fix(a.status, &code)
                    };
                    return Verdict::Failed(
                        format!("GET /v1/uploads/status answered {}", a.short()),
                        fix,
                    );
                }
                Err(e) => return Verdict::Failed(e, "check that the function is reachable".into()),
            }
            if Instant::now() >= deadline {
                return Verdict::Pending;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Three parts, listed, aborted, listed again (404 NoSuchUpload).
    async fn multipart_abort(&mut self, config: &Value) {
        const CHECK: &str = "multipart-abort";
        let can_use = |p: &&Value| {
            p["methods"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x == "multipart"))
                && (self.args.token.is_some()
                    || p["anonymous"].as_bool().unwrap_or(false)
                    || config["authMode"] == "anonymous")
        };
        let Some(p) = profiles(config).iter().find(can_use).cloned() else {
            self.add(Finding::skipped(
                CHECK,
                "no profile this caller may use allows multipart",
            ));
            return;
        };
        let types: Vec<String> = p["contentTypes"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let min = p["minBytes"].as_u64().unwrap_or(1);
        let max = p["maxBytes"].as_u64().unwrap_or(u64::MAX);
        let total = (3 * PART_BYTES as u64).max(min);
        let Some(sample) = samples::for_profile(&types, 1, max).filter(|_| total <= max) else {
            self.add(Finding::skipped(
                CHECK,
                "the profile's types or limits leave no room for three parts",
            ));
            return;
        };
        match self.three_parts(&p, &sample, total).await {
            Ok(detail) => self.add(Finding::ok(CHECK, detail)),
            Err((detail, fix)) => self.add(Finding::problem(CHECK, detail, fix)),
        }
    }

    async fn three_parts(
        &mut self,
        p: &Value,
        s: &Sample,
        total: u64,
    ) -> Result<String, (String, String)> {
        let req = json!({"profile": p["name"], "filename": format!("doctor abort.{}", s.ext),
            "contentType": s.content_type, "size": total});
        let up = self.api(Method::POST, "/v1/multipart", Some(&req)).await?;
        let key = up["key"].as_str().unwrap_or_default().to_owned();
        let id = up["uploadId"].as_str().unwrap_or_default().to_owned();
        self.some_key.get_or_insert_with(|| key.clone());
        // Signed without `size`: part URLs not bound to the plan's lengths.
        let signed = self
            .api(
                Method::POST,
                "/v1/multipart/sign",
                Some(&json!({"key": key, "uploadId": id, "partNumbers": [1, 2, 3]})),
            )
            .await?;
        let parts: Vec<Value> = signed["parts"].as_array().cloned().unwrap_or_default();
        let mut etags = Vec::new();
        for part in &parts {
            let mut body = s.bytes.clone();
            body.resize(PART_BYTES, 0);
            let url = part["url"].as_str().unwrap_or_default().to_owned();
            let a = self
                .oss(
                    "multipart part PUT",
                    Method::PUT,
                    &url,
                    &string_map(&part["headers"]),
                    body.into(),
                )
                .await
                .map_err(|e| (e, "check that OSS's endpoint is reachable".to_owned()))?;
            oss_ok(&a, "UploadPart", &key)?;
            etags.push(a.header("etag").unwrap_or_default().to_owned());
        }
        let parts_path = format!(
            "/v1/multipart/parts?key={}&uploadId={}",
            uri_component(&key),
            uri_component(&id)
        );
        let listed = self.api(Method::GET, &parts_path, None).await?;
        let listed_etags: Vec<String> = listed["parts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["etag"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let norm = |e: &str| e.trim_matches('"').to_ascii_uppercase();
        if etags.len() != 3
            || listed_etags.len() != 3
            || etags
                .iter()
                .zip(&listed_etags)
                .any(|(a, b)| norm(a) != norm(b))
        {
            return Err((
                format!(
                    "ListParts shows {} parts (3 uploaded) or other ETags",
                    listed_etags.len()
                ),
                "RAM: the upload role needs oss:ListParts on every profile prefix".into(),
            ));
        }
        self.api(
            Method::POST,
            "/v1/multipart/abort",
            Some(&json!({"key": key, "uploadId": id})),
        )
        .await
        .map_err(|(d, _)| {
            (
                d,
                "RAM: the upload role needs oss:AbortMultipartUpload; keep a bucket lifecycle rule that aborts incomplete multipart uploads after 1-2 days".into(),
            )
        })?;
        let after = self
            .call(Method::GET, &parts_path, None)
            .await
            .map_err(|e| (e, "check that the function is reachable".to_owned()))?;
        match after.api_error() {
            Some((code, _)) if after.status == 404 && code == "NoSuchUpload" => Ok(format!(
                "3 parts of {PART_BYTES} bytes uploaded and listed; aborted; ListParts then answers 404 NoSuchUpload"
            )),
            _ => Err((
                format!("after the abort, ListParts answered {} (expected 404 NoSuchUpload)", after.short()),
                "the abort did not remove the upload: keep a bucket lifecycle rule that aborts incomplete multipart uploads after 1-2 days, and read the function's log".into(),
            )),
        }
    }

    async fn cors_function(&mut self) {
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

    async fn cors_bucket(&mut self) {
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

    async fn delete(&mut self) {
        const CHECK: &str = "delete";
        let key = self
            .some_key
            .clone()
            .unwrap_or_else(|| "uploads/doctor".into());
        let path = format!(
            "/v1/multipart?key={}&uploadId=doctor-bogus-upload-id",
            uri_component(&key)
        );
        let fix = "add DELETE to the HTTP trigger's methods (s.yaml: GET, HEAD, POST, DELETE, OPTIONS), or let the front in front of the function pass DELETE";
        match self.call(Method::DELETE, &path, None).await {
            Ok(a) => match a.api_error() {
                Some((code, _)) if (400..500).contains(&a.status) && code != "MethodNotAllowed" => self.add(Finding::ok(
                    CHECK,
                    format!("DELETE /v1/multipart with a bogus upload id reached the function: {} {code}", a.status),
                )),
                _ => self.add(Finding::problem(
                    CHECK,
                    format!("DELETE /v1/multipart answered {}, not the function's JSON error", a.short()),
                    fix,
                )),
            },
            Err(e) => self.add(Finding::problem(CHECK, e, fix)),
        }
    }
}

enum Verdict {
    Verified(Duration),
    Rejected(String),
    Missing,
    Pending,
    Failed(String, String),
}

fn profiles(config: &Value) -> Vec<Value> {
    config["profiles"].as_array().cloned().unwrap_or_default()
}

fn see_log() -> String {
    "see the function's log for this request".to_owned()
}

/// `{"Name": "value"}` as header pairs.
fn string_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// What to change when a function route answers an error.
fn api_fix(status: u16, code: &str) -> String {
    match (status, code) {
        (401 | 403, _) if !code.starts_with("Sts") && !code.starts_with("Oss") => {
            "pass a valid --token for a test user (the JWT your app sends)".into()
        }
        (_, c) if c.starts_with("Sts") => "RAM: the function role needs sts:AssumeRole on OSS_ROLE_ARN's role, whose trust policy must name the function role".into(),
        (_, c) if c.starts_with("Oss") => "RAM: the upload role needs oss:PutObject, oss:ListParts and oss:AbortMultipartUpload on every profile prefix".into(),
        (429, _) => "rate limited: run the doctor again in a minute, or raise RATE_LIMIT_PER_MINUTE".into(),
        _ => see_log(),
    }
}

/// Whether OSS accepted an upload request; else the finding's (detail, fix).
fn oss_ok(a: &Answer, op: &str, key: &str) -> Result<(), (String, String)> {
    if (200..300).contains(&a.status) {
        return Ok(());
    }
    let code = a.oss_code().unwrap_or_default();
    let fix = match code.as_str() {
        "AccessDenied" => format!("RAM: the upload role's policy must allow oss:PutObject on acs:oss:*:*:<bucket>/{}*", key.split('/').next().unwrap_or("")),
        "SignatureDoesNotMatch" => "the signature OSS computed differs: check OSS_REGION and OSS_ENDPOINT match the bucket's".into(),
        "RequestTimeTooSkewed" => "the function's clock (or this machine's) is off".into(),
        _ => see_log(),
    };
    Err((format!("OSS refused {op} of {key:?}: {}", a.short()), fix))
}

async fn send(rb: reqwest::RequestBuilder) -> Result<Answer, String> {
    let r = rb.send().await.map_err(without_url)?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.map_err(without_url)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A transport error without its URL (presigned URLs carry signatures).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
