//! The composition root: [`wire`] builds, from the validated configuration,
//! everything the function serves with: the API ([`App`]), the upload check
//! ([`UploadCheck`]), the one STS client and the one OSS client (one
//! connection pool each) that both share, and the runtime [`Options`] that
//! route requests to the API and `/invoke` to the check.
//!
//! `main.rs` (`serve`, what FC runs) and `local_mode/cli.rs` (`local`) both
//! call it, so the deployed function and the local one are wired the same way.

use crate::api::{self, App};
use crate::check::{self, Notify, UploadCheck};
use crate::config::{CheckSettings, Config};
use crate::oss::client::{OssClient, OssClientConfig};
use crate::oss::endpoint::Endpoint;
use crate::runtime::{Environment, Options};
use crate::sts::client::{StsClient, StsClientConfig};
use std::sync::Arc;
use std::time::Duration;

/// What [`wire`] builds.
pub struct Wired {
    /// The API, for [`crate::api::handler`].
    pub app: Arc<App>,
    /// The upload check, already installed in `options.events`.
    pub check: Arc<UploadCheck>,
    /// Runtime options: `environment`, the API's body limits, the check as
    /// the event handler; everything else the runtime's defaults.
    pub options: Options,
}

/// Builds the function from `config` and the check's `settings`. Verdicts
/// go to `WEBHOOK_URL` when it is set, else to `otherwise` (nowhere when
/// deployed, printed in local mode). Fails with a message that names the
/// variable or file to fix.
pub fn wire(
    config: Config,
    settings: CheckSettings,
    otherwise: Notify,
    environment: Environment,
) -> Result<Wired, String> {
    let sts = Arc::new(sts_client(&config)?);
    let endpoint =
        Endpoint::parse(&config.oss_endpoint).map_err(|e| format!("OSS_ENDPOINT: {e}"))?;
    let oss = Arc::new(
        OssClient::new(endpoint, &config.region, OssClientConfig::default())
            .map_err(|e| format!("OSS_ENDPOINT: {e}"))?,
    );
    let app = Arc::new(App::new(config, sts.clone(), oss.clone())?);
    let notify = UploadCheck::notify_from(&settings, otherwise)?;
    let check = Arc::new(UploadCheck::new(
        app.config().clone(),
        app.profiles().clone(),
        settings,
        notify,
        sts,
        &oss,
    )?);
    let options = Options {
        environment,
        body_limit_for: api::routes::body_limit_for,
        events: Some(check::handler(check.clone())),
        ..Options::default()
    };
    Ok(Wired {
        app,
        check,
        options,
    })
}

/// The one STS client: `STS_ENDPOINT`, each call bounded by `STS_TIMEOUT_MS`
/// (connecting within at most 3 s of it), at most `STS_MAX_CALLS_PER_SECOND`
/// calls in any second (the API's and the upload check's together).
fn sts_client(config: &Config) -> Result<StsClient, String> {
    let mut sts_cfg = StsClientConfig::new(config.sts_endpoint.clone());
    sts_cfg.request_timeout = Duration::from_millis(config.sts_timeout_ms);
    sts_cfg.connect_timeout = Duration::from_millis(config.sts_timeout_ms.min(3000));
    sts_cfg.max_calls_per_second = Some(config.sts_max_calls_per_second);
    StsClient::new(sts_cfg).map_err(|e| format!("STS_ENDPOINT: {e}"))
}
