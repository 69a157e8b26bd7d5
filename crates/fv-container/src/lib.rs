//! fv-container (placeholder; see docs/architecture.md).
