//! The fuzz input: how a byte string becomes guest RAM contents and a list
//! of driver actions. Decoding never fails: missing bytes read as zero, so
//! every byte string is a valid input and the fuzzer spends its time on the
//! device, not on a parser.
//!
//! ```text
//! byte 0         flags (see `flag`)
//! byte 1         n = number of operations
//! 4 * n bytes    operations (see `Op::decode`)
//! per fuzzed queue q (device queues, at most `MAX_QUEUES`):
//!   1 byte         queue size = min(1 << (b % 9), the device's maximum)
//!   16 * size      the descriptor table, as is
//!   6 + 2 * size   the available ring, as is (flags, idx, ring, used_event)
//! the rest       raw bytes at `DATA` (request headers, buffers, indirect tables)
//! ```

/// Guest RAM and ring placement, as offsets from the RAM base.
pub mod layout {
    /// Guest RAM size: small, so that arbitrary 16-bit addresses often hit it.
    pub const RAM_SIZE: u64 = 128 << 10;
    /// The base when `flag::HIGH_BASE` is set (where the `virt` board has RAM).
    pub const HIGH_BASE: u64 = 0x8000_0000;
    /// Queues that get rings from the input; further queues stay not ready.
    pub const MAX_QUEUES: usize = 2;
    /// Distance between the ring sets of consecutive queues.
    pub const QUEUE_STRIDE: u64 = 0x3000;
    /// Descriptor table of queue q: `q * QUEUE_STRIDE + DESC` (256 * 16 bytes).
    pub const DESC: u64 = 0;
    /// Available ring of queue q (6 + 2 * 256 bytes).
    pub const AVAIL: u64 = 0x1000;
    /// Used ring of queue q (6 + 8 * 256 bytes).
    pub const USED: u64 = 0x2000;
    /// Where the input's trailing bytes go.
    pub const DATA: u64 = QUEUE_STRIDE * MAX_QUEUES as u64;
}

/// Bits of the flags byte.
pub mod flag {
    /// The driver acks `VIRTIO_RING_F_EVENT_IDX`.
    pub const EVENT_IDX: u8 = 1 << 0;
    /// The driver acks `VIRTIO_RING_F_INDIRECT_DESC`.
    pub const INDIRECT_DESC: u8 = 1 << 1;
    /// The driver acks every device-specific feature the device offers.
    pub const DEVICE_FEATURES: u8 = 1 << 2;
    /// Guest RAM starts at `layout::HIGH_BASE` instead of 0.
    pub const HIGH_BASE: u8 = 1 << 3;
    /// Bits 5..8 select a variant of the device (see the device factory).
    pub const VARIANT_SHIFT: u8 = 5;
}

/// One driver action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Writes `value` to QueueNotify.
    Notify(u16),
    /// Adds `n` to the available index of fuzzed queue `queue % queues`,
    /// then notifies that queue.
    Offer {
        /// Queue.
        queue: u8,
        /// How many chains.
        n: u8,
    },
    /// Resets the device (status 0) and initialises it again on the same
    /// rings.
    Reinit,
    /// Writes `value` to the register (or config byte) at `4 * word`.
    RegWrite {
        /// Register offset / 4.
        word: u8,
        /// Value (zero-extended).
        value: u16,
    },
    /// Reads `1 << (size % 4)` bytes at `4 * word`.
    RegRead {
        /// Register offset / 4.
        word: u8,
        /// Log2 of the access width.
        size: u8,
    },
    /// Reads InterruptStatus and acknowledges what it shows.
    AckInterrupt,
}

impl Op {
    /// `[kind, a, b, c]`, kind taken modulo 6.
    pub fn decode(b: [u8; 4]) -> Op {
        let v = u16::from_le_bytes([b[1], b[2]]);
        match b[0] % 6 {
            0 => Op::Notify(v),
            1 => Op::Offer {
                queue: b[1],
                n: b[2],
            },
            2 => Op::Reinit,
            3 => Op::RegWrite {
                word: b[1],
                value: u16::from_le_bytes([b[2], b[3]]),
            },
            4 => Op::RegRead {
                word: b[1],
                size: b[2],
            },
            _ => Op::AckInterrupt,
        }
    }

    /// The inverse of [`Op::decode`].
    pub fn encode(self) -> [u8; 4] {
        match self {
            Op::Notify(v) => {
                let [lo, hi] = v.to_le_bytes();
                [0, lo, hi, 0]
            }
            Op::Offer { queue, n } => [1, queue, n, 0],
            Op::Reinit => [2, 0, 0, 0],
            Op::RegWrite { word, value } => {
                let [lo, hi] = value.to_le_bytes();
                [3, word, lo, hi]
            }
            Op::RegRead { word, size } => [4, word, size, 0],
            Op::AckInterrupt => [5, 0, 0, 0],
        }
    }
}

/// The rings of one queue as the input gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueImage {
    /// `b % 9` is log2 of the requested queue size.
    pub size_log2: u8,
    /// Descriptor table bytes (zero-padded or cut to 16 * size).
    pub desc: Vec<u8>,
    /// Available ring bytes (zero-padded or cut to 6 + 2 * size).
    pub avail: Vec<u8>,
}

impl QueueImage {
    /// The queue size the driver asks for, before the device's maximum.
    pub fn requested_size(&self) -> u16 {
        1 << (self.size_log2 % 9)
    }
}

/// A decoded fuzz input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Input {
    /// See [`flag`].
    pub flags: u8,
    /// Driver actions, in order.
    pub ops: Vec<Op>,
    /// Rings of the fuzzed queues.
    pub queues: Vec<QueueImage>,
    /// Bytes placed at [`layout::DATA`].
    pub data: Vec<u8>,
}

/// Reads bytes front to back; past the end it yields zeroes.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Vec<u8> {
        let k = n.min(self.0.len());
        let mut v = self.0[..k].to_vec();
        v.resize(n, 0);
        self.0 = &self.0[k..];
        v
    }
    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }
}

impl Input {
    /// The device variant selected by the flags (0..8).
    pub fn variant(flags: u8) -> u8 {
        flags >> flag::VARIANT_SHIFT
    }

    /// Decodes `bytes` for a device with `max_sizes` queue maxima.
    pub fn decode(bytes: &[u8], max_sizes: &[u16]) -> Input {
        let mut c = Cursor(bytes);
        let flags = c.byte();
        let n = usize::from(c.byte());
        let ops = (0..n)
            .map(|_| {
                let b = c.take(4);
                Op::decode([b[0], b[1], b[2], b[3]])
            })
            .collect();
        let queues = max_sizes
            .iter()
            .take(layout::MAX_QUEUES)
            .map(|&max| {
                let size_log2 = c.byte();
                let size = usize::from(queue_size(size_log2, max));
                QueueImage {
                    size_log2,
                    desc: c.take(16 * size),
                    avail: c.take(6 + 2 * size),
                }
            })
            .collect();
        Input {
            flags,
            ops,
            queues,
            data: c.0.to_vec(),
        }
    }

    /// Encodes the input so that [`Input::decode`] gives it back, for a
    /// device with `max_sizes` queue maxima (rings are padded or cut to the
    /// queue size).
    pub fn encode(&self, max_sizes: &[u16]) -> Vec<u8> {
        let mut out = vec![self.flags, self.ops.len().min(255) as u8];
        for op in self.ops.iter().take(255) {
            out.extend_from_slice(&op.encode());
        }
        for (k, &max) in max_sizes.iter().take(layout::MAX_QUEUES).enumerate() {
            let q = self.queues.get(k).cloned().unwrap_or_default();
            let size = usize::from(queue_size(q.size_log2, max));
            out.push(q.size_log2);
            let mut desc = q.desc;
            desc.resize(16 * size, 0);
            out.extend_from_slice(&desc);
            let mut avail = q.avail;
            avail.resize(6 + 2 * size, 0);
            out.extend_from_slice(&avail);
        }
        out.extend_from_slice(&self.data);
        out
    }
}

/// The queue size the harness programs: the requested power of two, capped
/// by the device's maximum (at least 1).
pub fn queue_size(size_log2: u8, max: u16) -> u16 {
    (1u16 << (size_log2 % 9)).min(max.max(1))
}
