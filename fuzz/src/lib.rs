//! Fuzzing the virtio back-ends through the MMIO transport.
//!
//! A fuzz input (see [`input`]) becomes guest RAM holding a descriptor
//! table, an available ring and raw bytes for each queue of a device, plus
//! a list of driver actions (notifications, resets, register accesses).
//! [`harness::run`] sets the device up through the real
//! [`fv_virtio::MmioTransport`] registers, performs the actions and checks
//! the oracles: nothing panics; after each notification the device uses
//! every offered chain or sets DEVICE_NEEDS_RESET within a bounded time;
//! and guest RAM changes only where some descriptor made it
//! device-writable (or in the used rings). Out-of-RAM accesses cannot go
//! unnoticed: guest RAM is bounds-checked and the rest of the address space
//! is simply not mapped.
//!
//! Devices come from [`devices`] factories; `seeds` generates the corpus
//! in `corpus/<target>/` and tests that each seed does what it says.

pub mod devices;
pub mod harness;
pub mod input;
#[cfg(test)]
mod seeds;

pub use harness::{run, run_input, DeviceUnderTest, Factory, Outcome, Violation};
pub use input::{Input, Op, QueueImage};
