//! Building the `virt` board from a [`VmConfig`] and running it: one host
//! thread per hart, devices on the MMIO bus, the device tree in RAM.

use std::io::Read;
use std::sync::Arc;

use fv_devices::{layout, Clint, GoldfishRtc, Plic, Syscon, Uart};
use fv_machine::{CpuIrq, ExitReason, GuestClock, GuestRam, MmioBus, VmControl};
use fv_riscv::{hsm, BootMode, Hart, HartShared, IsaConfig, Platform};
use fv_virtio::{MmioTransport, VirtioDevice};

use crate::config::{BiosMode, RebootAction, VmConfig, MAX_CPUS, MAX_DISKS, MAX_MEM, MIN_MEM};
use crate::console::HostConsole;
use crate::fdt::{self, FdtParams};
use crate::loader;
use crate::VmmError;

/// Where the kernel `Image` goes relative to RAM base when its header asks
/// for text_offset 0x20_0000 (the usual RV64 value).
const MIB: u64 = 1 << 20;
/// Room reserved at the top of RAM for the device tree.
const FDT_MAX: u64 = 64 << 10;

/// Checks a configuration without touching the host.
pub fn validate(cfg: &VmConfig) -> Result<(), VmmError> {
    if cfg.cpus == 0 || cfg.cpus > MAX_CPUS {
        return Err(VmmError::Config(format!(
            "--cpus {}: must be between 1 and {MAX_CPUS}",
            cfg.cpus
        )));
    }
    if cfg.mem_bytes < MIN_MEM || cfg.mem_bytes > MAX_MEM || cfg.mem_bytes % 4096 != 0 {
        return Err(VmmError::Config(format!(
            "--mem {} bytes: must be a multiple of 4 KiB between {} MiB and {} GiB",
            cfg.mem_bytes,
            MIN_MEM >> 20,
            MAX_MEM >> 30
        )));
    }
    if cfg.bios == BiosMode::None && cfg.initrd.is_some() {
        return Err(VmmError::Config(
            "--initrd needs a Linux boot; it cannot be used with --bios none".into(),
        ));
    }
    if cfg.disks.len() > MAX_DISKS {
        return Err(VmmError::Config(format!(
            "--disk given {} times: at most {MAX_DISKS} disks fit the virtio-mmio slots",
            cfg.disks.len()
        )));
    }
    if cfg.name.is_empty() {
        return Err(VmmError::Config(
            "--name '': a VM name cannot be empty".into(),
        ));
    }
    for (i, nic) in cfg.nics.iter().enumerate() {
        fv_virtio::tap::check_ifname(&nic.tap)
            .map_err(|e| VmmError::Config(format!("--net tap={}: {e}", nic.tap)))?;
        if cfg.nics[..i].iter().any(|n| n.tap == nic.tap) {
            return Err(VmmError::Config(format!(
                "--net tap={}: the interface is given twice (one card per TAP)",
                nic.tap
            )));
        }
    }
    // Every virtio device takes a slot: disks, NICs, the console, the rng.
    let slots = cfg.disks.len() + cfg.nics.len() + usize::from(cfg.virtio_console) + 1;
    if slots > layout::VIRTIO_MMIO_COUNT {
        return Err(VmmError::Config(format!(
            "{} disks, {} network cards{} need {slots} virtio-mmio slots with the rng; the board has {}",
            cfg.disks.len(),
            cfg.nics.len(),
            if cfg.virtio_console { " and --console virtio" } else { "" },
            layout::VIRTIO_MMIO_COUNT
        )));
    }
    Ok(())
}

/// A virtio device and the virtio-mmio slot it sits in.
type SlotDevice = (usize, Box<dyn VirtioDevice>);

/// The virtio devices of the board, slot by slot: disks from slot 0 in the
/// order given (so they become vda, vdb, ...), then the network cards, the
/// console if any, the rng in the last slot.
fn virtio_devices(
    cfg: &VmConfig,
    console: Option<fv_virtio::Console>,
) -> Result<Vec<SlotDevice>, VmmError> {
    let mut devs: Vec<SlotDevice> = Vec::new();
    for (i, d) in cfg.disks.iter().enumerate() {
        let blk = fv_virtio::Block::open(
            &fv_virtio::BlockConfig {
                path: d.path.clone(),
                format: d.format,
                read_only: d.read_only,
                serial: fv_virtio::block::default_serial(&d.path),
            },
            i,
        )?;
        devs.push((i, Box::new(blk)));
    }
    for (i, nic) in cfg.nics.iter().enumerate() {
        let net_err = |source| VmmError::Net {
            arg: format!("tap={}", nic.tap),
            source,
        };
        let tap = fv_virtio::tap::Tap::open(&nic.tap).map_err(|e| net_err(e.into()))?;
        let mac = cfg.nic_mac(i);
        tracing::info!(tap = %nic.tap, %mac, "virtio-net card net{i}");
        let net = fv_virtio::Net::new(
            fv_virtio::NetConfig { mac },
            fv_virtio::NetBackend::tap(tap),
            i,
        );
        devs.push((devs.len(), Box::new(net)));
    }
    if let Some(c) = console {
        devs.push((devs.len(), Box::new(c)));
    }
    let rng = fv_virtio::Rng::new().map_err(VmmError::Rng)?;
    devs.push((layout::VIRTIO_MMIO_COUNT - 1, Box::new(rng)));
    Ok(devs)
}

/// Runs the VM until it powers off, reboots (unless restarting), faults or
/// the host stops it.
pub fn run_vm(cfg: VmConfig) -> Result<ExitReason, VmmError> {
    validate(&cfg)?;
    let console = HostConsole::open(&cfg.console, cfg.virtio_console).map_err(VmmError::Console)?;
    loop {
        let reason = run_once(&cfg, &console)?;
        if reason == ExitReason::Reboot && cfg.on_reboot == RebootAction::Restart {
            tracing::info!("guest rebooted: restarting");
            continue;
        }
        return Ok(reason);
    }
}

fn rng_seed() -> Vec<u8> {
    let mut seed = vec![0u8; 64];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)) {
        Ok(()) => seed,
        Err(_) => Vec::new(),
    }
}

fn run_once(cfg: &VmConfig, console: &HostConsole) -> Result<ExitReason, VmmError> {
    let ram = Arc::new(GuestRam::new(layout::RAM_BASE, cfg.mem_bytes)?);
    let irqs: Vec<Arc<CpuIrq>> = (0..cfg.cpus).map(|_| Arc::new(CpuIrq::new())).collect();
    let control = Arc::new(VmControl::new(irqs.clone()));
    let clock = GuestClock::new(layout::TIMEBASE_FREQ);
    let (output, virtio_console) = console.outputs().map_err(VmmError::Console)?;

    let plic = Arc::new(Plic::new(irqs.clone()));
    let uart = Arc::new(Uart::new(
        plic.irq_line(layout::UART0_IRQ),
        Box::new(output.clone()),
    ));
    let rtc = Arc::new(GoldfishRtc::new(plic.irq_line(layout::RTC_IRQ)));
    let clint = Arc::new(Clint::new(irqs.clone(), clock.clone()));
    let syscon = Arc::new(Syscon::new(Arc::clone(&control)));
    let mut bus = MmioBus::new();
    bus.insert(layout::UART0.base, layout::UART0.size, uart.clone())?;
    bus.insert(layout::RTC.base, layout::RTC.size, rtc)?;
    bus.insert(layout::CLINT.base, layout::CLINT.size, clint)?;
    bus.insert(layout::PLIC.base, layout::PLIC.size, plic.clone())?;
    bus.insert(layout::TEST.base, layout::TEST.size, syscon)?;
    let mut virtio_slots = Vec::new();
    for (slot, dev) in virtio_devices(cfg, virtio_console)? {
        let region = layout::virtio_mmio(slot);
        let irq = plic.irq_line(region.irq.unwrap_or(1 + slot as u32));
        let transport = MmioTransport::new(dev, Arc::clone(&ram), irq);
        bus.insert(region.base, region.size, Arc::new(transport))?;
        virtio_slots.push(region);
    }
    console.attach(
        Arc::clone(&uart),
        Arc::clone(&control),
        cfg.bios == BiosMode::Sbi,
    );

    // Software.
    let kernel = match cfg.bios {
        BiosMode::Sbi => loader::load_linux(&ram, &cfg.kernel)?,
        BiosMode::None => loader::load_bare(&ram, &cfg.kernel)?,
    };
    let ram_end = ram.base() + ram.size();
    let fdt_addr = (ram_end - FDT_MAX) & !(2 * MIB - 1);
    let fdt_addr = fdt_addr.max(kernel.end.next_multiple_of(4096));
    if fdt_addr + FDT_MAX > ram_end {
        return Err(VmmError::Config(format!(
            "--mem {} MiB leaves no room for the device tree after the kernel",
            cfg.mem_bytes >> 20
        )));
    }
    let initrd = match &cfg.initrd {
        None => None,
        Some(path) => {
            let len = std::fs::metadata(path)
                .map_err(|source| loader::LoadError::Read {
                    what: "initrd",
                    path: path.display().to_string(),
                    source,
                })?
                .len();
            // As QEMU does: far enough above the kernel that it survives
            // early boot, low enough to be in the linear map.
            let kernel_start = ram.base() + 2 * MIB;
            let preferred = if cfg.mem_bytes >= 256 * MIB {
                kernel_start + 128 * MIB
            } else {
                ram.base() + cfg.mem_bytes / 2
            };
            let mut start = preferred.max(kernel.end.next_multiple_of(4096));
            if start + len > fdt_addr {
                start = (fdt_addr.saturating_sub(len)) & !4095;
            }
            if start < kernel.end || start + len > fdt_addr {
                return Err(loader::LoadError::DoesNotFit {
                    what: "initrd",
                    path: path.display().to_string(),
                    addr: start,
                    need: len,
                    ram_base: ram.base(),
                    ram_size: ram.size(),
                }
                .into());
            }
            let end = loader::load_initrd(&ram, path, start, fdt_addr)?;
            Some((start, end))
        }
    };
    let isa = IsaConfig::default();
    let blob = fdt::build(&FdtParams {
        mem_base: ram.base(),
        mem_size: ram.size(),
        cpus: cfg.cpus,
        isa,
        cmdline: cfg.cmdline(),
        initrd,
        rng_seed: rng_seed(),
        virtio: virtio_slots,
    })?;
    if blob.len() as u64 > FDT_MAX {
        return Err(VmmError::Config(format!(
            "device tree too large ({} bytes)",
            blob.len()
        )));
    }
    ram.write_slice(fdt_addr, &blob)?;

    let mode = match cfg.bios {
        BiosMode::Sbi => BootMode::Sbi,
        BiosMode::None => BootMode::BareMetal,
    };
    let shared: Vec<Arc<HartShared>> = irqs
        .iter()
        .enumerate()
        .map(|(i, irq)| {
            let st = if mode == BootMode::Sbi && i != 0 {
                hsm::STOPPED
            } else {
                hsm::STARTED
            };
            Arc::new(HartShared::new(Arc::clone(irq), st))
        })
        .collect();
    let plat = Arc::new(Platform {
        ram,
        bus: Arc::new(bus),
        clock,
        control: Arc::clone(&control),
        harts: shared,
        mode,
        isa,
        console: Some(Arc::new(output)),
    });

    tracing::info!(
        cpus = cfg.cpus,
        mem_mib = cfg.mem_bytes >> 20,
        entry = format_args!("{:#x}", kernel.entry),
        fdt = format_args!("{fdt_addr:#x}"),
        "starting VM"
    );
    let mut threads = Vec::new();
    for id in 0..cfg.cpus {
        let plat = Arc::clone(&plat);
        let entry = kernel.entry;
        let t = std::thread::Builder::new()
            .name(format!("fv-hart-{id}"))
            .spawn(move || {
                let control = Arc::clone(&plat.control);
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut hart = Hart::new(id, plat, entry);
                    match mode {
                        BootMode::Sbi if id == 0 => hart.enter_supervisor(entry, fdt_addr),
                        BootMode::Sbi => {}
                        BootMode::BareMetal => hart.enter_machine(entry, fdt_addr),
                    }
                    hart.run();
                }));
                if result.is_err() {
                    control.request_exit(ExitReason::Fault {
                        cpu: id,
                        pc: 0,
                        cause: "the engine thread panicked".into(),
                    });
                }
            })
            .map_err(VmmError::Thread)?;
        threads.push(t);
    }
    for t in threads {
        let _ = t.join();
    }
    uart.flush_output();
    Ok(control.exit_reason().unwrap_or(ExitReason::HostStop))
}
