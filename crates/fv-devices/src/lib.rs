//! fv-devices (placeholder; see docs/architecture.md).
