//! `fv`: the ferrovisor command line. Thin: it parses arguments, calls the
//! libraries and maps outcomes to exit codes.

mod container;
mod guest;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Bad arguments or input files (clap uses 2 as well).
pub const EXIT_USAGE: u8 = 2;
/// The guest asked for a reboot (without `--on-reboot restart`).
pub const EXIT_REBOOT: u8 = 3;
/// The engine met state it cannot continue from.
pub const EXIT_FAULT: u8 = 4;

/// An error in what the user gave us: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Parser, Debug)]
#[command(
    name = "fv",
    version,
    about = "ferrovisor: virtual machines and containers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Boot a RISC-V 64 virtual machine (the default guest if no --kernel).
    Run(run::RunArgs),
    /// The default guest.
    #[command(subcommand)]
    Guest(guest::GuestCommand),
    /// Containers: run, list, stop, remove, exec, logs, inspect.
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Container images: import, list, remove, inspect.
    #[command(subcommand)]
    Image(container::ImageCommand),
    /// OCI runtime command line (runc-compatible subset).
    Oci(container::OciArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FV_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Installed as `fv-oci` (a link to fv), fv is an OCI runtime binary
    // for tools that take one path (podman --runtime, containerd's
    // BinaryName): `fv-oci create ...` is `fv oci create ...`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if invoked_as.as_deref() == Some("fv-oci") {
        args.insert(1, "oci".into());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // runc's callers read errors from --log, bad arguments too.
            if e.use_stderr() {
                container::log_usage_error(&args, &e.kind().to_string(), &e.to_string());
            }
            e.exit()
        }
    };
    let code = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Guest(c) => guest::run(c),
        Command::Container(c) => container::run_container(c),
        Command::Image(c) => container::run_image(c),
        Command::Oci(c) => container::run_oci(c),
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("fv: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
