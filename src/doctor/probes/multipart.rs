//! The multipart probe: three parts uploaded, listed, aborted, and listed
//! again (404 `NoSuchUpload`).

use super::function::profiles;
use super::http::{oss_ok, oss_unreachable, string_list, string_map, uri_component};
use super::Doctor;
use crate::doctor::report::Finding;
use crate::doctor::samples::{self, Sample};
use reqwest::Method;
use serde_json::{json, Value};

/// Bytes of each part of the three-part multipart check (the smallest part
/// OSS accepts before the last, so the upload could have been completed).
const PART_BYTES: usize = crate::oss::multipart::MIN_PART_BYTES as usize;

impl Doctor<'_> {
    /// Three parts, listed, aborted, listed again (404 NoSuchUpload).
    pub(super) async fn multipart_abort(&mut self, config: &Value) {
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
        let types: Vec<String> = string_list(&p["contentTypes"]);
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
                .map_err(oss_unreachable)?;
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
}
