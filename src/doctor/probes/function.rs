//! The probes of the function itself: `/healthz`, `/v1/config` (profiles,
//! methods, auth mode) and whether `DELETE` reaches it.

use super::http::uri_component;
use super::Doctor;
use crate::doctor::report::Finding;
use reqwest::Method;
use serde_json::{json, Value};

impl Doctor<'_> {
    pub(super) async fn healthz(&mut self) -> bool {
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

    pub(super) async fn config(&mut self) -> Option<Value> {
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

    pub(super) async fn delete(&mut self) {
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

pub(super) fn profiles(config: &Value) -> Vec<Value> {
    config["profiles"].as_array().cloned().unwrap_or_default()
}
