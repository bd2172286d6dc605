//! RAM session policies: the grammar STS checks, and their evaluation on OSS requests.
//!
//! STS checks the grammar at AssumeRole time; OSS evaluates the policy on each
//! request made with the resulting credentials. This is what makes a too-broad
//! or too-narrow scope visible locally.

use serde_json::Value;

/// Longest session policy STS accepts, in characters.
pub(crate) const MAX_POLICY_LEN: usize = 2048;

/// A parsed session policy.
#[derive(Debug, Clone)]
pub(crate) struct SessionPolicy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    /// Patterns; `negate` true when the statement used `NotAction`.
    actions: Vec<String>,
    negate_actions: bool,
    resources: Vec<String>,
    negate_resources: bool,
    /// The emulator does not evaluate conditions: an Allow with a condition
    /// never matches and a Deny with a condition always does (fail closed).
    has_condition: bool,
}

/// Outcome of evaluating a request against a session policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    /// An explicit Deny statement matched.
    ExplicitDeny,
    /// No Allow statement matched.
    ImplicitDeny,
}

/// Why a policy failed the grammar check (message for the STS error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyError {
    TooLong,
    Grammar(String),
}

impl SessionPolicy {
    /// Parses and checks a policy document the way STS does for `Policy`.
    pub fn parse(text: &str) -> Result<SessionPolicy, PolicyError> {
        if text.chars().count() > MAX_POLICY_LEN {
            return Err(PolicyError::TooLong);
        }
        let g = |m: &str| PolicyError::Grammar(m.to_string());
        let v: Value = serde_json::from_str(text).map_err(|e| g(&format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| g("policy must be a JSON object"))?;
        for k in obj.keys() {
            if k != "Version" && k != "Statement" {
                return Err(g(&format!("unknown element {k}")));
            }
        }
        match obj.get("Version") {
            Some(Value::String(s)) if s == "1" => {}
            _ => return Err(g("Version must be \"1\"")),
        }
        let stmts = match obj.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err(g("Statement must be a non-empty list")),
        };
        let mut statements = Vec::new();
        for s in &stmts {
            let o = s
                .as_object()
                .ok_or_else(|| g("each Statement must be an object"))?;
            for k in o.keys() {
                if !matches!(
                    k.as_str(),
                    "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition"
                ) {
                    return Err(g(&format!("unknown Statement element {k}")));
                }
            }
            let allow = match o.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err(g("Effect must be Allow or Deny")),
            };
            let (actions, negate_actions) = one_of(o, "Action", "NotAction").map_err(|m| g(&m))?;
            for a in &actions {
                if a != "*" && !a.contains(':') {
                    return Err(g(&format!("invalid Action {a}")));
                }
            }
            let (resources, negate_resources) =
                one_of(o, "Resource", "NotResource").map_err(|m| g(&m))?;
            let has_condition = match o.get("Condition") {
                None => false,
                Some(Value::Object(_)) => true,
                Some(_) => return Err(g("Condition must be an object")),
            };
            statements.push(Statement {
                allow,
                actions,
                negate_actions,
                resources,
                negate_resources,
                has_condition,
            });
        }
        Ok(SessionPolicy { statements })
    }

    /// Evaluates `action` (e.g. `oss:PutObject`) on `resource`
    /// (`acs:oss:*:<account>:<bucket>/<key>`): Deny overrides Allow.
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            let a = s
                .actions
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()));
            let r = s.resources.iter().any(|p| resource_matches(p, resource));
            let hit = (a != s.negate_actions) && (r != s.negate_resources);
            if !hit {
                continue;
            }
            if s.allow {
                if !s.has_condition {
                    allowed = true;
                }
            } else {
                return Decision::ExplicitDeny;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

fn one_of(
    o: &serde_json::Map<String, Value>,
    pos: &str,
    neg: &str,
) -> Result<(Vec<String>, bool), String> {
    let (v, negate) = match (o.get(pos), o.get(neg)) {
        (Some(v), None) => (v, false),
        (None, Some(v)) => (v, true),
        (Some(_), Some(_)) => return Err(format!("{pos} and {neg} are exclusive")),
        (None, None) => return Err(format!("{pos} is required")),
    };
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) if !a.is_empty() => {
            let mut out = Vec::new();
            for x in a {
                out.push(
                    x.as_str()
                        .ok_or_else(|| format!("{pos} entries must be strings"))?
                        .to_string(),
                );
            }
            out
        }
        _ => return Err(format!("{pos} must be a string or non-empty list")),
    };
    if list.iter().any(|s| s.is_empty()) {
        return Err(format!("{pos} entries must not be empty"));
    }
    Ok((list, negate))
}

/// Matches a RAM resource pattern against a concrete resource. Both are
/// `acs:<service>:<region>:<account>:<relative>`; the emulator has no region,
/// so any region in the pattern matches. The relative part may contain `:`.
fn resource_matches(pattern: &str, resource: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(5, ':').collect();
    let r: Vec<&str> = resource.splitn(5, ':').collect();
    if p.len() == 5 && r.len() == 5 {
        glob(p[0], r[0]) && glob(p[1], r[1]) && glob(p[3], r[3]) && glob(p[4], r[4])
    } else {
        glob(pattern, resource)
    }
}

/// `*` matches any run of characters (including `/`), `?` exactly one.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RES: &str = "acs:oss:*:1234:bkt/uploads/u1/a.png";

    #[test]
    fn glob_basics() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("uploads/*", "uploads/x/y"));
        assert!(!glob("uploads/*", "other/x"));
        assert!(glob("*.png", "é/ü.png"));
    }

    #[test]
    fn allow_and_deny() {
        let p = SessionPolicy::parse(
            r#"{"Version":"1","Statement":[
            {"Effect":"Allow","Action":["oss:PutObject"],"Resource":["acs:oss:*:*:bkt/uploads/u1/*"]},
            {"Effect":"Deny","Action":"oss:*","Resource":"acs:oss:*:*:bkt/uploads/u1/secret*"}]}"#,
        )
        .unwrap();
        assert_eq!(p.evaluate("oss:PutObject", RES), Decision::Allow);
        assert_eq!(p.evaluate("oss:putobject", RES), Decision::Allow);
        assert_eq!(p.evaluate("oss:GetObject", RES), Decision::ImplicitDeny);
        assert_eq!(
            p.evaluate("oss:PutObject", "acs:oss:*:1234:bkt/uploads/u2/a.png"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate("oss:PutObject", "acs:oss:*:1234:bkt/uploads/u1/secret.txt"),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn region_and_account_in_pattern() {
        let p = SessionPolicy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:Put*","Resource":"acs:oss:cn-hangzhou:1234:bkt/*"}]}"#,
        )
        .unwrap();
        assert_eq!(p.evaluate("oss:PutObject", RES), Decision::Allow);
        let p = SessionPolicy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:Put*","Resource":"acs:oss:*:9999:bkt/*"}]}"#,
        )
        .unwrap();
        assert_eq!(p.evaluate("oss:PutObject", RES), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_fail_closed() {
        let p = SessionPolicy::parse(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"1.2.3.4"}}}]}"#,
        )
        .unwrap();
        assert_eq!(p.evaluate("oss:PutObject", RES), Decision::ImplicitDeny);
    }

    #[test]
    fn grammar_errors() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"Version":"2","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"oss:*","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"PutObject","Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:*","Resource":"*","Bogus":1}]}"#,
        ] {
            assert!(
                matches!(SessionPolicy::parse(bad), Err(PolicyError::Grammar(_))),
                "{bad}"
            );
        }
        let long = format!(
            r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"oss:*","Resource":"{}"}}]}}"#,
            "a".repeat(2100)
        );
        assert_eq!(
            SessionPolicy::parse(&long).unwrap_err(),
            PolicyError::TooLong
        );
    }
}
