//! The one table of every environment variable the code reads, and who sets
//! it. `tests/env_vars.rs` holds it against the code and README's table.

/// Who sets an environment variable the function reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetBy {
    /// The operator, in `s.yaml`'s `environmentVariables` (or the shell, locally).
    Operator,
    /// Function Compute itself. Only these may start with `FC_`: FC reserves the
    /// prefix and refuses a whole CreateFunction/UpdateFunction that sets one.
    Fc,
}

/// One environment variable the function reads.
#[derive(Clone, Copy, Debug)]
pub struct Variable {
    /// The exact name.
    pub name: &'static str,
    /// Who sets it.
    pub set_by: SetBy,
}

const fn op(name: &'static str) -> Variable {
    Variable {
        name,
        set_by: SetBy::Operator,
    }
}

const fn fc(name: &'static str) -> Variable {
    Variable {
        name,
        set_by: SetBy::Fc,
    }
}

/// Every environment variable the code reads, in one place, so a test can hold
/// it against README's configuration table, the deployment files and FC's
/// reserved `FC_` prefix (`tests/env_vars.rs`). Add a variable here when you
/// read a new one.
pub const VARIABLES: &[Variable] = &[
    op("OSS_BUCKET"),
    op("OSS_REGION"),
    op("OSS_ROLE_ARN"),
    op("AUTH_MODE"),
    op("OSS_ENDPOINT"),
    op("STS_ENDPOINT"),
    op("UPLOAD_PREFIX"),
    op("TOKEN_TTL_SECONDS"),
    op("URL_TTL_SECONDS"),
    op("SIGNATURE_VERSION"),
    op("MAX_UPLOAD_BYTES"),
    op("ALLOWED_CONTENT_TYPES"),
    op("ALLOWED_ORIGINS"),
    op("RATE_LIMIT_PER_MINUTE"),
    op("JWT_SECRET"),
    op("JWT_PUBLIC_KEY"),
    op("JWT_JWKS"),
    op("JWT_JWKS_URL"),
    op("JWT_ISSUER"),
    op("JWT_AUDIENCE"),
    op("JWT_USER_CLAIM"),
    op("JWT_LEEWAY_SECONDS"),
    op("TRIGGER_USER_HEADER"),
    op("CREDENTIAL_CACHE_SIZE"),
    op("LEGACY_ROUTES"),
    op("STS_TIMEOUT_MS"),
    op("STS_MAX_CALLS_PER_SECOND"),
    op("ALI_OSS_SCRIPT_URL"),
    op("PROFILES_FILE"),
    op("WEBHOOK_URL"),
    op("WEBHOOK_SECRET"),
    op("QUARANTINE_PREFIX"),
    op("WEBHOOK_TIMEOUT_MS"),
    op("OSS_TIMEOUT_MS"),
    op("EVENT_TIMEOUT_MS"),
    op("STATE_REDIS_URL"),
    op("STATE_KEY"),
    op("STATE_TIMEOUT_MS"),
    fc("FC_CUSTOM_LISTEN_PORT"),
    fc("FC_FUNCTION_NAME"),
    fc("FC_REGION"),
    fc("FC_ACCOUNT_ID"),
    fc("ALIBABA_CLOUD_ACCESS_KEY_ID"),
    fc("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    fc("ALIBABA_CLOUD_SECURITY_TOKEN"),
];
