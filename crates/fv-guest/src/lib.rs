//! fv-guest (placeholder; see docs/architecture.md).
