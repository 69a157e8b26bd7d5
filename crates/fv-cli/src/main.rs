//! `fv`: the ferrovisor command line. Thin: it parses arguments, calls the
//! libraries and maps outcomes to exit codes.

mod container;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad arguments (clap uses 2 as well).
const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(name = "fv", version, about = "ferrovisor: virtual machines and containers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Containers: run, list, stop, remove, exec, logs, inspect.
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// Container images: import, list, remove, inspect.
    #[command(subcommand)]
    Image(container::ImageCommand),
    /// OCI runtime command line (runc-compatible subset).
    #[command(subcommand)]
    Oci(container::OciCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Container(c) => container::run_container(c),
        Command::Image(c) => container::run_image(c),
        Command::Oci(c) => container::run_oci(c),
    };
    match code {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("fv: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
