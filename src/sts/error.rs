//! Why an STS call failed, mapped onto what the function answers (status,
//! code, retry delay), with nothing secret in it.

use std::fmt;

/// Why an `AssumeRole` call failed, already mapped to what our API should answer.
///
/// No variant carries the caller's secret or security token; upstream
/// messages are truncated and transport errors are stripped of the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsError {
    /// STS refused the request (4xx such as `NoPermission`,
    /// `EntityNotExist.Role`, `InvalidParameter`, `SignatureDoesNotMatch`).
    Rejected {
        /// HTTP status STS answered with.
        status: u16,
        /// STS `Code`.
        upstream_code: String,
        /// STS `Message`, truncated.
        message: String,
        /// STS `RequestId`.
        request_id: Option<String>,
    },
    /// STS is throttling us (`Throttling*` code, or HTTP 429/503).
    Throttled {
        /// STS `Code`, when the body had one.
        upstream_code: Option<String>,
        /// How long the client should wait before retrying.
        retry_after_secs: u64,
        /// STS `RequestId`.
        request_id: Option<String>,
    },
    /// STS answered with a 5xx other than 503 (e.g. `InternalError`).
    Upstream {
        /// HTTP status STS answered with.
        status: u16,
        /// STS `Code`, when the body had one.
        upstream_code: Option<String>,
        /// STS `RequestId`.
        request_id: Option<String>,
    },
    /// No complete answer within the configured timeout.
    Timeout,
    /// Could not connect or the connection broke.
    Unavailable {
        /// Transport error, without URL.
        detail: String,
    },
    /// STS answered but the body was not the expected JSON.
    BadResponse {
        /// HTTP status of the unparseable answer.
        status: u16,
        /// What was wrong with it.
        detail: String,
    },
    /// STS answered with credentials that expire sooner than the function
    /// promises its callers (or are already expired). They are neither
    /// handed out nor used to sign. Usual causes: this machine's clock is
    /// off from STS's (clock skew), or the role's session settings cut the
    /// lifetime below `TOKEN_TTL_SECONDS`.
    ShortLived {
        /// Seconds left by our clock when they arrived (≤ 0: already expired).
        remaining_secs: i64,
        /// Seconds the function requires.
        required_secs: u64,
        /// `Expiration` as STS sent it.
        expiration: String,
    },
    /// Not sent: this instance already made its `STS_MAX_CALLS_PER_SECOND`
    /// AssumeRole calls in the last second (see [`super::guard`]). Answered
    /// like STS's own throttling (503 `StsThrottled` with `Retry-After`).
    OverBudget {
        /// The instance's budget, calls per second.
        max_per_second: u32,
        /// Seconds until a call is free again (at least 1).
        retry_after_secs: u64,
    },
    /// The client itself is misconfigured (bad endpoint URL, TLS setup).
    Config {
        /// What is wrong.
        detail: String,
    },
}

impl StsError {
    /// HTTP status our API should answer with: the caller did nothing wrong
    /// in any of these cases, so they are 5xx (502 bad gateway, 503 retry
    /// later, 504 timeout, 500 our own misconfiguration).
    pub fn http_status(&self) -> u16 {
        match self {
            StsError::Rejected { .. } => 502,
            StsError::Throttled { .. } | StsError::OverBudget { .. } => 503,
            StsError::Upstream { .. } => 502,
            StsError::Timeout => 504,
            StsError::Unavailable { .. } => 502,
            StsError::BadResponse { .. } => 502,
            StsError::ShortLived { .. } => 502,
            StsError::Config { .. } => 500,
        }
    }

    /// Our stable error code for API responses and metrics.
    pub fn code(&self) -> &str {
        match self {
            StsError::Rejected { .. } => "StsRejected",
            StsError::Throttled { .. } | StsError::OverBudget { .. } => "StsThrottled",
            StsError::Upstream { .. } => "StsUpstreamError",
            StsError::Timeout => "StsTimeout",
            StsError::Unavailable { .. } => "StsUnavailable",
            StsError::BadResponse { .. } => "StsBadResponse",
            StsError::ShortLived { .. } => "StsCredentialsTooShortLived",
            StsError::Config { .. } => "StsMisconfigured",
        }
    }

    /// STS's own error `Code`, for logs (an operator needs to know it was
    /// `NoPermission` vs `EntityNotExist.Role`).
    pub fn upstream_code(&self) -> Option<&str> {
        match self {
            StsError::Rejected { upstream_code, .. } => Some(upstream_code),
            StsError::Throttled { upstream_code, .. }
            | StsError::Upstream { upstream_code, .. } => upstream_code.as_deref(),
            _ => None,
        }
    }

    /// Seconds to put in `Retry-After` when throttled.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            StsError::Throttled {
                retry_after_secs, ..
            }
            | StsError::OverBudget {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// STS `RequestId` when the failure came from an STS answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            StsError::Rejected { request_id, .. }
            | StsError::Throttled { request_id, .. }
            | StsError::Upstream { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for StsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StsError::Rejected {
                status,
                upstream_code,
                message,
                ..
            } => write!(
                f,
                "STS rejected AssumeRole ({status} {upstream_code}): {message}"
            ),
            StsError::Throttled {
                retry_after_secs, ..
            } => write!(f, "STS is throttling; retry after {retry_after_secs}s"),
            StsError::Upstream {
                status,
                upstream_code,
                ..
            } => write!(
                f,
                "STS server error {status} {}",
                upstream_code.as_deref().unwrap_or("")
            ),
            StsError::Timeout => f.write_str("STS did not answer in time"),
            StsError::Unavailable { detail } => write!(f, "STS unreachable: {detail}"),
            StsError::BadResponse { status, detail } => {
                write!(f, "unexpected STS response (HTTP {status}): {detail}")
            }
            StsError::ShortLived {
                remaining_secs,
                required_secs,
                expiration,
            } if *remaining_secs <= 0 => write!(
                f,
                "STS returned credentials that are already expired by this machine's clock \
                 (Expiration {expiration}, {}s ago; at least {required_secs}s are required). \
                 Likely cause: clock skew, this machine's clock is ahead of STS's; \
                 otherwise the role's session duration",
                -remaining_secs
            ),
            StsError::ShortLived {
                remaining_secs,
                required_secs,
                expiration,
            } => write!(
                f,
                "STS returned credentials that expire in {remaining_secs}s (Expiration \
                 {expiration}), less than the {required_secs}s every client is promised. \
                 Likely causes: clock skew (this machine's clock is ahead of STS's), or the \
                 role's maximum session duration is shorter than TOKEN_TTL_SECONDS"
            ),
            StsError::OverBudget {
                max_per_second,
                retry_after_secs,
            } => write!(
                f,
                "this instance already sent {max_per_second} AssumeRole calls in the last second \
                 (STS_MAX_CALLS_PER_SECOND, which keeps it well inside the account's STS quota); \
                 retry after {retry_after_secs}s"
            ),
            StsError::Config { detail } => write!(f, "STS client misconfigured: {detail}"),
        }
    }
}

impl std::error::Error for StsError {}
