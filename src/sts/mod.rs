//! STS AssumeRole: client, credential cache, session policy (the signing is `alibaba_sign::acs`).
//!
//! Layout, so each piece can be tested on its own:
//! - [`policy`]: the session policies (uploads, the upload check) and `RoleSessionName`.
//! - [`client`]: the HTTP client that calls `AssumeRole` and reads its answer.
//! - [`error`]: why a call failed, mapped onto the function's status and code.
//! - [`cache`]: per-scope credential cache with single-flight refresh, and its refresh margin.
//! - [`guard`]: the instance's AssumeRole budget (`STS_MAX_CALLS_PER_SECOND`).

#![warn(missing_docs)]

pub mod cache;
pub mod client;
pub mod error;
pub mod guard;
pub mod policy;

pub use cache::{CacheConfig, CredentialCache};
pub use client::{AssumeRoleRequest, AssumedRole, StsClient, StsClientConfig, StsError};
pub use policy::{role_session_name, upload_session_policy, PolicyError};
