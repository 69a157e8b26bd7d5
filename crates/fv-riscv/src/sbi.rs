//! The SBI implementation: the hypervisor answers the S-mode kernel's
//! `ecall`s itself, so guests boot without firmware (SBI spec v2.0).
//! Extensions: BASE, TIME, IPI, RFENCE, HSM, SRST, DBCN, PMU (the three
//! fixed counters only) and the legacy (v0.1) calls. Anything else returns `SBI_ERR_NOT_SUPPORTED`.

use std::sync::atomic::Ordering;

use fv_machine::ExitReason;

use crate::hart::{hsm, Hart};
use crate::trap::irq;

pub const SBI_SUCCESS: i64 = 0;
pub const SBI_ERR_NOT_SUPPORTED: i64 = -2;
pub const SBI_ERR_INVALID_PARAM: i64 = -3;
pub const SBI_ERR_INVALID_ADDRESS: i64 = -5;
pub const SBI_ERR_ALREADY_AVAILABLE: i64 = -6;

pub const EXT_BASE: u64 = 0x10;
pub const EXT_TIME: u64 = 0x5449_4D45;
pub const EXT_PMU: u64 = 0x50_4D55;
pub const EXT_IPI: u64 = 0x73_5049;
pub const EXT_RFENCE: u64 = 0x5246_4E43;
pub const EXT_HSM: u64 = 0x48_534D;
pub const EXT_SRST: u64 = 0x5352_5354;
pub const EXT_DBCN: u64 = 0x4442_434E;

/// SBI specification version we implement: 2.0.
const SPEC_VERSION: u64 = 2 << 24;
/// Implementation ID: not one of the IDs the SBI spec assigns; "FV".
pub const IMPL_ID: u64 = 0x4656;

fn implemented(eid: u64) -> bool {
    matches!(
        eid,
        EXT_BASE | EXT_TIME | EXT_IPI | EXT_RFENCE | EXT_HSM | EXT_SRST | EXT_DBCN | EXT_PMU | 0x00
            ..=0x08
    )
}

/// Handles an `ecall` from S-mode: a7 = EID, a6 = FID, a0..a5 = arguments;
/// returns error in a0 and value in a1 (legacy calls: a0 only).
pub(crate) fn handle_ecall(h: &mut Hart) {
    let eid = h.x[17];
    let fid = h.x[16];
    let a = [h.x[10], h.x[11], h.x[12], h.x[13], h.x[14], h.x[15]];
    if eid <= 0x08 {
        let ret = legacy(h, eid, a);
        h.x[10] = ret as u64;
        return;
    }
    let (err, val) = match eid {
        EXT_BASE => base(fid, a[0]),
        EXT_TIME if fid == 0 => {
            set_timer(h, a[0]);
            (SBI_SUCCESS, 0)
        }
        EXT_IPI if fid == 0 => (send_ipi(h, a[0], a[1]), 0),
        EXT_RFENCE => match fid {
            0..=2 => (remote_fence(h, a[0], a[1]), 0),
            _ => (SBI_ERR_NOT_SUPPORTED, 0),
        },
        EXT_HSM => hsm_call(h, fid, a),
        EXT_SRST if fid == 0 => system_reset(h, a[0], a[1]),
        EXT_DBCN => dbcn(h, fid, a),
        EXT_PMU => pmu(fid, a),
        _ => {
            tracing::debug!(hart = h.id, eid, fid, "unsupported SBI call");
            (SBI_ERR_NOT_SUPPORTED, 0)
        }
    };
    h.x[10] = err as u64;
    h.x[11] = val;
}

fn base(fid: u64, arg: u64) -> (i64, u64) {
    match fid {
        0 => (SBI_SUCCESS, SPEC_VERSION),
        1 => (SBI_SUCCESS, IMPL_ID),
        2 => (
            SBI_SUCCESS,
            env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0),
        ),
        3 => (SBI_SUCCESS, implemented(arg) as u64),
        4..=6 => (SBI_SUCCESS, 0), // mvendorid, marchid, mimpid
        _ => (SBI_ERR_NOT_SUPPORTED, 0),
    }
}

/// PMU extension (SBI 2.0, chapter 11) for the three fixed counters, cycle,
/// time and instret (counter indexes 0..3, CSRs 0xc00..0xc02), which always
/// run; no programmable events, no firmware counters, no snapshots.
///
/// Why at all: Linux's SBI PMU driver is what sets `scounteren.TM`, which
/// lets user programs read `time` (the vDSO's clock_gettime, busybox ping).
/// Without this extension Linux falls back to its legacy PMU, leaves
/// scounteren 0, and every user-mode `rdtime` is an illegal instruction.
fn pmu(fid: u64, a: [u64; 6]) -> (i64, u64) {
    const FIXED: u64 = 3;
    match fid {
        // sbi_pmu_num_counters
        0 => (SBI_SUCCESS, FIXED),
        // sbi_pmu_counter_get_info: CSR number, width - 1 in bits 12..18,
        // type hardware (bit XLEN-1 clear).
        1 if a[0] < FIXED => (SBI_SUCCESS, (0xc00 + a[0]) | (63 << 12)),
        1 => (SBI_ERR_INVALID_PARAM, 0),
        // counter_start / counter_stop on fixed, free-running counters:
        // nothing to do for the ones that exist.
        // (a0 = first counter index, a1 = mask of counters from it.)
        3 | 4 if a[0] < FIXED && a[1] >> (FIXED - a[0]) == 0 => (SBI_SUCCESS, 0),
        3 | 4 => (SBI_ERR_INVALID_PARAM, 0),
        // counter_config_matching (no programmable events), firmware
        // counters, snapshot shared memory, event info.
        _ => (SBI_ERR_NOT_SUPPORTED, 0),
    }
}

fn set_timer(h: &mut Hart, when: u64) {
    h.sbi_timer = when;
    h.refresh_timer_now();
    h.end_batch = true;
}

/// The harts selected by (hart_mask, hart_mask_base); base = -1 means all.
fn selected_harts(h: &Hart, mask: u64, base: u64) -> Result<Vec<usize>, i64> {
    let n = h.plat.harts.len();
    if base == u64::MAX {
        return Ok((0..n).collect());
    }
    let mut v = Vec::new();
    for bit in 0..64u64 {
        if mask & (1 << bit) != 0 {
            let id = base.checked_add(bit).ok_or(SBI_ERR_INVALID_PARAM)?;
            if id >= n as u64 {
                return Err(SBI_ERR_INVALID_PARAM);
            }
            v.push(id as usize);
        }
    }
    Ok(v)
}

fn send_ipi(h: &mut Hart, mask: u64, base: u64) -> i64 {
    match selected_harts(h, mask, base) {
        Ok(targets) => {
            for t in targets {
                h.plat.harts[t].irq.raise(1 << irq::SSI);
            }
            h.end_batch = true;
            SBI_SUCCESS
        }
        Err(e) => e,
    }
}

/// Remote FENCE.I / SFENCE.VMA: every selected hart flushes its TLB (and
/// would drop any cached code) before the call returns, as the SBI spec's
/// synchronous semantics require.
fn remote_fence(h: &mut Hart, mask: u64, base: u64) -> i64 {
    let targets = match selected_harts(h, mask, base) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let mut waits = Vec::new();
    for t in targets {
        if t == h.id {
            h.tlb.flush();
            h.icache.flush();
            continue;
        }
        let s = &h.plat.harts[t];
        let gen = s.fence_req.fetch_add(1, Ordering::AcqRel) + 1;
        s.irq.kick();
        waits.push((t, gen));
    }
    for (t, gen) in waits {
        loop {
            let s = &h.plat.harts[t];
            if s.fence_done.load(Ordering::Acquire) >= gen || h.plat.control.should_stop() {
                break;
            }
            // Serve requests aimed at us meanwhile, so two harts fencing
            // each other cannot deadlock.
            h.handle_fence_requests();
            std::thread::yield_now();
        }
    }
    SBI_SUCCESS
}

fn hsm_call(h: &mut Hart, fid: u64, a: [u64; 6]) -> (i64, u64) {
    let n = h.plat.harts.len() as u64;
    match fid {
        0 => {
            // hart_start(hartid, start_addr, opaque)
            if a[0] >= n {
                return (SBI_ERR_INVALID_PARAM, 0);
            }
            let t = &h.plat.harts[a[0] as usize];
            if t.hsm_state
                .compare_exchange(
                    hsm::STOPPED,
                    hsm::START_PENDING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                return (SBI_ERR_ALREADY_AVAILABLE, 0);
            }
            *t.start.lock().unwrap_or_else(|e| e.into_inner()) = Some((a[1], a[2]));
            t.irq.kick();
            (SBI_SUCCESS, 0)
        }
        1 => {
            // hart_stop: this hart stops; it restarts through hart_start.
            h.plat.harts[h.id]
                .hsm_state
                .store(hsm::STOPPED, Ordering::Release);
            h.end_batch = true;
            (SBI_SUCCESS, 0)
        }
        2 => {
            if a[0] >= n {
                return (SBI_ERR_INVALID_PARAM, 0);
            }
            let st = h.plat.harts[a[0] as usize]
                .hsm_state
                .load(Ordering::Acquire);
            (SBI_SUCCESS, st as u64)
        }
        3 => {
            // hart_suspend: only the default retentive suspend, which is a wfi.
            if a[0] == 0 {
                h.wfi = true;
                h.end_batch = true;
                (SBI_SUCCESS, 0)
            } else {
                (SBI_ERR_NOT_SUPPORTED, 0)
            }
        }
        _ => (SBI_ERR_NOT_SUPPORTED, 0),
    }
}

fn system_reset(h: &mut Hart, kind: u64, _reason: u64) -> (i64, u64) {
    let r = match kind {
        0 => ExitReason::PowerOff,
        1 | 2 => ExitReason::Reboot,
        _ => return (SBI_ERR_INVALID_PARAM, 0),
    };
    h.plat.control.request_exit(r);
    h.end_batch = true;
    (SBI_SUCCESS, 0)
}

/// Debug console: the buffer is a guest-physical address.
fn dbcn(h: &mut Hart, fid: u64, a: [u64; 6]) -> (i64, u64) {
    let Some(console) = h.plat.console.clone() else {
        return (SBI_ERR_NOT_SUPPORTED, 0);
    };
    match fid {
        0 | 1 => {
            // (num_bytes, base_lo, base_hi); cap one call at 4 KiB.
            let len = a[0].min(4096);
            let addr = a[1];
            if a[2] != 0 {
                return (SBI_ERR_INVALID_PARAM, 0);
            }
            let mut buf = vec![0u8; len as usize];
            if fid == 0 {
                if h.plat.ram.read_slice(addr, &mut buf).is_err() {
                    return (SBI_ERR_INVALID_PARAM, 0);
                }
                console.write(&buf);
                (SBI_SUCCESS, len)
            } else {
                if h.plat.ram.offset_of(addr, len).is_none() {
                    return (SBI_ERR_INVALID_PARAM, 0);
                }
                let n = console.read(&mut buf);
                if h.plat.ram.write_slice(addr, &buf[..n]).is_err() {
                    return (SBI_ERR_INVALID_ADDRESS, 0);
                }
                (SBI_SUCCESS, n as u64)
            }
        }
        2 => {
            console.write(&[a[0] as u8]);
            (SBI_SUCCESS, 0)
        }
        _ => (SBI_ERR_NOT_SUPPORTED, 0),
    }
}

/// SBI v0.1 legacy calls (EID 0x00-0x08); the return value is in a0.
fn legacy(h: &mut Hart, eid: u64, a: [u64; 6]) -> i64 {
    match eid {
        0x00 => {
            set_timer(h, a[0]);
            0
        }
        0x01 => match &h.plat.console {
            Some(c) => {
                c.write(&[a[0] as u8]);
                0
            }
            None => SBI_ERR_NOT_SUPPORTED,
        },
        0x02 => match &h.plat.console {
            Some(c) => {
                let mut b = [0u8; 1];
                if c.read(&mut b) == 1 {
                    b[0] as i64
                } else {
                    -1
                }
            }
            None => -1,
        },
        0x03 => {
            // clear_ipi
            h.shared.irq.lower(1 << irq::SSI);
            0
        }
        0x04..=0x07 => {
            // The hart mask is a pointer to an unsigned long in memory.
            let mask = match h.load(a[0], 8) {
                Ok(m) => m,
                Err(_) => return SBI_ERR_INVALID_ADDRESS,
            };
            if eid == 0x04 {
                send_ipi(h, mask, 0)
            } else {
                remote_fence(h, mask, 0)
            }
        }
        0x08 => system_reset(h, 0, 0).0,
        _ => SBI_ERR_NOT_SUPPORTED,
    }
}
