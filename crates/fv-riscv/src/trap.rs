//! Synchronous exceptions and interrupt numbers (privileged spec 3.1.15,
//! table "Machine cause register values").

/// A synchronous exception: `mcause`/`scause` code and the trap value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trap {
    /// Exception code (interrupt bit clear).
    pub cause: u64,
    /// Value for `xtval`.
    pub tval: u64,
}

impl Trap {
    /// A trap with this cause and value.
    #[inline]
    pub const fn new(cause: u64, tval: u64) -> Self {
        Self { cause, tval }
    }
}

/// Exception codes.
pub mod cause {
    pub const INSN_MISALIGNED: u64 = 0;
    pub const INSN_ACCESS: u64 = 1;
    pub const ILLEGAL_INSN: u64 = 2;
    pub const BREAKPOINT: u64 = 3;
    pub const LOAD_MISALIGNED: u64 = 4;
    pub const LOAD_ACCESS: u64 = 5;
    pub const STORE_MISALIGNED: u64 = 6;
    pub const STORE_ACCESS: u64 = 7;
    pub const ECALL_U: u64 = 8;
    pub const ECALL_S: u64 = 9;
    pub const ECALL_M: u64 = 11;
    pub const INSN_PAGE_FAULT: u64 = 12;
    pub const LOAD_PAGE_FAULT: u64 = 13;
    pub const STORE_PAGE_FAULT: u64 = 15;
}

/// Interrupt numbers, which are also the bit positions in `mip`/`mie`.
pub mod irq {
    pub const SSI: u64 = 1;
    pub const MSI: u64 = 3;
    pub const STI: u64 = 5;
    pub const MTI: u64 = 7;
    pub const SEI: u64 = 9;
    pub const MEI: u64 = 11;
    /// The interrupts S-mode can see and that may be delegated.
    pub const S_MASK: u64 = (1 << SSI) | (1 << STI) | (1 << SEI);
    /// All implemented interrupts.
    pub const ALL_MASK: u64 = S_MASK | (1 << MSI) | (1 << MTI) | (1 << MEI);
    /// Priority order for taking interrupts (privileged spec 3.1.9).
    pub const PRIORITY: [u64; 6] = [MEI, MSI, MTI, SEI, SSI, STI];
}
