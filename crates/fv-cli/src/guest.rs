//! `fv guest`: the default guest (Debian riscv64 kernel + busybox initramfs).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum GuestCommand {
    /// Fetch, build and cache the default guest (does nothing if cached).
    Fetch {
        /// Download and build again even if cached.
        #[arg(long)]
        refresh: bool,
    },
}

/// Paths of the default guest.
pub struct DefaultGuest {
    pub kernel: std::path::PathBuf,
    pub initramfs: std::path::PathBuf,
}

pub fn ensure_default(refresh: bool) -> anyhow::Result<DefaultGuest> {
    let _ = refresh;
    anyhow::bail!("the default guest is not available yet: pass --kernel")
}

pub fn run(cmd: GuestCommand) -> anyhow::Result<u8> {
    match cmd {
        GuestCommand::Fetch { refresh } => {
            let g = ensure_default(refresh)?;
            println!("{}\n{}", g.kernel.display(), g.initramfs.display());
            Ok(0)
        }
    }
}
