//! Descriptor chains taken apart and checked before a device sees them.
//!
//! virtio-queue's iterator stops quietly at a loop, a chain longer than its
//! table, an index past the table or an unreadable descriptor. [`Chain::parse`]
//! turns every such case into an error: a chain is accepted only if its last
//! descriptor ends it (no NEXT flag), every buffer lies wholly inside guest
//! RAM, and device-writable buffers follow the readable ones (virtio 1.2,
//! 2.7.4.2).

use std::ops::Deref;

use virtio_queue::DescriptorChain;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

use crate::GuestMemory;

/// Why a chain was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    /// No descriptor could be read (head index past the table, unreadable
    /// table, empty indirect table).
    #[error("empty descriptor chain")]
    Empty,
    /// The chain does not end: a loop, more descriptors than the table, a
    /// `next` past the table or an unreadable descriptor.
    #[error("descriptor chain does not terminate")]
    Unterminated,
    /// A buffer lies (partly) outside guest RAM.
    #[error("buffer {addr:#x}+{len:#x} is outside guest RAM")]
    OutsideRam {
        /// Guest-physical address.
        addr: u64,
        /// Length.
        len: u32,
    },
    /// A device-readable buffer follows a device-writable one.
    #[error("device-readable buffer after a device-writable one")]
    ReadableAfterWritable,
    /// An access past the end of the chain's buffers.
    #[error("access past the end of the chain's buffers")]
    Overrun,
}

/// One buffer of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// A validated chain: readable buffers, then writable buffers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// Index of the head descriptor (for the used ring).
    pub head: u16,
    /// Device-readable buffers, in order.
    pub readable: Vec<Segment>,
    /// Device-writable buffers, in order.
    pub writable: Vec<Segment>,
}

impl Chain {
    /// Walks `chain` and checks it (see the module docs).
    pub fn parse<M>(chain: DescriptorChain<M>, mem: &GuestMemory) -> Result<Chain, ChainError>
    where
        M: Deref,
        M::Target: vm_memory::GuestMemory,
    {
        let mut out = Chain {
            head: chain.head_index(),
            ..Chain::default()
        };
        let mut ended = false;
        let mut any = false;
        for desc in chain {
            any = true;
            ended = !desc.has_next();
            let seg = Segment {
                addr: desc.addr().0,
                len: desc.len(),
            };
            if seg.len > 0 && !GuestMemoryBackend::check_range(mem, desc.addr(), seg.len as usize) {
                return Err(ChainError::OutsideRam {
                    addr: seg.addr,
                    len: seg.len,
                });
            }
            if desc.is_write_only() {
                out.writable.push(seg);
            } else if out.writable.is_empty() {
                out.readable.push(seg);
            } else {
                return Err(ChainError::ReadableAfterWritable);
            }
        }
        if !any {
            return Err(ChainError::Empty);
        }
        if !ended {
            return Err(ChainError::Unterminated);
        }
        Ok(out)
    }

    /// Total length of the readable buffers.
    pub fn readable_len(&self) -> u64 {
        self.readable.iter().map(|s| u64::from(s.len)).sum()
    }

    /// Total length of the writable buffers.
    pub fn writable_len(&self) -> u64 {
        self.writable.iter().map(|s| u64::from(s.len)).sum()
    }

    /// Copies readable bytes `[offset, offset + buf.len())` into `buf`.
    pub fn read_at(
        &self,
        mem: &GuestMemory,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), ChainError> {
        let mut done = 0usize;
        for (addr, len) in pieces(&self.readable, offset, buf.len() as u64)? {
            let end = done + len;
            mem.read_slice(&mut buf[done..end], GuestAddress(addr))
                .map_err(|_| ChainError::OutsideRam {
                    addr,
                    len: len as u32,
                })?;
            done = end;
        }
        Ok(())
    }

    /// Copies `buf` into the writable bytes `[offset, offset + buf.len())`.
    pub fn write_at(&self, mem: &GuestMemory, offset: u64, buf: &[u8]) -> Result<(), ChainError> {
        let mut done = 0usize;
        for (addr, len) in pieces(&self.writable, offset, buf.len() as u64)? {
            let end = done + len;
            mem.write_slice(&buf[done..end], GuestAddress(addr))
                .map_err(|_| ChainError::OutsideRam {
                    addr,
                    len: len as u32,
                })?;
            done = end;
        }
        Ok(())
    }
}

/// The guest-physical pieces covering `[offset, offset + len)` of the
/// concatenation of `segs`.
fn pieces(
    segs: &[Segment],
    mut offset: u64,
    mut len: u64,
) -> Result<Vec<(u64, usize)>, ChainError> {
    let mut out = Vec::new();
    for s in segs {
        if len == 0 {
            break;
        }
        let slen = u64::from(s.len);
        if offset >= slen {
            offset -= slen;
            continue;
        }
        let n = (slen - offset).min(len);
        // In range: checked against RAM at parse time, and offset + n <= len.
        out.push((s.addr + offset, n as usize));
        len -= n;
        offset = 0;
    }
    if len > 0 {
        return Err(ChainError::Overrun);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fv_machine::GuestRam;
    use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
    use virtio_queue::mock::MockSplitQueue;
    use virtio_queue::{Queue, QueueOwnedT};

    const F_NEXT: u16 = 1;
    const F_WRITE: u16 = 2;
    const F_INDIRECT: u16 = 4;

    fn ram() -> GuestRam {
        GuestRam::new(0, 1 << 20).unwrap()
    }

    fn desc(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
        RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next))
    }

    /// Puts `descs` in the table at index 0.., offers head 0, parses it.
    fn parse(mem: &GuestMemory, descs: &[RawDescriptor]) -> Result<Chain, ChainError> {
        let vq = MockSplitQueue::new(mem, 16);
        for (i, d) in descs.iter().enumerate() {
            vq.desc_table().store(i as u16, *d).unwrap();
        }
        vq.avail().ring().ref_at(0).unwrap().store(0);
        vq.avail().idx().store(1);
        let mut q: Queue = vq.create_queue().unwrap();
        let chain = q.iter(mem).unwrap().next().unwrap();
        Chain::parse(chain, mem)
    }

    #[test]
    fn readable_then_writable_chain() {
        let ram = ram();
        let mem = ram.memory();
        let c = parse(
            mem,
            &[
                desc(0x8000, 16, F_NEXT, 1),
                desc(0x9000, 512, F_NEXT | F_WRITE, 2),
                desc(0xa000, 1, F_WRITE, 0),
            ],
        )
        .unwrap();
        assert_eq!(
            c.readable,
            vec![Segment {
                addr: 0x8000,
                len: 16
            }]
        );
        assert_eq!(c.writable.len(), 2);
        assert_eq!(c.writable_len(), 513);
        c.write_at(mem, 510, &[1, 2, 3]).unwrap();
        let mut b = [0u8; 2];
        mem.read_slice(&mut b, GuestAddress(0x91fe)).unwrap();
        assert_eq!(b, [1, 2]);
        mem.read_slice(&mut b[..1], GuestAddress(0xa000)).unwrap();
        assert_eq!(b[0], 3);
        assert_eq!(c.write_at(mem, 512, &[0, 0]), Err(ChainError::Overrun));
    }

    #[test]
    fn loop_is_unterminated() {
        let ram = ram();
        let mem = ram.memory();
        let r = parse(
            mem,
            &[desc(0x8000, 16, F_NEXT, 1), desc(0x9000, 16, F_NEXT, 0)],
        );
        assert_eq!(r, Err(ChainError::Unterminated));
        // A descriptor pointing at itself.
        let r = parse(mem, &[desc(0x8000, 16, F_NEXT, 0)]);
        assert_eq!(r, Err(ChainError::Unterminated));
    }

    #[test]
    fn next_past_the_table_is_unterminated() {
        let ram = ram();
        let r = parse(ram.memory(), &[desc(0x8000, 16, F_NEXT, 200)]);
        assert_eq!(r, Err(ChainError::Unterminated));
    }

    #[test]
    fn buffer_outside_ram_is_rejected() {
        let ram = ram();
        let mem = ram.memory();
        let r = parse(mem, &[desc(0xf_ff00, 0x200, 0, 0)]);
        assert!(matches!(r, Err(ChainError::OutsideRam { .. })), "{r:?}");
        let r = parse(mem, &[desc(u64::MAX - 4, 16, F_WRITE, 0)]);
        assert!(matches!(r, Err(ChainError::OutsideRam { .. })), "{r:?}");
    }

    #[test]
    fn overflowing_lengths_end_the_chain() {
        let ram = ram();
        // Two buffers whose lengths sum past 2^32: virtio-queue stops at the
        // second, which still has NEXT set in the first.
        let r = parse(
            ram.memory(),
            &[desc(0x8000, u32::MAX, F_NEXT, 1), desc(0x9000, 16, 0, 0)],
        );
        assert!(r.is_err(), "{r:?}");
    }

    #[test]
    fn readable_after_writable_is_rejected() {
        let ram = ram();
        let r = parse(
            ram.memory(),
            &[
                desc(0x8000, 16, F_NEXT | F_WRITE, 1),
                desc(0x9000, 16, 0, 0),
            ],
        );
        assert_eq!(r, Err(ChainError::ReadableAfterWritable));
    }

    #[test]
    fn indirect_table_is_followed() {
        let ram = ram();
        let mem = ram.memory();
        // Indirect table at 0x4000 with two entries.
        mem.write_obj(desc(0x8000, 16, F_NEXT, 1), GuestAddress(0x4000))
            .unwrap();
        mem.write_obj(desc(0x9000, 1, F_WRITE, 0), GuestAddress(0x4010))
            .unwrap();
        let c = parse(mem, &[desc(0x4000, 32, F_INDIRECT, 0)]).unwrap();
        assert_eq!(
            c.readable,
            vec![Segment {
                addr: 0x8000,
                len: 16
            }]
        );
        assert_eq!(
            c.writable,
            vec![Segment {
                addr: 0x9000,
                len: 1
            }]
        );
        // A loop inside the indirect table.
        mem.write_obj(desc(0x9000, 1, F_WRITE | F_NEXT, 0), GuestAddress(0x4010))
            .unwrap();
        let r = parse(mem, &[desc(0x4000, 32, F_INDIRECT, 0)]);
        assert_eq!(r, Err(ChainError::Unterminated));
        // An indirect table outside RAM, and an empty one.
        let r = parse(mem, &[desc(0xfff_0000, 32, F_INDIRECT, 0)]);
        assert!(r.is_err());
        let r = parse(mem, &[desc(0x4000, 0, F_INDIRECT, 0)]);
        assert_eq!(r, Err(ChainError::Empty));
    }
}
