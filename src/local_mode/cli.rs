//! `oss-direct-upload local`'s run: the function and the emulator wired
//! together on loopback, so anyone can try the product without an account.
//!
//! The function runs exactly as on FC, with three differences that local
//! mode supplies: its identity is the emulator's account key (FC would pass a
//! role's temporary key), its STS and OSS endpoints are the emulator, and
//! `AUTH_MODE` defaults to `anonymous` (still overridable from the
//! environment), or to `jwt` when a JWT key is set or the `--profiles` file
//! has a profile that needs a user. In `jwt` mode without a key, `local`
//! makes a development `JWT_SECRET` ([`super::token`]) and prints a token.
//!
//! The flags are `options.rs`, the default auth mode `auth.rs`, the banner
//! `banner.rs`; their public items are re-exported here.

pub use super::auth::{local_auth, profiles_need_users, LocalAuth};
pub use super::banner::{sample_commands, SAMPLE_USER};
pub use super::options::{parse_args, Options};

use super::auth::env;
use super::banner::{print_banner, sample_token, Banner};
use crate::config::Config;
use crate::runtime;
use crate::wiring::{wire, Wired};
use alibaba_sign::Credentials;
use oss_emulator::{Emulator, EmulatorConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn random_string(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// The account key: given, else remembered in the data folder, else new.
fn account_key(opts: &Options) -> Result<Credentials, String> {
    if let (Some(id), Some(secret)) = (&opts.access_key_id, &opts.access_key_secret) {
        return Ok(Credentials::new(id.clone(), secret.clone(), None));
    }
    let path = opts.data_dir.as_ref().map(|d| d.join("account.json"));
    if let Some(p) = &path {
        if let Ok(text) = std::fs::read_to_string(p) {
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{} is not valid JSON ({e}); delete it to get a new key",
                    p.display()
                )
            })?;
            if let (Some(id), Some(secret)) =
                (v["accessKeyId"].as_str(), v["accessKeySecret"].as_str())
            {
                return Ok(Credentials::new(id, secret, None));
            }
        }
    }
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let creds = Credentials::new(
        format!("LTAIlocal{}", random_string(15, ALNUM)),
        random_string(30, ALNUM),
        None,
    );
    if let Some(p) = &path {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let doc = serde_json::json!({
            "accessKeyId": creds.access_key_id,
            "accessKeySecret": creds.access_key_secret,
        });
        std::fs::write(p, doc.to_string())
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(creds)
}

/// The function's configuration in local mode: the emulator's endpoints and
/// role, then the environment, then local defaults.
fn local_config(
    opts: &Options,
    emulator: &Emulator,
    origins: &[String],
    auth: &LocalAuth,
) -> Result<Config, String> {
    let mut forced: Vec<(&str, String)> = vec![
        ("OSS_BUCKET", opts.bucket.clone()),
        ("OSS_ROLE_ARN", emulator.role_arn()),
        ("OSS_ENDPOINT", emulator.oss_endpoint()),
        ("STS_ENDPOINT", emulator.sts_endpoint()),
    ];
    if let Some(p) = &opts.profiles {
        forced.push(("PROFILES_FILE", p.display().to_string()));
    }
    let mut defaults: Vec<(&str, String)> = vec![
        ("OSS_REGION", "cn-hangzhou".into()),
        ("AUTH_MODE", auth.default_mode.into()),
        ("ALLOWED_ORIGINS", origins.join(",")),
        ("RATE_LIMIT_PER_MINUTE", "600".into()),
        // Local mode is for trying things, Alibaba's sample clients included.
        ("LEGACY_ROUTES", "true".into()),
        // The page's STS tab loads ali-oss from this binary: nothing from outside.
        ("ALI_OSS_SCRIPT_URL", crate::api::page::ALI_OSS_PATH.into()),
    ];
    if let Some(secret) = &auth.dev_secret {
        defaults.push(("JWT_SECRET", secret.clone()));
    }
    let get = move |name: &str| -> Option<String> {
        forced
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
            .or_else(|| {
                defaults
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            })
    };
    Config::from_vars(&get).map_err(|e| e.to_string())
}

/// Runs `local` mode until Ctrl-C or SIGTERM.
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(Some(o)) => o,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oss-direct-upload local: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oss-direct-upload local: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            // As serve mode: a configuration the function refuses is status 2.
            eprintln!("oss-direct-upload local: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("oss-direct-upload local: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why `local` stopped: a configuration it refuses (exit status 2, like
/// serve mode) or anything else (ports taken, I/O; status 1).
enum Failure {
    Config(String),
    Other(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Other(e)
    }
}

async fn run(opts: Options) -> Result<(), Failure> {
    let account = account_key(&opts)?;
    let function_origins = vec![
        format!("http://127.0.0.1:{}", opts.port),
        format!("http://localhost:{}", opts.port),
    ];
    let mut browser_origins = function_origins.clone();
    browser_origins.extend(opts.allowed_origins.iter().cloned());

    let max_object_bytes = std::env::var("MAX_UPLOAD_BYTES")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(5 * 1024 * 1024 * 1024);
    // FC's side of the runtime: events reach the function here, never
    // through the public port (whose front door drops client x-fc-* headers).
    let internal = runtime::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .map_err(|e| format!("cannot open the function's event listener: {e}"))?;
    let internal_addr = internal
        .local_addr()
        .map_err(|e| format!("cannot open the function's event listener: {e}"))?;
    let (hook_tx, mut hook_rx) = tokio::sync::mpsc::unbounded_channel();
    let trigger = opts.trigger;
    let hook: oss_emulator::UploadHook = Arc::new(move |e| {
        if trigger {
            let _ = hook_tx.send(e);
        }
    });
    let emulator = Emulator::start_with(
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], opts.emulator_port)),
            data_dir: opts.data_dir.clone(),
            buckets: std::iter::once(opts.bucket.clone())
                .chain(opts.extra_buckets.iter().cloned())
                .collect(),
            account: account.clone(),
            account_id: "1234567890123456".into(),
            allowed_origins: browser_origins.clone(),
            max_object_bytes: max_object_bytes.max(5 * 1024 * 1024 * 1024),
        },
        oss_emulator::ServeOptions {
            upload_hook: Some(hook),
            cors_expose_etag: opts.cors_expose_etag,
            ..oss_emulator::ServeOptions::default()
        },
    )
    .await
    .map_err(|e| {
        format!(
            "cannot start the emulator on 127.0.0.1:{}: {e}",
            opts.emulator_port
        )
    })?;

    let profiles_path = opts
        .profiles
        .clone()
        .or_else(|| env("PROFILES_FILE").map(PathBuf::from));
    let auth = match local_auth(&env, profiles_path.as_deref(), opts.data_dir.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            emulator.shutdown().await;
            return Err(Failure::Other(e));
        }
    };
    let config = match local_config(&opts, &emulator, &browser_origins, &auth) {
        Ok(c) => c,
        Err(e) => {
            emulator.shutdown().await;
            return Err(Failure::Config(e));
        }
    };
    // The check's settings, with `--webhook` standing in for WEBHOOK_URL.
    let settings = {
        let url = opts.webhook_url.clone();
        crate::config::CheckSettings::from_vars(
            &move |n| match n {
                "WEBHOOK_URL" if url.is_some() => url.clone(),
                _ => std::env::var(n).ok(),
            },
            &config,
        )
    };
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            emulator.shutdown().await;
            return Err(Failure::Config(e.to_string()));
        }
    };
    let webhook_line = match (&settings.webhook_url, opts.trigger) {
        (_, false) => "(off: --no-trigger, uploads are not checked)".to_owned(),
        (Some(u), _) => u.clone(),
        (None, _) => "(none: each webhook is printed here; --webhook URL delivers them)".to_owned(),
    };
    let environment = runtime::Environment {
        credentials: Some(account.clone()),
        region: Some(config.region.clone()),
        function_name: Some("oss-direct-upload-local".into()),
        account_id: Some("1234567890123456".into()),
    };
    let Wired { app, options, .. } =
        match wire(config, settings, crate::check::Notify::Print, environment) {
            Ok(w) => w,
            Err(e) => {
                emulator.shutdown().await;
                return Err(Failure::Config(e));
            }
        };
    for warning in app.config().warnings() {
        crate::log::warn(None, warning, &[]);
    }
    let config = app.config().clone();
    let delivery = super::trigger::start(super::trigger::Delivery {
        target: internal_addr,
        prefixes: app.profiles().iter().map(|p| p.prefix.clone()).collect(),
        credentials: account.clone(),
        region: config.region.clone(),
        account_id: "1234567890123456".into(),
        retries: 3,
        first_backoff: std::time::Duration::from_secs(1),
    });
    tokio::spawn(async move {
        while let Some(e) = hook_rx.recv().await {
            if delivery.send(e).is_err() {
                break;
            }
        }
    });
    let listener = runtime::bind(SocketAddr::from(([127, 0, 0, 1], opts.port))).map_err(|e| {
        format!(
            "cannot listen on 127.0.0.1:{}: {e}; pick another with --port",
            opts.port
        )
    })?;
    let function_url = format!("http://127.0.0.1:{}", opts.port);
    let token = match sample_token(app.config()) {
        Ok(t) => t,
        Err(e) => {
            emulator.shutdown().await;
            return Err(Failure::Other(e));
        }
    };
    print_banner(&Banner {
        opts: &opts,
        emulator: &emulator,
        account: &account,
        function_url: &function_url,
        config: app.config(),
        auth: &auth,
        token: token.as_deref(),
        events: &format!("http://{internal_addr}/invoke"),
        webhook: &webhook_line,
    });

    let front_door = runtime::Options {
        // No FC gateway in front: x-fc-* headers can only be the client's.
        drop_fc_headers: true,
        ..options.clone()
    };
    let shutdown = runtime::Shutdown::new();
    runtime::spawn_signal_listener(shutdown.clone());
    let (served, _) = tokio::join!(
        runtime::serve(
            listener,
            crate::api::handler(app.clone()),
            front_door,
            shutdown.clone()
        ),
        runtime::serve(internal, crate::api::handler(app), options, shutdown),
    );
    emulator.shutdown().await;
    eprintln!("oss-direct-upload local: stopped");
    served.map_err(|e| Failure::Other(e.to_string()))
}
