//! The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): registers,
//! feature negotiation, device status and reset, queue setup, notifications
//! and interrupts, in front of any [`VirtioDevice`].

use std::sync::{Arc, Mutex, MutexGuard};

use fv_machine::{GuestRam, IrqLine, MmioDevice};
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestAddress;

use crate::device::VirtioDevice;
use crate::interrupt::Interrupt;
use crate::worker::Worker;
use crate::{features, status};

/// "virt" in little-endian.
const MAGIC: u32 = 0x7472_6976;
/// The modern (virtio 1.x) register layout.
const VERSION: u32 = 2;
/// Our vendor ID ("FVVM").
const VENDOR_ID: u32 = u32::from_le_bytes(*b"FVVM");
/// Features every device gets from the transport and virtio-queue.
const TRANSPORT_FEATURES: u64 =
    features::VERSION_1 | features::RING_INDIRECT_DESC | features::RING_EVENT_IDX;

/// Register offsets (virtio 1.2, table 4.1), for drivers written against
/// the transport (tests, the fuzz harness).
pub mod reg {
    /// MagicValue.
    pub const MAGIC: u64 = 0x000;
    /// Version.
    pub const VERSION: u64 = 0x004;
    /// DeviceID.
    pub const DEVICE_ID: u64 = 0x008;
    /// VendorID.
    pub const VENDOR_ID: u64 = 0x00c;
    /// DeviceFeatures.
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// DeviceFeaturesSel.
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// DriverFeatures.
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// DriverFeaturesSel.
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// QueueSel.
    pub const QUEUE_SEL: u64 = 0x030;
    /// QueueNumMax.
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    /// QueueNum.
    pub const QUEUE_NUM: u64 = 0x038;
    /// QueueReady.
    pub const QUEUE_READY: u64 = 0x044;
    /// QueueNotify.
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// InterruptStatus.
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// InterruptACK.
    pub const INTERRUPT_ACK: u64 = 0x064;
    /// Status.
    pub const STATUS: u64 = 0x070;
    /// QueueDescLow.
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    /// QueueDescHigh.
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    /// QueueDriverLow.
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    /// QueueDriverHigh.
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    /// QueueDeviceLow.
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    /// QueueDeviceHigh.
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    /// SHMLenLow.
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    /// SHMLenHigh.
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    /// ConfigGeneration.
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device-specific config space.
    pub const CONFIG: u64 = 0x100;
}

/// What the driver wrote about one queue.
#[derive(Debug, Clone, Copy, Default)]
struct QueueRegs {
    max: u16,
    size: u16,
    ready: bool,
    desc: u64,
    avail: u64,
    used: u64,
}

struct Inner {
    device: Box<dyn VirtioDevice>,
    name: String,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: Vec<QueueRegs>,
    config_generation: u32,
    worker: Option<Worker>,
}

/// A virtio device behind the MMIO transport, ready for the bus.
pub struct MmioTransport {
    inner: Mutex<Inner>,
    interrupt: Arc<Interrupt>,
    ram: Arc<GuestRam>,
}

impl std::fmt::Debug for MmioTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.lock();
        f.debug_struct("MmioTransport")
            .field("device", &i.name)
            .field("status", &i.status)
            .finish()
    }
}

fn set_half(v: &mut u64, high: bool, val: u32) {
    if high {
        *v = (*v & 0xffff_ffff) | (u64::from(val) << 32);
    } else {
        *v = (*v & !0xffff_ffff) | u64::from(val);
    }
}

impl MmioTransport {
    /// Puts `device` behind the transport; it interrupts through `irq`.
    pub fn new(device: Box<dyn VirtioDevice>, ram: Arc<GuestRam>, irq: Arc<dyn IrqLine>) -> Self {
        let queues = device
            .queue_max_sizes()
            .into_iter()
            .map(|max| QueueRegs {
                max,
                size: max,
                ..QueueRegs::default()
            })
            .collect();
        let name = device.name();
        Self {
            inner: Mutex::new(Inner {
                device,
                name,
                status: 0,
                device_features_sel: 0,
                driver_features_sel: 0,
                driver_features: 0,
                queue_sel: 0,
                queues,
                config_generation: 0,
                worker: None,
            }),
            interrupt: Arc::new(Interrupt::new(irq)),
            ram,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device's DeviceStatus as the driver reads it.
    pub fn status(&self) -> u32 {
        let st = self.lock().status;
        if self.interrupt.needs_reset() {
            st | status::DEVICE_NEEDS_RESET
        } else {
            st
        }
    }

    fn read_reg(&self, offset: u64) -> u32 {
        let i = self.lock();
        let q = i.queues.get(i.queue_sel as usize);
        match offset {
            reg::MAGIC => MAGIC,
            reg::VERSION => VERSION,
            reg::DEVICE_ID => i.device.device_type(),
            reg::VENDOR_ID => VENDOR_ID,
            reg::DEVICE_FEATURES => {
                let f = i.device.features() | TRANSPORT_FEATURES;
                match i.device_features_sel {
                    0 => f as u32,
                    1 => (f >> 32) as u32,
                    _ => 0,
                }
            }
            reg::QUEUE_NUM_MAX => q.map_or(0, |q| u32::from(q.max)),
            reg::QUEUE_READY => q.map_or(0, |q| u32::from(q.ready)),
            reg::INTERRUPT_STATUS => self.interrupt.status(),
            reg::STATUS => {
                drop(i);
                self.status()
            }
            // No shared memory regions: length all ones (virtio 1.2, 4.2.2).
            reg::SHM_LEN_LOW | reg::SHM_LEN_HIGH => u32::MAX,
            reg::CONFIG_GENERATION => i.config_generation,
            _ => 0,
        }
    }

    fn write_reg(&self, offset: u64, val: u32) {
        let mut i = self.lock();
        let live = i.status & status::DRIVER_OK != 0;
        match offset {
            reg::DEVICE_FEATURES_SEL => i.device_features_sel = val,
            reg::DRIVER_FEATURES_SEL => i.driver_features_sel = val,
            reg::DRIVER_FEATURES => {
                // Only while negotiating (virtio 1.2, 3.1.1).
                if i.status & status::FEATURES_OK == 0 {
                    match i.driver_features_sel {
                        0 => set_half(&mut i.driver_features, false, val),
                        1 => set_half(&mut i.driver_features, true, val),
                        _ => {}
                    }
                }
            }
            reg::QUEUE_SEL => i.queue_sel = val,
            reg::QUEUE_NOTIFY => {
                // The index is the low 16 bits (the rest is notification data,
                // not negotiated). Notifications before DRIVER_OK are ignored.
                match &i.worker {
                    Some(w) if live => w.notify((val & 0xffff) as usize),
                    _ => tracing::debug!(device = %i.name, "QueueNotify while not live ignored"),
                }
            }
            reg::INTERRUPT_ACK => self.interrupt.ack(val),
            reg::STATUS => self.write_status(&mut i, val),
            reg::QUEUE_NUM
            | reg::QUEUE_READY
            | reg::QUEUE_DESC_LOW
            | reg::QUEUE_DESC_HIGH
            | reg::QUEUE_DRIVER_LOW
            | reg::QUEUE_DRIVER_HIGH
            | reg::QUEUE_DEVICE_LOW
            | reg::QUEUE_DEVICE_HIGH => {
                if live {
                    tracing::debug!(device = %i.name, offset, "queue setup after DRIVER_OK ignored");
                    return;
                }
                let sel = i.queue_sel as usize;
                let Some(q) = i.queues.get_mut(sel) else {
                    return;
                };
                match offset {
                    reg::QUEUE_NUM => q.size = val.min(u32::from(u16::MAX)) as u16,
                    reg::QUEUE_READY => q.ready = val & 1 != 0,
                    reg::QUEUE_DESC_LOW => set_half(&mut q.desc, false, val),
                    reg::QUEUE_DESC_HIGH => set_half(&mut q.desc, true, val),
                    reg::QUEUE_DRIVER_LOW => set_half(&mut q.avail, false, val),
                    reg::QUEUE_DRIVER_HIGH => set_half(&mut q.avail, true, val),
                    reg::QUEUE_DEVICE_LOW => set_half(&mut q.used, false, val),
                    _ => set_half(&mut q.used, true, val),
                }
            }
            _ => {
                tracing::debug!(device = %i.name, offset, val, "write to read-only or unknown register")
            }
        }
    }

    /// DeviceStatus writes: reset, feature check, activation (virtio 1.2,
    /// 3.1.1 and 4.2.3.1).
    fn write_status(&self, i: &mut Inner, val: u32) {
        if val == 0 {
            self.reset(i);
            return;
        }
        let old = i.status;
        let mut new = val & 0xff & !status::DEVICE_NEEDS_RESET;
        if new & status::FEATURES_OK != 0 && old & status::FEATURES_OK == 0 {
            let offered = i.device.features() | TRANSPORT_FEATURES;
            let f = i.driver_features;
            if f & !offered != 0 || f & features::VERSION_1 == 0 {
                tracing::warn!(device = %i.name, features = format_args!("{f:#x}"), "driver features rejected");
                new &= !status::FEATURES_OK;
            }
        }
        i.status = new;
        if new & status::DRIVER_OK != 0 && old & status::DRIVER_OK == 0 {
            if new & status::FEATURES_OK == 0 {
                tracing::warn!(device = %i.name, "DRIVER_OK without FEATURES_OK");
                self.interrupt.set_needs_reset();
                return;
            }
            if let Err(e) = self.activate(i) {
                tracing::warn!(device = %i.name, "activation failed, device needs reset: {e}");
                self.interrupt.set_needs_reset();
            }
        }
    }

    fn activate(&self, i: &mut Inner) -> Result<(), String> {
        let mem = self.ram.memory();
        let event_idx = i.driver_features & features::RING_EVENT_IDX != 0;
        let mut queues = Vec::with_capacity(i.queues.len());
        for (n, r) in i.queues.iter().enumerate() {
            let mut q = Queue::new(r.max).map_err(|e| format!("queue {n}: {e:?}"))?;
            if r.ready {
                q.try_set_size(r.size)
                    .map_err(|_| format!("queue {n}: invalid size {} (max {})", r.size, r.max))?;
                q.try_set_desc_table_address(GuestAddress(r.desc))
                    .and_then(|()| q.try_set_avail_ring_address(GuestAddress(r.avail)))
                    .and_then(|()| q.try_set_used_ring_address(GuestAddress(r.used)))
                    .map_err(|e| format!("queue {n}: {e:?}"))?;
                q.set_event_idx(event_idx);
                q.set_ready(true);
                if !q.is_valid(mem) {
                    return Err(format!("queue {n}: rings outside guest RAM"));
                }
            }
            queues.push(q);
        }
        let handler = i
            .device
            .activate(i.driver_features)
            .map_err(|e| e.to_string())?;
        let worker = Worker::spawn(
            i.name.clone(),
            Arc::clone(&self.ram),
            queues,
            handler,
            Arc::clone(&self.interrupt),
        )
        .map_err(|e| format!("cannot start the worker thread: {e}"))?;
        tracing::debug!(device = %i.name, features = format_args!("{:#x}", i.driver_features), "activated");
        i.worker = Some(worker);
        Ok(())
    }

    fn reset(&self, i: &mut Inner) {
        // Dropping the worker stops and joins it: no request is in flight
        // once the driver sees status 0.
        i.worker = None;
        i.status = 0;
        i.driver_features = 0;
        i.device_features_sel = 0;
        i.driver_features_sel = 0;
        i.queue_sel = 0;
        for q in &mut i.queues {
            *q = QueueRegs {
                max: q.max,
                size: q.max,
                ..QueueRegs::default()
            };
        }
        self.interrupt.reset();
    }
}

impl MmioDevice for MmioTransport {
    fn read(&self, offset: u64, data: &mut [u8]) {
        if offset >= reg::CONFIG {
            data.fill(0);
            self.lock().device.read_config(offset - reg::CONFIG, data);
            return;
        }
        // Registers are 32 bits wide and accessed as such (virtio 1.2,
        // 4.2.2.2); other accesses read 0.
        let v = if data.len() == 4 && offset % 4 == 0 {
            self.read_reg(offset)
        } else {
            0
        };
        let bytes = v.to_le_bytes();
        let n = data.len().min(4);
        data[..n].copy_from_slice(&bytes[..n]);
        data[n..].fill(0);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        if offset >= reg::CONFIG {
            let mut i = self.lock();
            i.device.write_config(offset - reg::CONFIG, data);
            i.config_generation = i.config_generation.wrapping_add(1);
            return;
        }
        match <[u8; 4]>::try_from(data) {
            Ok(b) if offset % 4 == 0 => self.write_reg(offset, u32::from_le_bytes(b)),
            _ => tracing::debug!(
                offset,
                len = data.len(),
                "non-32-bit virtio-mmio register write ignored"
            ),
        }
    }
}
