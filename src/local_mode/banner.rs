//! `local`'s banner: what runs where, the account key, the auth mode, a
//! sample token and the ready-to-paste upload commands.

use super::auth::{env, LocalAuth};
use super::options::Options;
use crate::config::Config;
use alibaba_sign::Credentials;
use oss_emulator::Emulator;

/// The sample user the banner's token is for.
pub const SAMPLE_USER: &str = "alice";

/// How long the banner's token lives.
const SAMPLE_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// A token for [`SAMPLE_USER`] when `jwt` mode verifies with an HS256
/// secret this process knows (`JWT_SECRET` or the development secret).
pub(super) fn sample_token(config: &Config) -> Result<Option<String>, String> {
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
pub(super) struct Banner<'a> {
    pub(super) opts: &'a Options,
    pub(super) emulator: &'a Emulator,
    pub(super) account: &'a Credentials,
    pub(super) function_url: &'a str,
    pub(super) config: &'a Config,
    pub(super) auth: &'a LocalAuth,
    pub(super) token: Option<&'a str>,
    pub(super) events: &'a str,
    pub(super) webhook: &'a str,
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

pub(super) fn print_banner(b: &Banner<'_>) {
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
