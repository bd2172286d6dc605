//! The `oss-direct-upload` binary: FC custom-runtime server by default,
//! `local` for the function plus an embedded OSS + STS emulator.

use oss_direct_upload::check::Notify;
use oss_direct_upload::config::CheckSettings;
use oss_direct_upload::wiring::{wire, Wired};
use oss_direct_upload::{api::App, config::Config, log, runtime};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "\
oss-direct-upload: short-lived, least-privilege upload permission for Alibaba Cloud OSS

USAGE:
    oss-direct-upload            serve on 0.0.0.0:${FC_CUSTOM_LISTEN_PORT:-9000} (what FC runs)
    oss-direct-upload check      validate the environment and the upload profiles without serving;
                                 print the effective configuration, secrets masked (exit 0 or 2)
    oss-direct-upload local      run the function and an embedded OSS + STS emulator on loopback
                                 (local builds: `cargo build --features local`; see `local --help`)
    oss-direct-upload token      print a development JWT for AUTH_MODE=jwt (local builds only;
                                 see `token --help`)
    oss-direct-upload openapi    print the OpenAPI document generated from the route table
                                 (local builds; docs/openapi.json is its output)
    oss-direct-upload deploy-facts
                                 print, as JSON, what a deployment file must agree with:
                                 each route's methods and deadline, the upload check's
                                 deadline, every profile prefix (tests/deploy reads it)
    oss-direct-upload doctor <function-url> [--token JWT] [--origin URL] [--json]
                                 check a deployment end to end: uploads through every
                                 method, verdicts, CORS, DELETE, multipart abort
                                 (see `oss-direct-upload doctor --help`)
    oss-direct-upload --version

Configuration comes from environment variables; see README.md.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(),
        Some("check") => oss_direct_upload::preflight::main(&args[1..]),
        #[cfg(feature = "local")]
        Some("local") => oss_direct_upload::local_mode::cli::main(&args[1..]),
        #[cfg(feature = "local")]
        Some("token") => oss_direct_upload::local_mode::token::main(&args[1..]),
        #[cfg(feature = "local")]
        Some("openapi") => openapi(),
        // For tests/deploy: the routes' methods and deadlines and the profile
        // prefixes a deployment file must agree with, as JSON (src/deploy_facts.rs).
        Some("deploy-facts") => match oss_direct_upload::deploy_facts::print_from_env() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("oss-direct-upload: {e}");
                ExitCode::from(2)
            }
        },
        Some("doctor") => oss_direct_upload::doctor::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("oss-direct-upload {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("oss-direct-upload: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Prints the generated OpenAPI document (what docs/openapi.json holds).
#[cfg(feature = "local")]
fn openapi() -> ExitCode {
    match serde_json::to_string_pretty(&oss_direct_upload::api::openapi::document()) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oss-direct-upload openapi: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oss-direct-upload: {e}");
            return ExitCode::from(2);
        }
    };
    let settings = match CheckSettings::from_env(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oss-direct-upload: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oss-direct-upload: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let environment = runtime::Environment::from_process();
        let Wired { app, options, .. } = match wire(config, settings, Notify::Nothing, environment)
        {
            Ok(w) => w,
            Err(e) => {
                eprintln!("oss-direct-upload: {e}");
                return ExitCode::from(2);
            }
        };
        announce(&app);
        match runtime::run(oss_direct_upload::api::handler(app), options).await {
            Ok(()) => {
                log::info(None, "stopped", &[]);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("oss-direct-upload: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Logs the effective settings (nothing secret) and warns about anonymous mode.
pub fn announce(app: &App) {
    let c = app.config();
    log::info(
        None,
        "starting",
        &[
            ("version", env!("CARGO_PKG_VERSION").into()),
            ("bucket", c.bucket.clone().into()),
            ("region", c.region.clone().into()),
            ("authMode", c.auth.name().into()),
            ("signatureVersion", c.signature_version.as_str().into()),
            ("prefix", c.upload_prefix.clone().into()),
        ],
    );
    for warning in c.warnings() {
        if warning.starts_with("AUTH_MODE=anonymous") {
            log::warn(None, warning, &[("prefix", c.upload_prefix.clone().into())]);
        } else {
            log::warn(None, warning, &[]);
        }
    }
}
