//! `fv guest`: the default guest (the Debian riscv64 kernel and a busybox
//! initramfs), fetched through the host's Debian mirror and cached.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum GuestCommand {
    /// Fetch, build and cache the default guest (no network if cached).
    Fetch {
        /// Download and build again even if cached.
        #[arg(long)]
        refresh: bool,
        /// Debian suite to take the riscv64 packages from.
        #[arg(long, default_value = "trixie")]
        suite: String,
    },
    /// Print where the cached default guest is (fails if not fetched yet).
    Path {
        /// Debian suite.
        #[arg(long, default_value = "trixie")]
        suite: String,
    },
}

/// Returns the default guest, fetching and building it on first use.
pub fn ensure_default(refresh: bool) -> anyhow::Result<fv_guest::GuestFiles> {
    let opts = fv_guest::FetchOptions {
        refresh,
        ..Default::default()
    };
    if fv_guest::cached_guest(&opts.cache_dir, &opts.suite).is_none() || refresh {
        eprintln!(
            "fv: fetching the default guest (Debian {} riscv64 kernel + busybox) into {}",
            opts.suite,
            opts.cache_dir.display()
        );
    }
    Ok(fv_guest::ensure_guest(&opts)?)
}

pub fn run(cmd: GuestCommand) -> anyhow::Result<u8> {
    match cmd {
        GuestCommand::Fetch { refresh, suite } => {
            let opts = fv_guest::FetchOptions {
                refresh,
                suite,
                ..Default::default()
            };
            let g = fv_guest::ensure_guest(&opts)?;
            println!("kernel:    {}", g.kernel.display());
            println!("initramfs: {}", g.initramfs.display());
            Ok(0)
        }
        GuestCommand::Path { suite } => {
            let dir = fv_guest::default_cache_dir();
            match fv_guest::cached_guest(&dir, &suite) {
                Some(g) => {
                    println!("{}", g.dir.display());
                    Ok(0)
                }
                None => anyhow::bail!(
                    "no complete default guest for '{suite}' under {} (run: fv guest fetch)",
                    dir.display()
                ),
            }
        }
    }
}
