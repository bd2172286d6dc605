//! `local`'s command line: its flags, `--help`, and [`Options`].

use std::path::PathBuf;

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
