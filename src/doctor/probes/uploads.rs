//! The upload probes: one small real file per profile and method
//! (POST policy, presigned PUT, STS credentials, one-part multipart), uploaded
//! as a client would.

use super::function::profiles;
use super::http::{oss_ok, oss_unreachable, see_log, string_list, string_map, uri_component};
use super::Doctor;
use crate::doctor::report::Finding;
use crate::doctor::samples::{self, Sample};
use crate::oss::client::{signed_request, OssRequest};
use crate::oss::endpoint::Endpoint;
use alibaba_sign::Credentials;
use reqwest::Method;
use serde_json::{json, Value};

/// An upload waiting for its verdict.
pub(super) struct Pending {
    pub(super) check: String,
    pub(super) key: String,
    pub(super) spaced: bool,
}

impl Doctor<'_> {
    /// Uploads one file per profile and method; returns what waits for a verdict.
    pub(super) async fn uploads(&mut self, config: &Value) -> Vec<Pending> {
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
                let types: Vec<String> = string_list(&p["contentTypes"]);
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
            .map_err(oss_unreachable)?;
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
            .map_err(oss_unreachable)?;
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
            .map_err(oss_unreachable)?;
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
            .map_err(oss_unreachable)?;
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
}
