//! `fv run`: boot a VM on the terminal.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fv_vmm::{
    BiosMode, ConsoleConfig, DiskConfig, DiskFormat, ExitReason, MacAddr, NicConfig, RebootAction,
    VmConfig, DEFAULT_NAME, MAX_DISKS,
};

use crate::{EXIT_FAULT, EXIT_REBOOT};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Kernel: a riscv64 Linux `Image` (or ELF); with `--bios none`, a
    /// bare-metal ELF or raw binary. Default: the default guest (fetched
    /// and cached on first use).
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk (initramfs).
    #[arg(long)]
    pub initrd: Option<PathBuf>,
    /// Kernel command line [default: console=ttyS0, or console=hvc0 with
    /// --console virtio].
    #[arg(long)]
    pub append: Option<String>,
    /// Guest RAM, e.g. 512M or 2G.
    #[arg(long, default_value = "512M")]
    pub mem: String,
    /// Number of harts (1 to 8).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub cpus: usize,
    /// Console: stdio, none, or file=PATH on the UART (ttyS0); or
    /// virtio[,stdio|none|file=PATH] for virtio-console (hvc0, the terminal
    /// by default): the UART then stays on the board, its output only in the
    /// debug log (FV_LOG=debug).
    #[arg(long, default_value = "stdio")]
    pub console: String,
    /// Firmware: `default` (the hypervisor answers SBI calls; no firmware in
    /// the guest) or `none` (run the kernel file in M-mode, as QEMU's
    /// `-bios none`).
    #[arg(long, default_value = "default")]
    pub bios: String,
    /// What a guest reboot does: exit (status 3) or restart.
    #[arg(long, default_value = "exit")]
    pub on_reboot: String,
    /// A virtio-blk disk: PATH[,format=raw|qcow2][,ro]; the format is
    /// detected from the file when not given. Repeat for more disks; the
    /// guest sees them as /dev/vda, /dev/vdb, ... in order.
    #[arg(long = "disk", value_name = "PATH[,format=raw|qcow2][,ro]")]
    pub disks: Vec<String>,
    /// A virtio-net card on a host TAP interface: tap=IFNAME[,mac=MAC]. An
    /// existing TAP is attached to; a missing one is created (root). The MAC
    /// defaults to 52:54:00 + a hash of the VM name and card number.
    #[arg(long = "net", value_name = "tap=IFNAME[,mac=52:54:00:xx:xx:xx]")]
    pub nets: Vec<String>,
    /// The VM's name; default MAC addresses are derived from it.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
}

fn usage(msg: String) -> anyhow::Error {
    anyhow::Error::new(crate::UsageError(msg))
}

/// Parses `--console`: where the console goes, and whether it is the
/// virtio console (`virtio[,WHERE]`) rather than the UART.
fn parse_console(s: &str) -> anyhow::Result<(ConsoleConfig, bool)> {
    let (virtio, target) = match s.strip_prefix("virtio") {
        Some("") => (true, "stdio"),
        Some(rest) => match rest.strip_prefix(',') {
            Some(t) => (true, t),
            None => (false, s),
        },
        None => (false, s),
    };
    let config = match target {
        "stdio" => ConsoleConfig::Stdio,
        "none" => ConsoleConfig::None,
        _ => match target.strip_prefix("file=") {
            Some(p) if !p.is_empty() => ConsoleConfig::File(PathBuf::from(p)),
            _ => {
                return Err(usage(format!(
                "--console '{s}': expected stdio, none, file=PATH or virtio[,stdio|none|file=PATH]"
            )))
            }
        },
    };
    Ok((config, virtio))
}

/// Parses one `--disk` value and checks that the image exists.
fn parse_disk(s: &str) -> anyhow::Result<DiskConfig> {
    let mut parts = s.split(',');
    let path = parts.next().unwrap_or_default();
    if path.is_empty() {
        return Err(usage(format!(
            "--disk '{s}': expected PATH[,format=raw|qcow2][,ro]"
        )));
    }
    let mut disk = DiskConfig {
        path: PathBuf::from(path),
        read_only: false,
        format: None,
    };
    for opt in parts {
        match opt.split_once('=') {
            None if opt == "ro" => disk.read_only = true,
            Some(("format", f)) => {
                disk.format = Some(DiskFormat::from_name(f).ok_or_else(|| {
                    usage(format!(
                        "--disk '{s}': unknown format '{f}' (supported: raw, qcow2)"
                    ))
                })?)
            }
            _ => {
                return Err(usage(format!(
                    "--disk '{s}': unknown option '{opt}' (expected format=raw|qcow2 or ro)"
                )))
            }
        }
    }
    match std::fs::metadata(&disk.path) {
        Ok(m) if m.is_file() => Ok(disk),
        Ok(_) => Err(usage(format!("--disk '{s}': {path} is not a regular file"))),
        Err(e) => Err(usage(format!("--disk '{s}': cannot open {path}: {e}"))),
    }
}

/// Parses one `--net` value (the interface name is checked by
/// `fv_vmm::validate`).
fn parse_net(s: &str) -> anyhow::Result<NicConfig> {
    let mut nic = NicConfig {
        tap: String::new(),
        mac: None,
    };
    let mut tap = None;
    for opt in s.split(',') {
        match opt.split_once('=') {
            Some(("tap", name)) => tap = Some(name),
            Some(("mac", m)) => {
                nic.mac = Some(
                    m.parse::<MacAddr>()
                        .map_err(|e| usage(format!("--net '{s}': bad MAC address '{m}': {e}")))?,
                )
            }
            _ => {
                return Err(usage(format!(
                "--net '{s}': unknown option '{opt}' (expected tap=IFNAME[,mac=52:54:00:xx:xx:xx])"
            )))
            }
        }
    }
    let Some(tap) = tap else {
        return Err(usage(format!(
            "--net '{s}': expected tap=IFNAME[,mac=52:54:00:xx:xx:xx]"
        )));
    };
    nic.tap = tap.to_string();
    Ok(nic)
}

/// Builds the VM configuration from the arguments.
pub fn config(args: &RunArgs) -> anyhow::Result<VmConfig> {
    let mem = fv_machine::parse_size(&args.mem).map_err(|e| usage(format!("--mem: {e}")))?;
    let bios = match args.bios.as_str() {
        "default" | "sbi" => BiosMode::Sbi,
        "none" => BiosMode::None,
        other => {
            return Err(usage(format!(
                "--bios '{other}': expected 'default' or 'none' (external firmware is not supported yet)"
            )))
        }
    };
    let on_reboot = match args.on_reboot.as_str() {
        "exit" => RebootAction::Exit,
        "restart" => RebootAction::Restart,
        other => {
            return Err(usage(format!(
                "--on-reboot '{other}': expected exit or restart"
            )))
        }
    };
    if args.disks.len() > MAX_DISKS {
        return Err(usage(format!(
            "--disk '{}': too many disks ({} given, at most {MAX_DISKS} fit the virtio-mmio slots)",
            args.disks[MAX_DISKS],
            args.disks.len()
        )));
    }
    let disks = args
        .disks
        .iter()
        .map(|d| parse_disk(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let nics = args
        .nets
        .iter()
        .map(|n| parse_net(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (kernel, initrd, append) = match &args.kernel {
        Some(k) => (k.clone(), args.initrd.clone(), args.append.clone()),
        None => {
            if bios == BiosMode::None {
                return Err(usage("--bios none needs --kernel".into()));
            }
            let g = crate::guest::ensure_default(false).context("cannot get the default guest")?;
            (
                g.kernel,
                Some(args.initrd.clone().unwrap_or(g.initramfs)),
                args.append.clone(),
            )
        }
    };
    let mut cfg = VmConfig::new(kernel);
    cfg.disks = disks;
    cfg.nics = nics;
    cfg.name = args.name.clone();
    cfg.initrd = initrd;
    cfg.append = append;
    cfg.mem_bytes = mem;
    cfg.cpus = args.cpus;
    cfg.bios = bios;
    (cfg.console, cfg.virtio_console) = parse_console(&args.console)?;
    cfg.on_reboot = on_reboot;
    fv_vmm::validate(&cfg).map_err(|e| usage(e.to_string()))?;
    Ok(cfg)
}

/// Runs the VM; returns the process exit code.
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let cfg = config(&args)?;
    let reason = match fv_vmm::run_vm(cfg) {
        Ok(r) => r,
        Err(e) if e.is_user_error() => return Err(usage(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(match reason {
        ExitReason::PowerOff | ExitReason::TestPass | ExitReason::HostStop => 0,
        ExitReason::TestFail(code) => match (code & 0xff) as u8 {
            // A FAIL whose code truncates to 0 must not look like success.
            0 => 1,
            c => c,
        },
        ExitReason::Reboot => EXIT_REBOOT,
        ExitReason::Fault { cpu, pc, cause } => {
            eprintln!("fv: engine fault on hart {cpu} at pc {pc:#x}: {cause}");
            EXIT_FAULT
        }
    })
}
