//! `fv container`, `fv image`, `fv oci`: thin wrappers over `fv-container`.
//! Errors in what the user gave (bad config, unknown container, name in
//! use) exit 2; a container's own exit status is passed through.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use fv_container::runtime::{ContainerError, CreateOptions, Runtime};
use fv_container::state::StateStore;

/// Exit code for bad input, as for bad arguments.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the runtime itself failed.
const EXIT_FAILURE: u8 = 1;

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {}
#[derive(Subcommand, Debug)]
pub enum ImageCommand {}

#[derive(Subcommand, Debug)]
pub enum OciCommand {
    /// Write a template config.json (rootfs "rootfs") into the bundle.
    Spec {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Program and arguments (default: sh).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Create a container: set up, stopped before the user's program.
    Create {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Write the container's pid to this file.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        id: String,
    },
    /// Start a created container's program.
    Start { id: String },
    /// Print the container's state (runtime-spec JSON).
    State { id: String },
    /// Send a signal (default TERM) to the container.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        /// Signal every process in the container's cgroup.
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Delete a stopped container (with --force, also a running one).
    Delete {
        id: String,
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Create, start and wait; exits with the container's status.
    Run {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Keep the container (stopped) instead of deleting it.
        #[arg(long)]
        keep: bool,
        id: String,
    },
    /// List containers.
    List,
}

fn runtime() -> Runtime {
    Runtime::new(StateStore::default_root())
}

/// Prints the error and picks the exit code.
fn report(e: ContainerError) -> u8 {
    eprintln!("fv: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let text = s.to_string();
        if !e.to_string().contains(&text) {
            eprintln!("  caused by: {text}");
        }
        src = s.source();
    }
    if e.is_bad_input() {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILURE
    }
}

fn status_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(EXIT_FAILURE)
}

pub fn run_container(c: ContainerCommand) -> anyhow::Result<u8> {
    match c {}
}
pub fn run_image(c: ImageCommand) -> anyhow::Result<u8> {
    match c {}
}

pub fn run_oci(c: OciCommand) -> anyhow::Result<u8> {
    let rt = runtime();
    let result: Result<u8, ContainerError> = match c {
        OciCommand::Spec { bundle, args } => {
            let args = if args.is_empty() {
                vec!["sh".to_string()]
            } else {
                args
            };
            fv_container::spec::write(&bundle, &fv_container::spec::template(&args))
                .map(|_| 0)
                .map_err(Into::into)
        }
        OciCommand::Create {
            bundle,
            pid_file,
            id,
        } => rt
            .create(&id, &bundle, CreateOptions::default())
            .and_then(|rec| {
                if let Some(f) = pid_file {
                    let pid = rec.pid.unwrap_or(0);
                    std::fs::write(&f, pid.to_string())
                        .with_context(|| format!("write pid file {}", f.display()))
                        .map_err(|e| ContainerError::Io {
                            id: id.clone(),
                            what: format!("{e:#}"),
                            source: std::io::Error::other("pid file"),
                        })?;
                }
                Ok(0)
            }),
        OciCommand::Start { id } => rt.start(&id).map(|_| 0),
        OciCommand::State { id } => rt.state(&id).map(|rec| {
            println!(
                "{}",
                serde_json::to_string_pretty(&rec.oci_state()).unwrap_or_default()
            );
            0
        }),
        OciCommand::Kill { id, signal, all } => rt.kill(&id, &signal, all).map(|_| 0),
        OciCommand::Delete { id, force } => rt.delete(&id, force).map(|_| 0),
        OciCommand::Run { bundle, keep, id } => rt
            .run(&id, &bundle, CreateOptions::default())
            .and_then(|st| {
                if st.oom_killed {
                    eprintln!("fv: container {id} was killed by the OOM killer (memory limit)");
                }
                if !keep {
                    rt.delete(&id, true)?;
                }
                Ok(status_code(st.code))
            }),
        OciCommand::List => {
            println!("{:<24} {:<8} {:>8}  BUNDLE", "ID", "STATUS", "PID");
            for r in rt.list() {
                println!(
                    "{:<24} {:<8} {:>8}  {}",
                    r.id,
                    r.status,
                    r.pid.map(|p| p.to_string()).unwrap_or_default(),
                    r.bundle.display()
                );
            }
            Ok(0)
        }
    };
    Ok(result.unwrap_or_else(report))
}
