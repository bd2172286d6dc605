//! `oss-direct-upload local`: the function and the emulator together on
//! loopback, so anyone can try the product without an account.
//!
//! The function runs exactly as on FC, with three differences that local
//! mode supplies: its identity is the emulator's account key (FC would pass a
//! role's temporary key), its STS and OSS endpoints are the emulator, and
//! `AUTH_MODE` defaults to `anonymous` (still overridable from the
//! environment), or to `jwt` when a JWT key is set or the `--profiles` file
//! has a profile that needs a user. In `jwt` mode without a key, `local`
//! makes a development `JWT_SECRET` ([`super::token`]) and prints a token.

use crate::config::Config;
use crate::runtime;
use crate::wiring::{wire, Wired};
use alibaba_sign::Credentials;
use oss_emulator::{Emulator, EmulatorConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const HELP: &str = "\
oss-direct-upload local: the function plus an embedded OSS + STS emulator, on loopback

USAGE:
    oss-direct-upload local [OPTIONS]

OPTIONS:
    --port N                  the function's port (default 9000)
    --emulator-port N         the emulator's port (default: --port + 100)
    --data DIR                where objects are kept; survives restarts (default ./local-data)
    --memory                  keep objects in memory only
    --bucket NAME             the emulated bucket (default local-bucket); repeat it to host
                              more buckets: the first is the one the function hands out
    --access-key-id ID        the emulator account's AccessKey id (default: generated, kept in DIR)
    --access-key-secret S     the emulator account's AccessKey secret
    --allowed-origin ORIGIN   another browser origin allowed to upload (repeatable)
    --cors-hide-etag          the bucket's CORS rule does not expose ETag (a common misconfiguration:
                              browsers cannot complete multipart uploads), to see how clients report it
    --profiles FILE           upload profiles (sets PROFILES_FILE); a file with a profile that
                              needs a user (overwrite = \"replace\") turns on AUTH_MODE=jwt
                              with a development token
    --webhook URL             deliver each upload's verdict to URL, signed with WEBHOOK_SECRET
                              (default: print each webhook it would send)
    --no-trigger              do not emulate FC's OSS trigger: uploads are not checked or reported
    -h, --help                this help

Any other setting (SIGNATURE_VERSION, MAX_UPLOAD_BYTES, ALLOWED_CONTENT_TYPES,
AUTH_MODE, JWT_*, ...) is read from the environment as in production. With
AUTH_MODE=jwt and no JWT key set, local makes a development JWT_SECRET (kept in
DIR) and prints a ready token; `oss-direct-upload token --sub USER` prints more.";

/// Parsed `local` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The function's port.
    pub port: u16,
    /// The emulator's port.
    pub emulator_port: u16,
    /// Where objects live; `None` keeps them in memory.
    pub data_dir: Option<PathBuf>,
    /// The bucket the function hands out permission for.
    pub bucket: String,
    /// Further buckets the emulator hosts (for operators and tests).
    pub extra_buckets: Vec<String>,
    /// The account key id, if given.
    pub access_key_id: Option<String>,
    /// The account key secret, if given.
    pub access_key_secret: Option<String>,
    /// Extra browser origins.
    pub allowed_origins: Vec<String>,
    /// `--webhook`: where verdicts go (overrides `WEBHOOK_URL`).
    pub webhook_url: Option<String>,
    /// `false` with `--no-trigger`: uploads raise no events.
    pub trigger: bool,
    /// `false` with `--cors-hide-etag`: the emulator does not expose `ETag`.
    pub cors_expose_etag: bool,
    /// `--profiles`: the upload-profile file (overrides `PROFILES_FILE`).
    pub profiles: Option<PathBuf>,
}

/// Parses the arguments after `local`. `Ok(None)` means help was printed.
pub fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut port: u16 = 9000;
    let mut emulator_port: Option<u16> = None;
    let mut data_dir = Some(PathBuf::from("local-data"));
    let mut buckets: Vec<String> = Vec::new();
    let mut access_key_id = None;
    let mut access_key_secret = None;
    let mut allowed_origins = Vec::new();
    let mut webhook_url = None;
    let mut trigger = true;
    let mut cors_expose_etag = true;
    let mut profiles = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        let port_value = |v: String| -> Result<u16, String> {
            v.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{name} {v:?} is not a port number (1-65535)"))
        };
        match name {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "--port" => port = port_value(value("a port")?)?,
            "--emulator-port" => emulator_port = Some(port_value(value("a port")?)?),
            "--data" => data_dir = Some(PathBuf::from(value("a directory")?)),
            "--memory" => data_dir = None,
            "--bucket" => {
                let b = value("a bucket name")?;
                if !crate::oss::valid_bucket_name(&b) {
                    return Err(format!(
                        "--bucket {b:?} is not a valid bucket name (3-63 of a-z, 0-9, '-')"
                    ));
                }
                if !buckets.contains(&b) {
                    buckets.push(b);
                }
            }
            "--access-key-id" => access_key_id = Some(value("an id")?),
            "--access-key-secret" => access_key_secret = Some(value("a secret")?),
            "--allowed-origin" => allowed_origins.push(value("an origin")?),
            "--webhook" => webhook_url = Some(value("a URL")?),
            "--no-trigger" => trigger = false,
            "--cors-hide-etag" => cors_expose_etag = false,
            "--profiles" => profiles = Some(PathBuf::from(value("a file")?)),
            other => return Err(format!("unknown option {other:?}; see --help")),
        }
    }
    if access_key_id.is_some() != access_key_secret.is_some() {
        return Err("give both --access-key-id and --access-key-secret, or neither".into());
    }
    let emulator_port = emulator_port.unwrap_or_else(|| port.wrapping_add(100).max(1));
    if emulator_port == port {
        return Err("--emulator-port must differ from --port".into());
    }
    let mut buckets = buckets.into_iter();
    let bucket = buckets.next().unwrap_or_else(|| "local-bucket".to_owned());
    Ok(Some(Options {
        port,
        emulator_port,
        data_dir,
        bucket,
        extra_buckets: buckets.collect(),
        access_key_id,
        access_key_secret,
        allowed_origins,
        webhook_url,
        trigger,
        cors_expose_etag,
        profiles,
    }))
}

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

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// How `local` authenticates callers when the environment leaves it open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAuth {
    /// `AUTH_MODE` unless the environment sets it.
    pub default_mode: &'static str,
    /// Why that default (for the banner).
    pub why: &'static str,
    /// The development `JWT_SECRET`, when `jwt` runs with no key set.
    pub dev_secret: Option<String>,
}

const JWT_KEYS: [&str; 4] = ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS", "JWT_JWKS_URL"];

/// Whether a profile file has a profile only an authenticated caller can
/// use (`overwrite = "replace"`: one key per user). Unreadable files say
/// no; loading them later reports the problem.
pub fn profiles_need_users(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(doc) = toml::from_str::<toml::Table>(&text) else {
        return false;
    };
    doc.get("profile")
        .and_then(|p| p.as_array())
        .is_some_and(|list| {
            list.iter()
                .any(|p| p.get("overwrite").and_then(|o| o.as_str()) == Some("replace"))
        })
}

/// Decides [`LocalAuth`] from the environment (through `get`), the profile file and
/// where the development secret may be kept.
pub fn local_auth(
    get: &dyn Fn(&str) -> Option<String>,
    profiles: Option<&std::path::Path>,
    data_dir: Option<&std::path::Path>,
) -> Result<LocalAuth, String> {
    let key_set = JWT_KEYS.iter().any(|k| get(k).is_some());
    let needs_users = profiles.is_some_and(profiles_need_users);
    let (default_mode, why) = if key_set {
        ("jwt", "a JWT key is set")
    } else if needs_users {
        ("jwt", "the profile file has a profile that needs a user")
    } else {
        ("anonymous", "local mode's default")
    };
    let mode = get("AUTH_MODE").unwrap_or_else(|| default_mode.to_owned());
    let dev_secret = if mode.trim().eq_ignore_ascii_case("jwt") && !key_set {
        Some(super::token::dev_secret(data_dir)?)
    } else {
        None
    };
    Ok(LocalAuth {
        default_mode,
        why,
        dev_secret,
    })
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

/// The sample user the banner's token is for.
pub const SAMPLE_USER: &str = "alice";

/// How long the banner's token lives.
const SAMPLE_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// A token for [`SAMPLE_USER`] when `jwt` mode verifies with an HS256
/// secret this process knows (`JWT_SECRET` or the development secret).
fn sample_token(config: &Config) -> Result<Option<String>, String> {
    let crate::config::AuthMode::Jwt(j) = &config.auth else {
        return Ok(None);
    };
    let Some(secret) = &j.secret else {
        return Ok(None);
    };
    super::token::mint(
        secret,
        &super::token::Claims {
            user: SAMPLE_USER,
            user_claim: &j.user_claim,
            issuer: j.issuer.as_deref(),
            audience: j.audience.as_deref(),
            ttl: SAMPLE_TOKEN_TTL,
        },
    )
    .map(Some)
}

/// Everything the banner shows.
struct Banner<'a> {
    opts: &'a Options,
    emulator: &'a Emulator,
    account: &'a Credentials,
    function_url: &'a str,
    config: &'a Config,
    auth: &'a LocalAuth,
    token: Option<&'a str>,
    events: &'a str,
    webhook: &'a str,
}

/// The ready-to-paste shell commands: three uploads of `README.md` on the
/// `/v1` routes, declared `text/plain` (a type the default profile allows and
/// the check verifies), and the operator's listing. `jwt` mode sends
/// `$TOKEN` (the first command sets it when a token is known).
pub fn sample_commands(
    function_url: &str,
    oss_endpoint: &str,
    bucket: &str,
    account: &Credentials,
    jwt: bool,
    token: Option<&str>,
) -> Vec<(&'static str, String)> {
    let f = function_url;
    let (curl_auth, py_auth) = if jwt {
        (
            r#" -H "Authorization: Bearer $TOKEN""#,
            r#",headers={"Authorization":"Bearer "+os.environ["TOKEN"]}"#,
        )
    } else {
        ("", "")
    };
    let mut out = Vec::new();
    if let Some(t) = token {
        out.push((
            "the sample user's token (every command below sends it)",
            format!("export TOKEN={t}"),
        ));
    }
    out.push((
        "1. presigned PUT URL (/v1/presign; size is signed too)",
        format!(
            r#"curl -sf{curl_auth} "{f}/v1/presign?filename=hello-presigned.txt&contentType=text/plain&size=$(wc -c < README.md)" | python3 -c 'import json,subprocess,sys; p=json.load(sys.stdin); h=[x for k,v in p["headers"].items() for x in ("-H",k+": "+v)]; subprocess.run(["curl","-sf","-X","PUT",*h,"--data-binary","@README.md",p["url"]],check=True); print("uploaded via presigned URL:",p["key"])'"#
        ),
    ));
    out.push((
        "2. POST form with a signed policy (/v1/post-policy)",
        format!(
            r#"curl -sf{curl_auth} -X POST {f}/v1/post-policy -d '{{"filename":"hello-form.txt","contentType":"text/plain"}}' | python3 -c 'import json,subprocess,sys; p=json.load(sys.stdin); a=[x for k,v in p["fields"].items() for x in ("--form-string",k+"="+v)]; subprocess.run(["curl","-sf",*a,"-F","file=@README.md",p["url"]],check=True); print("uploaded via POST policy:",p["key"])'"#
        ),
    ));
    out.push((
        "3. STS credentials with the official oss2 SDK (/v1/sts; pip install oss2)",
        format!(
            r#"python3 -c 'import json,os,urllib.request as u,oss2; c=json.load(u.urlopen(u.Request("{f}/v1/sts"{py_auth}))); b=oss2.Bucket(oss2.StsAuth(c["AccessKeyId"],c["AccessKeySecret"],c["SecurityToken"]),c["Endpoint"],c["Bucket"]); k=c["Prefix"]+"sts/hello-sts.txt"; b.put_object_from_file(k,"README.md",headers={{"Content-Type":"text/plain"}}); print("uploaded via STS:",k)'"#
        ),
    ));
    out.push((
        "see what landed, as an operator, with the account key",
        format!(
            r#"python3 -c 'import oss2; b=oss2.Bucket(oss2.Auth("{ak}","{sk}"),"{oss_endpoint}","{bucket}"); [print(o.key, o.size) for o in oss2.ObjectIterator(b)]'"#,
            ak = account.access_key_id,
            sk = account.access_key_secret,
        ),
    ));
    out
}

fn print_banner(b: &Banner<'_>) {
    let opts = b.opts;
    let data = match &opts.data_dir {
        Some(d) => d.display().to_string(),
        None => "(memory)".into(),
    };
    let bucket = &opts.bucket;
    let f = b.function_url;
    let jwt = matches!(b.config.auth, crate::config::AuthMode::Jwt(_));
    let mut out = format!(
        "\
oss-direct-upload local mode: the function and an OSS + STS emulator, on loopback only.

  function   {f}            (upload page: {f}/)
  emulator   {emu}            (OSS path-style /<bucket>/<key>, STS at /)
  bucket     {bucket}   region {region}   data {data}
  account    AccessKeyId {ak}
             AccessKeySecret {sk}
             (the function's own identity here; any OSS SDK can list and read the bucket with it)
  events     {events}   (FC's side: the emulator delivers each upload's OSS event here)
  webhook    {webhook}
",
        emu = b.emulator.url(),
        region = b.config.region,
        ak = b.account.access_key_id,
        sk = b.account.access_key_secret,
        events = b.events,
        webhook = b.webhook,
    );
    let mode = b.config.auth.name();
    let auth_line = if env("AUTH_MODE").is_some() {
        format!("{mode} (AUTH_MODE)")
    } else {
        format!("{mode} ({})", b.auth.why)
    };
    out.push_str(&format!("  auth       {auth_line}\n"));
    if jwt {
        if b.auth.dev_secret.is_some() {
            let kept = match &opts.data_dir {
                Some(d) => format!(
                    "kept in {}",
                    d.join(super::token::DEV_SECRET_FILE).display()
                ),
                None => "in memory only (--memory)".to_owned(),
            };
            out.push_str(&format!(
                "             JWT_SECRET is a development secret local mode generated ({kept}); never deploy it\n"
            ));
        }
        match b.token {
            Some(_) => {
                let data_arg = match &opts.data_dir {
                    Some(d) if d.as_path() != std::path::Path::new("local-data") => {
                        format!(" --data {}", d.display())
                    }
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "  token      for user \"{SAMPLE_USER}\", valid 12 h: the first command below exports it as TOKEN\n             another user: oss-direct-upload token --sub bob{data_arg}   (from a checkout: cargo run --release --features local -- token --sub bob{data_arg})\n"
                ));
            }
            None => out.push_str(
                "  token      tokens come from your identity provider (JWT_JWKS_URL / JWT_PUBLIC_KEY / JWT_JWKS): export TOKEN=<a token> before the commands below\n",
            ),
        }
    }
    out.push_str(
        "\nUpload README.md three ways (paste into a shell in the folder that holds it):\n",
    );
    for (what, cmd) in sample_commands(
        f,
        &b.emulator.oss_endpoint(),
        bucket,
        b.account,
        jwt,
        b.token,
    ) {
        out.push_str(&format!("\n  # {what}\n  {cmd}\n"));
    }
    out.push_str(
        "\nEach upload's verdict is printed here a moment later, in words (`verified uploads/...` or\n`rejected uploads/...: why`), after its JSON log line and the webhook it would send.\nCtrl-C stops both.\n",
    );
    print!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_and_options() {
        let o = parse_args(&[]).unwrap().unwrap();
        assert_eq!((o.port, o.emulator_port), (9000, 9100));
        assert_eq!(o.data_dir, Some(PathBuf::from("local-data")));
        let o = parse_args(&args(&[
            "--port",
            "8000",
            "--memory",
            "--bucket=my-b",
            "--allowed-origin",
            "http://x:1",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((o.port, o.emulator_port), (8000, 8100));
        assert_eq!(o.data_dir, None);
        assert_eq!(o.bucket, "my-b");
        assert!(o.extra_buckets.is_empty());
        let two = parse_args(&args(&["--bucket", "first-b", "--bucket", "second-b"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (two.bucket.as_str(), two.extra_buckets.clone()),
            ("first-b", vec!["second-b".to_owned()])
        );
        assert_eq!(o.allowed_origins, vec!["http://x:1".to_owned()]);
        assert!(o.cors_expose_etag);
        let hidden = parse_args(&args(&["--cors-hide-etag"])).unwrap().unwrap();
        assert!(!hidden.cors_expose_etag);
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        for bad in [
            vec!["--port", "0"],
            vec!["--port"],
            vec!["--bucket", "Bad_Bucket"],
            vec!["--access-key-id", "a"],
            vec!["--frobnicate"],
            vec!["--port", "9000", "--emulator-port", "9000"],
        ] {
            assert!(parse_args(&args(&bad)).is_err(), "{bad:?}");
        }
    }
}
