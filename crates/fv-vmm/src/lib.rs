//! fv-vmm (placeholder; see docs/architecture.md).
