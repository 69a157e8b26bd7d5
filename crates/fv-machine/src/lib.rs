//! The architecture-neutral board pieces every engine and device shares:
//! guest RAM (vm-memory with a dirty bitmap, and the one module that touches
//! host pointers), the MMIO bus, per-CPU interrupt inputs, the guest clock,
//! VM-wide power control, and size parsing.
//!
//! It knows nothing of RISC-V instructions or of any particular device.

pub mod bus;
pub mod clock;
pub mod control;
pub mod irq;
pub mod memory;
pub mod size;

pub use bus::{BusError, MmioBus, MmioDevice};
pub use clock::GuestClock;
pub use control::{ExitReason, VmControl};
pub use irq::{CpuIrq, IrqLine};
pub use memory::{GuestRam, MemoryError};
pub use size::{parse_size, SizeError};
