//! The device tree of the `virt` board, generated from the board layout
//! (vm-fdt), shaped like QEMU 7.2's `-M virt` tree.

use fv_devices::layout;
use fv_riscv::IsaConfig;

/// What the device tree describes.
#[derive(Debug, Clone)]
pub struct FdtParams {
    pub mem_base: u64,
    pub mem_size: u64,
    pub cpus: usize,
    pub isa: IsaConfig,
    pub cmdline: String,
    pub initrd: Option<(u64, u64)>,
    /// Random bytes for `/chosen/rng-seed`.
    pub rng_seed: Vec<u8>,
    /// Populated virtio-mmio slots.
    pub virtio: Vec<layout::MmioRegion>,
}

/// A device tree could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the device tree: {0}")]
pub struct FdtError(#[from] vm_fdt::Error);

const PLIC_PHANDLE: u32 = 1;
const TEST_PHANDLE: u32 = 2;
/// Phandle of hart `i`'s interrupt controller.
fn intc_phandle(i: usize) -> u32 {
    16 + 2 * i as u32
}
fn cpu_phandle(i: usize) -> u32 {
    17 + 2 * i as u32
}

fn reg(base: u64, size: u64) -> [u64; 2] {
    [base, size]
}

/// Builds the flattened device tree blob.
pub fn build(p: &FdtParams) -> Result<Vec<u8>, FdtError> {
    let mut f = vm_fdt::FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "riscv-virtio")?;
    f.property_string("model", "riscv-virtio,qemu")?;

    let chosen = f.begin_node("chosen")?;
    f.property_string("bootargs", &p.cmdline)?;
    f.property_string(
        "stdout-path",
        &format!("/soc/serial@{:x}", layout::UART0.base),
    )?;
    if let Some((start, end)) = p.initrd {
        f.property_u64("linux,initrd-start", start)?;
        f.property_u64("linux,initrd-end", end)?;
    }
    if !p.rng_seed.is_empty() {
        f.property("rng-seed", &p.rng_seed)?;
    }
    f.end_node(chosen)?;

    let mem = f.begin_node(&format!("memory@{:x}", p.mem_base))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &reg(p.mem_base, p.mem_size))?;
    f.end_node(mem)?;

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    f.property_u32("timebase-frequency", layout::TIMEBASE_FREQ as u32)?;
    let exts: Vec<String> = p
        .isa
        .isa_extensions()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in 0..p.cpus {
        let cpu = f.begin_node(&format!("cpu@{i}"))?;
        f.property_phandle(cpu_phandle(i))?;
        f.property_string("device_type", "cpu")?;
        f.property_u32("reg", i as u32)?;
        f.property_string("status", "okay")?;
        f.property_string("compatible", "riscv")?;
        f.property_string("riscv,isa", &p.isa.isa_string())?;
        f.property_string("riscv,isa-base", "rv64i")?;
        f.property_string_list("riscv,isa-extensions", exts.clone())?;
        f.property_string("mmu-type", p.isa.mmu_type())?;
        let intc = f.begin_node("interrupt-controller")?;
        f.property_u32("#interrupt-cells", 1)?;
        f.property_null("interrupt-controller")?;
        f.property_string("compatible", "riscv,cpu-intc")?;
        f.property_phandle(intc_phandle(i))?;
        f.end_node(intc)?;
        f.end_node(cpu)?;
    }
    let map = f.begin_node("cpu-map")?;
    let cluster = f.begin_node("cluster0")?;
    for i in 0..p.cpus {
        let core = f.begin_node(&format!("core{i}"))?;
        f.property_u32("cpu", cpu_phandle(i))?;
        f.end_node(core)?;
    }
    f.end_node(cluster)?;
    f.end_node(map)?;
    f.end_node(cpus)?;

    let poweroff = f.begin_node("poweroff")?;
    f.property_string("compatible", "syscon-poweroff")?;
    f.property_u32("regmap", TEST_PHANDLE)?;
    f.property_u32("offset", 0)?;
    f.property_u32("value", layout::SYSCON_PASS)?;
    f.end_node(poweroff)?;
    let reboot = f.begin_node("reboot")?;
    f.property_string("compatible", "syscon-reboot")?;
    f.property_u32("regmap", TEST_PHANDLE)?;
    f.property_u32("offset", 0)?;
    f.property_u32("value", layout::SYSCON_RESET)?;
    f.end_node(reboot)?;

    let soc = f.begin_node("soc")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "simple-bus")?;
    f.property_null("ranges")?;

    let compat = |r: &layout::MmioRegion| {
        r.compatible
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };

    let t = layout::TEST;
    let n = f.begin_node(&format!("test@{:x}", t.base))?;
    f.property_phandle(TEST_PHANDLE)?;
    f.property_string_list("compatible", compat(&t))?;
    f.property_array_u64("reg", &reg(t.base, t.size))?;
    f.end_node(n)?;

    let r = layout::RTC;
    let n = f.begin_node(&format!("rtc@{:x}", r.base))?;
    f.property_string_list("compatible", compat(&r))?;
    f.property_array_u64("reg", &reg(r.base, r.size))?;
    f.property_u32("interrupt-parent", PLIC_PHANDLE)?;
    f.property_u32("interrupts", layout::RTC_IRQ)?;
    f.end_node(n)?;

    let u = layout::UART0;
    let n = f.begin_node(&format!("serial@{:x}", u.base))?;
    f.property_string_list("compatible", compat(&u))?;
    f.property_array_u64("reg", &reg(u.base, u.size))?;
    f.property_u32("clock-frequency", layout::UART_CLOCK_FREQ)?;
    f.property_u32("interrupt-parent", PLIC_PHANDLE)?;
    f.property_u32("interrupts", layout::UART0_IRQ)?;
    f.end_node(n)?;

    let c = layout::CLINT;
    let n = f.begin_node(&format!("clint@{:x}", c.base))?;
    f.property_string_list("compatible", compat(&c))?;
    f.property_array_u64("reg", &reg(c.base, c.size))?;
    let mut ie = Vec::new();
    for i in 0..p.cpus {
        ie.extend([intc_phandle(i), 3, intc_phandle(i), 7]);
    }
    f.property_array_u32("interrupts-extended", &ie)?;
    f.end_node(n)?;

    let pl = layout::PLIC;
    let n = f.begin_node(&format!("plic@{:x}", pl.base))?;
    f.property_phandle(PLIC_PHANDLE)?;
    f.property_string_list("compatible", compat(&pl))?;
    f.property_array_u64("reg", &reg(pl.base, pl.size))?;
    let mut ie = Vec::new();
    for i in 0..p.cpus {
        // Context 2i is M-mode (MEI, 11), 2i+1 is S-mode (SEI, 9).
        ie.extend([intc_phandle(i), 11, intc_phandle(i), 9]);
    }
    f.property_array_u32("interrupts-extended", &ie)?;
    f.property_null("interrupt-controller")?;
    f.property_u32("#interrupt-cells", 1)?;
    f.property_u32("#address-cells", 0)?;
    f.property_u32("riscv,ndev", layout::PLIC_NDEV)?;
    f.end_node(n)?;

    // QEMU's shape: one node per slot, interrupting through the PLIC.
    for v in &p.virtio {
        let n = f.begin_node(&format!("virtio_mmio@{:x}", v.base))?;
        if let Some(irq) = v.irq {
            f.property_u32("interrupts", irq)?;
            f.property_u32("interrupt-parent", PLIC_PHANDLE)?;
        }
        f.property_array_u64("reg", &reg(v.base, v.size))?;
        f.property_string_list("compatible", compat(v))?;
        f.end_node(n)?;
    }

    f.end_node(soc)?;
    f.end_node(root)?;
    Ok(f.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_valid_blob_with_the_board() {
        let blob = build(&FdtParams {
            mem_base: 0x8000_0000,
            mem_size: 512 << 20,
            cpus: 2,
            isa: IsaConfig::default(),
            cmdline: "console=ttyS0 quiet".into(),
            initrd: Some((0x8820_0000, 0x8830_0000)),
            rng_seed: vec![1; 32],
            virtio: vec![layout::virtio_mmio(0), layout::virtio_mmio(7)],
        })
        .unwrap();
        // FDT magic, big-endian.
        assert_eq!(&blob[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
        let text = String::from_utf8_lossy(&blob);
        for needle in [
            "console=ttyS0 quiet",
            "cpu@1",
            "serial@10000000",
            "plic@c000000",
            "clint@2000000",
            "test@100000",
            "rtc@101000",
            "syscon-poweroff",
            "riscv,sv48",
            "rv64imafdc",
            "virtio_mmio@10001000",
            "virtio_mmio@10008000",
            "virtio,mmio",
        ] {
            assert!(text.contains(needle), "device tree lacks {needle}");
        }
    }
}
