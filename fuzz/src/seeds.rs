//! The seed corpus, generated: each seed is a small, valid (or deliberately
//! hostile) driver session, with a check of what the device must do with
//! it. `corpus/virtio_blk_queue/seed-*` are these seeds, encoded.
//!
//! ```sh
//! cargo test --manifest-path fuzz/Cargo.toml                          # check
//! FV_FUZZ_WRITE_CORPUS=1 cargo test --manifest-path fuzz/Cargo.toml   # rewrite
//! ```
//!
//! Other files in the corpus directory (inputs the fuzzer found, kept as
//! regressions) must run without an oracle violation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fv_virtio::{Chain, Segment};
use fv_virtio::{DeviceError, GuestMemory, QueueHandler, VirtioDevice};

use crate::devices::{self, blk, disk_pattern, BLK_QCOW2, BLK_READ_ONLY, SERIAL};
use crate::harness::{run, run_input_within, DeviceUnderTest, Outcome, Violation};
use crate::input::{flag, layout, Input, Op, QueueImage};

const F_NEXT: u16 = 1;
const F_WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;

/// virtio-blk request types (virtio 1.2, 5.2.6).
const IN: u32 = 0;
const OUT: u32 = 1;
const FLUSH: u32 = 4;
const GET_ID: u32 = 8;
const WRITE_ZEROES: u32 = 13;

/// Queue size of the seeds: 16 (log2 4).
const SIZE_LOG2: u8 = 4;

fn desc(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[0..8].copy_from_slice(&addr.to_le_bytes());
    d[8..12].copy_from_slice(&len.to_le_bytes());
    d[12..14].copy_from_slice(&flags.to_le_bytes());
    d[14..16].copy_from_slice(&next.to_le_bytes());
    d
}

/// One queue: descriptors from index 0, `heads` in the available ring, the
/// available index left at 0 (an `Op::Offer` publishes them).
fn queue(descs: &[[u8; 16]], heads: &[u16]) -> QueueImage {
    let mut avail = vec![0u8; 4];
    for h in heads {
        avail.extend_from_slice(&h.to_le_bytes());
    }
    let size = 1usize << SIZE_LOG2;
    let mut desc = descs.concat();
    desc.resize(16 * size, 0);
    avail.resize(6 + 2 * size, 0);
    QueueImage {
        size_log2: SIZE_LOG2,
        desc,
        avail,
    }
}

/// The data area, addressed by guest-physical address (`base + DATA..`).
struct Data {
    base: u64,
    bytes: Vec<u8>,
}

impl Data {
    fn new(base: u64) -> Self {
        Data {
            base,
            bytes: Vec::new(),
        }
    }
    fn put(&mut self, addr: u64, b: &[u8]) -> &mut Self {
        let off = (addr - self.base - layout::DATA) as usize;
        if self.bytes.len() < off + b.len() {
            self.bytes.resize(off + b.len(), 0);
        }
        self.bytes[off..off + b.len()].copy_from_slice(b);
        self
    }
    fn header(&mut self, addr: u64, kind: u32, sector: u64) -> &mut Self {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&kind.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        self.put(addr, &h)
    }
}

const D: u64 = layout::DATA;

struct Seed {
    name: &'static str,
    input: Input,
    check: fn(&Outcome),
}

fn completed(o: &Outcome, n: u16) {
    assert!(!o.needs_reset, "device needs reset: status {:#x}", o.status);
    assert_eq!(o.used_idx[0], n, "used index");
    assert!(o.memory_checked, "the memory oracle ran");
}

fn sectors(first: usize, n: usize) -> Vec<u8> {
    disk_pattern()[first * 512..(first + n) * 512].to_vec()
}

fn seeds() -> Vec<Seed> {
    let offer1 = vec![Op::Offer { queue: 0, n: 1 }];
    let mut out = Vec::new();

    // Read sectors 3 and 4 into two buffers.
    let mut data = Data::new(0);
    data.header(D, IN, 3);
    out.push(Seed {
        name: "read",
        input: Input {
            flags: 0,
            ops: offer1.clone(),
            queues: vec![queue(
                &[
                    desc(D, 16, F_NEXT, 1),
                    desc(D + 0x1000, 512, F_NEXT | F_WRITE, 2),
                    desc(D + 0x2000, 512, F_NEXT | F_WRITE, 3),
                    desc(D + 0x100, 1, F_WRITE, 0),
                ],
                &[0],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 1);
            assert_eq!(o.bytes(D + 0x100, 1), [0], "status OK");
            assert_eq!(o.bytes(D + 0x1000, 512), sectors(3, 1));
            assert_eq!(o.bytes(D + 0x2000, 512), sectors(4, 1));
        },
    });

    // Write sector 10, then read it back, in one notification.
    let mut data = Data::new(0);
    data.header(D, OUT, 10)
        .put(D + 0x1000, &[0xab; 512])
        .header(D + 0x200, IN, 10);
    let write_read = vec![queue(
        &[
            desc(D, 16, F_NEXT, 1),
            desc(D + 0x1000, 512, F_NEXT, 2),
            desc(D + 0x100, 1, F_WRITE, 0),
            desc(D + 0x200, 16, F_NEXT, 4),
            desc(D + 0x2000, 512, F_NEXT | F_WRITE, 5),
            desc(D + 0x300, 1, F_WRITE, 0),
        ],
        &[0, 3],
    )];
    out.push(Seed {
        name: "write-read",
        input: Input {
            flags: 0,
            ops: vec![Op::Offer { queue: 0, n: 2 }],
            queues: write_read.clone(),
            data: data.bytes.clone(),
        },
        check: |o| {
            completed(o, 2);
            assert_eq!(o.bytes(D + 0x100, 1), [0]);
            assert_eq!(o.bytes(D + 0x300, 1), [0]);
            assert_eq!(o.bytes(D + 0x2000, 512), [0xab; 512]);
        },
    });

    // The same on a qcow2 image, with event index, one chain per
    // notification.
    out.push(Seed {
        name: "qcow2-write-read",
        input: Input {
            flags: flag::EVENT_IDX | (BLK_QCOW2 << flag::VARIANT_SHIFT),
            ops: vec![Op::Offer { queue: 0, n: 1 }, Op::Offer { queue: 0, n: 1 }],
            queues: write_read.clone(),
            data: data.bytes.clone(),
        },
        check: |o| {
            completed(o, 2);
            assert_eq!(o.bytes(D + 0x100, 1), [0]);
            assert_eq!(o.bytes(D + 0x300, 1), [0]);
            assert_eq!(o.bytes(D + 0x2000, 512), [0xab; 512]);
        },
    });

    // A read-only disk refuses the write (IOERR) and reads the old data.
    out.push(Seed {
        name: "read-only-write",
        input: Input {
            flags: BLK_READ_ONLY << flag::VARIANT_SHIFT,
            ops: vec![Op::Offer { queue: 0, n: 2 }],
            queues: write_read,
            data: data.bytes,
        },
        check: |o| {
            completed(o, 2);
            assert_eq!(o.bytes(D + 0x100, 1), [1], "IOERR");
            assert_eq!(o.bytes(D + 0x300, 1), [0]);
            assert_eq!(o.bytes(D + 0x2000, 512), sectors(10, 1));
        },
    });

    // FLUSH, then GET_ID.
    let mut data = Data::new(0);
    data.header(D, FLUSH, 0).header(D + 0x200, GET_ID, 0);
    out.push(Seed {
        name: "flush-get-id",
        input: Input {
            flags: 0,
            ops: vec![Op::Offer { queue: 0, n: 2 }],
            queues: vec![queue(
                &[
                    desc(D, 16, F_NEXT, 1),
                    desc(D + 0x100, 1, F_WRITE, 0),
                    desc(D + 0x200, 16, F_NEXT, 3),
                    desc(D + 0x1000, 20, F_NEXT | F_WRITE, 4),
                    desc(D + 0x300, 1, F_WRITE, 0),
                ],
                &[0, 2],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 2);
            assert_eq!(o.bytes(D + 0x100, 1), [0]);
            assert_eq!(o.bytes(D + 0x300, 1), [0]);
            assert_eq!(&o.bytes(D + 0x1000, 20)[..SERIAL.len()], SERIAL.as_bytes());
        },
    });

    // WRITE_ZEROES of sectors 2..4 (device features acked), then a read of
    // sector 2.
    let mut data = Data::new(0);
    let mut seg = [0u8; 16];
    seg[0..8].copy_from_slice(&2u64.to_le_bytes());
    seg[8..12].copy_from_slice(&2u32.to_le_bytes());
    data.header(D, WRITE_ZEROES, 0)
        .put(D + 0x10, &seg)
        .header(D + 0x200, IN, 2);
    out.push(Seed {
        name: "write-zeroes",
        input: Input {
            flags: flag::DEVICE_FEATURES,
            ops: vec![Op::Offer { queue: 0, n: 2 }],
            queues: vec![queue(
                &[
                    desc(D, 32, F_NEXT, 1),
                    desc(D + 0x100, 1, F_WRITE, 0),
                    desc(D + 0x200, 16, F_NEXT, 3),
                    desc(D + 0x1000, 512, F_NEXT | F_WRITE, 4),
                    desc(D + 0x300, 1, F_WRITE, 0),
                ],
                &[0, 2],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 2);
            assert_eq!(o.bytes(D + 0x100, 1), [0]);
            assert_eq!(o.bytes(D + 0x1000, 512), [0; 512]);
        },
    });

    // qcow2: write sector 1, WRITE_ZEROES of sectors 0..2 (part of a
    // cluster), read sector 1 back as zeroes.
    let mut data = Data::new(0);
    let mut seg = [0u8; 16];
    seg[8..12].copy_from_slice(&2u32.to_le_bytes());
    data.header(D, OUT, 1)
        .put(D + 0x1000, &[0xcd; 512])
        .header(D + 0x200, WRITE_ZEROES, 0)
        .put(D + 0x210, &seg)
        .header(D + 0x400, IN, 1)
        .put(D + 0x2000, &[0xee; 512]);
    out.push(Seed {
        name: "qcow2-write-zeroes",
        input: Input {
            flags: flag::DEVICE_FEATURES | (BLK_QCOW2 << flag::VARIANT_SHIFT),
            ops: vec![Op::Offer { queue: 0, n: 3 }],
            queues: vec![queue(
                &[
                    desc(D, 16, F_NEXT, 1),
                    desc(D + 0x1000, 512, F_NEXT, 2),
                    desc(D + 0x100, 1, F_WRITE, 0),
                    desc(D + 0x200, 32, F_NEXT, 4),
                    desc(D + 0x300, 1, F_WRITE, 0),
                    desc(D + 0x400, 16, F_NEXT, 6),
                    desc(D + 0x2000, 512, F_NEXT | F_WRITE, 7),
                    desc(D + 0x500, 1, F_WRITE, 0),
                ],
                &[0, 3, 5],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 3);
            assert_eq!(o.bytes(D + 0x100, 1), [0]);
            assert_eq!(o.bytes(D + 0x300, 1), [0]);
            assert_eq!(o.bytes(D + 0x500, 1), [0]);
            assert_eq!(o.bytes(D + 0x2000, 512), [0; 512]);
        },
    });

    // Reads past the end of the disk and with an unknown request type
    // complete with IOERR and UNSUPP.
    let mut data = Data::new(0);
    data.header(D, IN, 127).header(D + 0x200, 99, 0);
    out.push(Seed {
        name: "past-end-and-unknown",
        input: Input {
            flags: 0,
            ops: vec![Op::Offer { queue: 0, n: 2 }],
            queues: vec![queue(
                &[
                    desc(D, 16, F_NEXT, 1),
                    desc(D + 0x1000, 1024, F_NEXT | F_WRITE, 2),
                    desc(D + 0x100, 1, F_WRITE, 0),
                    desc(D + 0x200, 16, F_NEXT, 4),
                    desc(D + 0x300, 1, F_WRITE, 0),
                ],
                &[0, 3],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 2);
            assert_eq!(o.bytes(D + 0x100, 1), [1], "IOERR");
            assert_eq!(o.bytes(D + 0x300, 1), [2], "UNSUPP");
        },
    });

    // An indirect table (read of sector 1).
    let mut data = Data::new(0);
    data.header(D, IN, 1)
        .put(D + 0x400, &desc(D, 16, F_NEXT, 1))
        .put(D + 0x410, &desc(D + 0x1000, 512, F_NEXT | F_WRITE, 2))
        .put(D + 0x420, &desc(D + 0x100, 1, F_WRITE, 0));
    out.push(Seed {
        name: "indirect",
        input: Input {
            flags: flag::INDIRECT_DESC,
            ops: offer1.clone(),
            queues: vec![queue(&[desc(D + 0x400, 48, F_INDIRECT, 0)], &[0])],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 1);
            assert_eq!(o.bytes(D + 0x100, 1), [0]);
            assert_eq!(o.bytes(D + 0x1000, 512), sectors(1, 1));
        },
    });

    // A descriptor loop: the device must ask for a reset.
    let mut data = Data::new(0);
    data.header(D, IN, 0);
    out.push(Seed {
        name: "loop",
        input: Input {
            flags: 0,
            ops: offer1.clone(),
            queues: vec![queue(
                &[
                    desc(D, 16, F_NEXT, 1),
                    desc(D + 0x100, 1, F_WRITE | F_NEXT, 0),
                ],
                &[0],
            )],
            data: data.bytes.clone(),
        },
        check: |o| assert!(o.needs_reset, "status {:#x}", o.status),
    });

    // A buffer outside guest RAM.
    out.push(Seed {
        name: "outside-ram",
        input: Input {
            flags: 0,
            ops: offer1.clone(),
            queues: vec![queue(
                &[desc(D, 16, F_NEXT, 1), desc(0xffff_0000, 1, F_WRITE, 0)],
                &[0],
            )],
            data: data.bytes,
        },
        check: |o| assert!(o.needs_reset, "status {:#x}", o.status),
    });

    // More chains offered than the queue holds.
    out.push(Seed {
        name: "bad-avail-idx",
        input: Input {
            flags: 0,
            ops: vec![Op::Offer { queue: 0, n: 200 }],
            queues: vec![queue(&[], &[])],
            data: Vec::new(),
        },
        check: |o| assert!(o.needs_reset, "status {:#x}", o.status),
    });

    // Register traffic around a read: config reads, an interrupt
    // acknowledgement, a reset and re-initialisation that serves the chain
    // again, a notification of a queue that does not exist.
    let mut data = Data::new(0);
    data.header(D, IN, 7);
    out.push(Seed {
        name: "reinit",
        input: Input {
            flags: 0,
            ops: vec![
                Op::RegRead {
                    word: 0x40,
                    size: 3,
                },
                Op::Offer { queue: 0, n: 1 },
                Op::AckInterrupt,
                Op::Reinit,
                Op::Offer { queue: 0, n: 0 },
                Op::Notify(5),
            ],
            queues: vec![queue(
                &[
                    desc(D, 16, F_NEXT, 1),
                    desc(D + 0x1000, 512, F_NEXT | F_WRITE, 2),
                    desc(D + 0x100, 1, F_WRITE, 0),
                ],
                &[0],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 1);
            assert_eq!(o.bytes(D + 0x1000, 512), sectors(7, 1));
        },
    });

    // RAM where the virt board has it.
    let hb = layout::HIGH_BASE;
    let mut data = Data::new(hb);
    data.header(hb + D, IN, 9);
    out.push(Seed {
        name: "high-base-read",
        input: Input {
            flags: flag::HIGH_BASE,
            ops: offer1,
            queues: vec![queue(
                &[
                    desc(hb + D, 16, F_NEXT, 1),
                    desc(hb + D + 0x1000, 512, F_NEXT | F_WRITE, 2),
                    desc(hb + D + 0x100, 1, F_WRITE, 0),
                ],
                &[0],
            )],
            data: data.bytes,
        },
        check: |o| {
            completed(o, 1);
            let hb = layout::HIGH_BASE;
            assert_eq!(o.bytes(hb + D + 0x100, 1), [0]);
            assert_eq!(o.bytes(hb + D + 0x1000, 512), sectors(9, 1));
        },
    });
    out
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn blk_maxes() -> Vec<u16> {
    blk(0).device.queue_max_sizes()
}

#[test]
fn seeds_do_what_they_say() {
    let maxes = blk_maxes();
    for s in seeds() {
        let bytes = s.input.encode(&maxes);
        assert_eq!(
            Input::decode(&bytes, &maxes),
            s.input,
            "{}: round trip",
            s.name
        );
        match run(&bytes, blk) {
            Ok(o) => (s.check)(&o),
            Err(v) => panic!("seed {}: {v}", s.name),
        }
    }
}

#[test]
fn corpus_holds_the_seeds() {
    let maxes = blk_maxes();
    let dir = corpus_dir("virtio_blk_queue");
    let write = std::env::var_os("FV_FUZZ_WRITE_CORPUS").is_some();
    for s in seeds() {
        let path = dir.join(format!("seed-{}", s.name));
        let bytes = s.input.encode(&maxes);
        if write {
            std::fs::create_dir_all(&dir).expect("corpus directory");
            std::fs::write(&path, &bytes).expect("write seed");
        } else {
            let have = std::fs::read(&path).unwrap_or_default();
            assert!(
                have == bytes,
                "{} is missing or stale: FV_FUZZ_WRITE_CORPUS=1 cargo test --manifest-path fuzz/Cargo.toml",
                path.display()
            );
        }
    }
}

#[test]
fn every_corpus_file_passes_the_oracles() {
    for &(target, factory) in devices::TARGETS {
        let dir = corpus_dir(target);
        let entries = std::fs::read_dir(&dir).expect("corpus directory");
        for e in entries {
            let path = e.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("read corpus file");
            if let Err(v) = run(&bytes, factory) {
                panic!("{}: {v}", path.display());
            }
        }
    }
}

/// A device whose handler misbehaves, to show the oracles can fail.
struct Rogue {
    /// Writes a byte here (outside any buffer) for every chain.
    scribble: Option<u64>,
    /// Sleeps this long per chain.
    delay: Duration,
}

impl VirtioDevice for Rogue {
    fn device_type(&self) -> u32 {
        fv_virtio::device_type::RNG
    }
    fn name(&self) -> String {
        "rogue".into()
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![16]
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn activate(&mut self, _acked: u64) -> Result<Box<dyn QueueHandler>, DeviceError> {
        Ok(Box::new(Rogue {
            scribble: self.scribble,
            delay: self.delay,
        }))
    }
}

impl QueueHandler for Rogue {
    fn handle(&mut self, _q: usize, mem: &GuestMemory, _c: &Chain) -> Result<u32, DeviceError> {
        if let Some(addr) = self.scribble {
            // Through a made-up chain: the fuzz crate has no vm-memory
            // dependency of its own.
            let stray = Chain {
                head: 0,
                readable: Vec::new(),
                writable: vec![Segment { addr, len: 1 }],
            };
            stray.write_at(mem, 0, &[0x5a])?;
        }
        std::thread::sleep(self.delay);
        Ok(0)
    }
}

fn rogue_input() -> Input {
    Input {
        flags: 0,
        ops: vec![Op::Offer { queue: 0, n: 1 }],
        queues: vec![queue(&[desc(D, 16, F_WRITE, 0)], &[0])],
        data: Vec::new(),
    }
}

fn rogue(scribble: Option<u64>, delay: Duration) -> DeviceUnderTest {
    DeviceUnderTest {
        device: Box::new(Rogue { scribble, delay }),
        eager_queues: 1,
        keep: Box::new(()),
    }
}

#[test]
fn oracle_catches_writes_outside_writable_buffers() {
    // Inside the declared buffer: fine.
    let o = run_input_within(
        &rogue_input(),
        rogue(Some(D + 3), Duration::ZERO),
        Duration::from_secs(10),
    )
    .expect("write inside the buffer");
    assert_eq!(o.used_idx, vec![1]);
    // One byte past it: caught.
    let r = run_input_within(
        &rogue_input(),
        rogue(Some(D + 16), Duration::ZERO),
        Duration::from_secs(10),
    );
    assert!(
        matches!(r, Err(Violation::WroteOutside { addr, .. }) if addr == D + 16),
        "{r:?}"
    );
}

#[test]
fn oracle_catches_a_device_that_does_not_finish() {
    let r = run_input_within(
        &rogue_input(),
        rogue(None, Duration::from_millis(500)),
        Duration::from_millis(50),
    );
    assert!(
        matches!(r, Err(Violation::Stalled { queue: 0, .. })),
        "{r:?}"
    );
}

#[test]
fn short_and_empty_inputs_are_harmless() {
    for bytes in [&[][..], &[0xff], &[0, 3, 0, 0]] {
        let o = run(bytes, blk).expect("no violation");
        assert!(!o.needs_reset, "{bytes:?}: status {:#x}", o.status);
    }
}
