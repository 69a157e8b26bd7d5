//! virtio-net (virtio 1.2, 5.1): one receive queue (0) and one transmit
//! queue (1), no control queue, a fixed MAC and a link that is always up.
//!
//! Frames go to and come from a [`NetBackend`]: any file descriptor that
//! keeps packet boundaries, one frame per read or write. A TAP interface
//! ([`crate::tap::Tap`]) carries a 12-byte `virtio_net_hdr` in front of each
//! frame; a datagram or seqpacket socket (unit tests, fuzzing) carries bare
//! frames, and the device adds or strips the header.
//!
//! On a TAP the device offers checksum and TCP segmentation offload both
//! ways (`CSUM`, `HOST_TSO4/6`, `GUEST_CSUM`, `GUEST_TSO4/6`): the header is
//! handed through as written, and the host kernel validates it
//! (`virtio_net_hdr_to_skb`); `TUNSETOFFLOAD` tells the TAP which offloads
//! the driver took. Whatever was not negotiated is zeroed: a guest cannot
//! make the host parse offload fields it never negotiated, and the driver
//! gets a header with nothing to do (5.1.6.4.1). On a socket backend no
//! offload is offered. Every received header has `num_buffers` = 1
//! (5.1.6.4: VERSION_1 headers always have the field; no MRG_RXBUF). The
//! header is little-endian (VERSION_1), as the TAP's on little-endian hosts.
//!
//! Choices where the spec leaves room:
//! - A received frame that does not fit the driver's buffer (no
//!   `VIRTIO_NET_F_MRG_RXBUF`, so one chain holds one frame) is dropped and
//!   the chain completed with length 0, as a too-short packet, which Linux
//!   counts in `rx_length_errors` and recycles; a rate-limited warning is
//!   logged. With a 1500-byte MTU on the host side this does not happen to a
//!   driver that posts the buffers the spec asks for (5.1.6.3.1).
//! - A transmitted frame longer than [`MAX_FRAME`], shorter than the header,
//!   or refused by the backend is dropped and its chain completed; a
//!   rate-limited warning is logged.
//! - When the receive queue has no buffers the device stops polling the
//!   backend (frames wait in the TAP's queue, which drops beyond its length)
//!   until the driver notifies queue 0.
//! - At most [`RX_BATCH`] frames are received per backend event, so a
//!   flooding host cannot starve transmit.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::chain::Chain;
use crate::device::{DeviceError, QueueHandler, VirtioDevice};
use crate::tap::{Tap, TapError};
use crate::worker::Queues;
use crate::{device_type, GuestMemory};

/// `virtio_net_hdr` with `num_buffers` (always present with VERSION_1).
pub const VNET_HDR_LEN: usize = 12;
/// Longest Ethernet frame carried (without the header): 64 KiB plus an
/// Ethernet header with a VLAN tag, as Firecracker allows.
pub const MAX_FRAME: usize = 65562 - VNET_HDR_LEN;
/// Most frames received per backend event.
pub const RX_BATCH: usize = 64;

/// The offloads offered on a TAP: checksums and TCP segmentation both
/// ways. The header is then handed through, and the host kernel checks it.
const OFFLOADS: u64 = feature::CSUM
    | feature::GUEST_CSUM
    | feature::GUEST_TSO4
    | feature::GUEST_TSO6
    | feature::HOST_TSO4
    | feature::HOST_TSO6;

/// The receive queue.
pub const RXQ: usize = 0;
/// The transmit queue.
pub const TXQ: usize = 1;
const QUEUE_SIZE: u16 = 256;

/// Feature bits (virtio 1.2, 5.1.3).
pub mod feature {
    /// The device takes frames with a partial checksum.
    pub const CSUM: u64 = 1 << 0;
    /// The driver takes frames with a partial checksum.
    pub const GUEST_CSUM: u64 = 1 << 1;
    /// The driver takes TCPv4 segments larger than the MTU.
    pub const GUEST_TSO4: u64 = 1 << 7;
    /// The driver takes TCPv6 segments larger than the MTU.
    pub const GUEST_TSO6: u64 = 1 << 8;
    /// The device takes TCPv4 segments larger than the MTU.
    pub const HOST_TSO4: u64 = 1 << 11;
    /// The device takes TCPv6 segments larger than the MTU.
    pub const HOST_TSO6: u64 = 1 << 12;
    /// The config space holds the MAC address.
    pub const MAC: u64 = 1 << 5;
    /// The config space holds the link status.
    pub const STATUS: u64 = 1 << 16;
}

/// `VIRTIO_NET_S_LINK_UP`.
const LINK_UP: u16 = 1;

/// Why a network device could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The TAP interface could not be opened.
    #[error(transparent)]
    Tap(#[from] TapError),
    /// The backend's descriptor could not be set up.
    #[error("network backend: {0}")]
    Backend(io::Error),
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A locally administered unicast address derived from `seed` (e.g. a
    /// VM name and NIC index): `52:54:00` followed by three bytes of a
    /// 64-bit FNV-1a hash, stable across builds and hosts.
    pub fn from_seed(seed: &[u8]) -> MacAddr {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in seed {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let b = h.to_be_bytes();
        MacAddr([0x52, 0x54, 0x00, b[5], b[6], b[7]])
    }

    /// Whether the multicast bit is set (such an address cannot be a NIC's).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    /// Six hex bytes separated by colons (`52:54:00:12:34:56`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mac = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut mac {
            let p = parts.next().ok_or("expected six bytes")?;
            if p.len() != 2 {
                return Err("expected two hex digits per byte".into());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| format!("'{p}' is not a hex byte"))?;
        }
        if parts.next().is_some() {
            return Err("expected six bytes".into());
        }
        let mac = MacAddr(mac);
        if mac.is_multicast() {
            return Err("a multicast address cannot be a NIC's".into());
        }
        if mac.0 == [0; 6] {
            return Err("the all-zero address cannot be a NIC's".into());
        }
        Ok(mac)
    }
}

/// Where frames go: a packet-preserving, non-blocking file descriptor.
#[derive(Debug)]
pub struct NetBackend {
    fd: OwnedFd,
    vnet_hdr: bool,
    label: String,
}

impl NetBackend {
    /// A TAP interface (frames with a 12-byte `virtio_net_hdr`).
    pub fn tap(tap: Tap) -> NetBackend {
        let label = format!("tap {}", tap.name());
        NetBackend {
            fd: tap.into_fd(),
            vnet_hdr: true,
            label,
        }
    }

    /// A datagram or seqpacket socket (or anything else that keeps frame
    /// boundaries) carrying bare Ethernet frames; made non-blocking here.
    pub fn packet_fd(fd: OwnedFd) -> Result<NetBackend, NetError> {
        crate::device::set_nonblocking(fd.as_fd()).map_err(NetError::Backend)?;
        Ok(NetBackend {
            fd,
            vnet_hdr: false,
            label: "packet socket".into(),
        })
    }

    /// The same descriptor again, for the device's worker thread.
    fn try_clone(&self) -> io::Result<NetBackend> {
        Ok(NetBackend {
            fd: self.fd.try_clone()?,
            vnet_hdr: self.vnet_hdr,
            label: self.label.clone(),
        })
    }
}

/// Configuration of one NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// The address the guest sees.
    pub mac: MacAddr,
}

/// The network device.
#[derive(Debug)]
pub struct Net {
    config: NetConfig,
    backend: NetBackend,
    index: usize,
}

impl Net {
    /// NIC number `index` (`net0`, ...) on `backend`.
    pub fn new(config: NetConfig, backend: NetBackend, index: usize) -> Net {
        Net {
            config,
            backend,
            index,
        }
    }

    /// The config space (5.1.4): mac, then status.
    fn config_space(&self) -> [u8; 8] {
        let mut c = [0u8; 8];
        c[..6].copy_from_slice(&self.config.mac.0);
        c[6..8].copy_from_slice(&LINK_UP.to_le_bytes());
        c
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u32 {
        device_type::NET
    }
    fn name(&self) -> String {
        format!("net{}", self.index)
    }
    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE, QUEUE_SIZE]
    }
    fn features(&self) -> u64 {
        let offloads = if self.backend.vnet_hdr { OFFLOADS } else { 0 };
        feature::MAC | feature::STATUS | offloads
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let space = self.config_space();
        for (i, b) in data.iter_mut().enumerate() {
            *b = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(i))
                .and_then(|o| space.get(o))
                .copied()
                .unwrap_or(0);
        }
    }
    fn activate(&mut self, acked: u64) -> Result<Box<dyn QueueHandler>, DeviceError> {
        let backend = self
            .backend
            .try_clone()
            .map_err(|_| DeviceError::Request("cannot duplicate the network backend"))?;
        let host_offloads = backend.vnet_hdr && acked & feature::CSUM != 0;
        let guest_offloads = backend.vnet_hdr && acked & feature::GUEST_CSUM != 0;
        if backend.vnet_hdr {
            // What the host kernel may hand us: only what the driver takes.
            let mut tun = 0;
            if guest_offloads {
                tun |= crate::tap::TUN_F_CSUM;
                if acked & feature::GUEST_TSO4 != 0 {
                    tun |= crate::tap::TUN_F_TSO4;
                }
                if acked & feature::GUEST_TSO6 != 0 {
                    tun |= crate::tap::TUN_F_TSO6;
                }
            }
            crate::tap::set_offload(backend.fd.as_fd(), tun).map_err(|e| {
                tracing::warn!(device = %self.name(), "TUNSETOFFLOAD {tun:#x}: {e}");
                DeviceError::Request("cannot set the TAP offloads")
            })?;
        }
        Ok(Box::new(NetWorker {
            name: self.name(),
            backend,
            rx_starved: false,
            backend_gone: false,
            host_offloads,
            guest_offloads,
            buf: vec![0u8; VNET_HDR_LEN + MAX_FRAME],
            rx_drops: RateLimited::default(),
            tx_drops: RateLimited::default(),
        }))
    }
}

/// Logs at most one warning a second, counting the ones it held back.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    held: u64,
}

impl RateLimited {
    fn warn(&mut self, device: &str, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.held += 1;
            return;
        }
        tracing::warn!(device, held_back = self.held, "{what}");
        self.last = Some(now);
        self.held = 0;
    }
}

struct NetWorker {
    name: String,
    backend: NetBackend,
    /// The receive queue had no buffer: do not poll the backend until the
    /// driver notifies it.
    rx_starved: bool,
    /// The backend can no longer be read from.
    backend_gone: bool,
    /// Transmit headers go to the TAP as the driver wrote them (CSUM
    /// negotiated); otherwise they are zeroed.
    host_offloads: bool,
    /// Receive headers come to the driver as the TAP wrote them
    /// (GUEST_CSUM negotiated); otherwise they are zeroed.
    guest_offloads: bool,
    /// One frame with its header, in either direction.
    buf: Vec<u8>,
    rx_drops: RateLimited,
    tx_drops: RateLimited,
}

impl NetWorker {
    /// Sends one transmit chain's frame; the chain is completed whatever
    /// happens to the frame (the used length is 0: nothing is written).
    fn transmit(&mut self, mem: &GuestMemory, chain: &Chain) -> Result<u32, DeviceError> {
        let len = chain.readable_len();
        if len < VNET_HDR_LEN as u64 || len > (VNET_HDR_LEN + MAX_FRAME) as u64 {
            self.tx_drops.warn(
                &self.name,
                format_args!("dropping a transmitted frame of {len} bytes with its header"),
            );
            return Ok(0);
        }
        let len = len as usize;
        let frame = &mut self.buf[..len];
        chain.read_at(mem, 0, frame)?;
        let out = if self.backend.vnet_hdr {
            if !self.host_offloads {
                // No offloads negotiated: the header must say "nothing to
                // do" (the host kernel checks what it is given either way).
                frame[..VNET_HDR_LEN].fill(0);
            }
            &frame[..]
        } else {
            &frame[VNET_HDR_LEN..]
        };
        if let Err(e) = sys::write(self.backend.fd.as_fd(), out) {
            self.tx_drops.warn(
                &self.name,
                format_args!(
                    "{}: dropping a transmitted frame of {} bytes: {e}",
                    self.backend.label,
                    out.len()
                ),
            );
        }
        Ok(0)
    }

    /// Reads one frame from the backend into `buf`, header first.
    fn read_frame(&mut self) -> Received {
        loop {
            let fd = self.backend.fd.as_fd();
            let r = if self.backend.vnet_hdr {
                sys::read(fd, &mut self.buf)
            } else {
                sys::read(fd, &mut self.buf[VNET_HDR_LEN..]).map(|n| n + VNET_HDR_LEN)
            };
            match r {
                Ok(n) if n > VNET_HDR_LEN => {
                    // Without guest offloads (5.1.6.4.1) flags and GSO fields
                    // are zero; one buffer per frame either way.
                    if !self.guest_offloads {
                        self.buf[..VNET_HDR_LEN].fill(0);
                    }
                    self.buf[10..12].copy_from_slice(&1u16.to_le_bytes());
                    return Received::Frame(n);
                }
                // An empty read is the end of a socket backend (a TAP never
                // gives one): stop polling it, or the worker would spin.
                Ok(n) if n == 0 || (!self.backend.vnet_hdr && n == VNET_HDR_LEN) => {
                    tracing::warn!(device = %self.name, "{}: closed", self.backend.label);
                    return Received::Gone;
                }
                // A header without a frame: skip it.
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Received::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(
                        device = %self.name,
                        "{}: receive failed, receiving stops: {e}",
                        self.backend.label
                    );
                    return Received::Gone;
                }
            }
        }
    }
}

/// What one read from the backend gave.
enum Received {
    /// A frame of this many bytes with its header.
    Frame(usize),
    /// Nothing now.
    Nothing,
    /// Nothing ever again.
    Gone,
}

impl QueueHandler for NetWorker {
    fn queue_notify(&mut self, queue: usize, queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        match queue {
            // New receive buffers: poll the backend again.
            RXQ => {
                self.rx_starved = false;
                Ok(())
            }
            TXQ => queues.serve_all(TXQ, |mem, chain| self.transmit(mem, chain)),
            _ => Ok(()),
        }
    }

    fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.backend.fd.as_fd())
    }

    fn wants_host_event(&self) -> bool {
        !self.rx_starved && !self.backend_gone
    }

    fn host_event(&mut self, queues: &mut Queues<'_>) -> Result<(), DeviceError> {
        for _ in 0..RX_BATCH {
            let chain = match queues.pop(RXQ)? {
                Some(c) => c,
                None => {
                    // Ask the driver to notify when it adds buffers, then
                    // look once more: it may have added one meanwhile.
                    if queues.enable_notification(RXQ)? {
                        continue;
                    }
                    self.rx_starved = true;
                    return Ok(());
                }
            };
            let n = match self.read_frame() {
                Received::Frame(n) => n,
                Received::Nothing => {
                    queues.undo_pop(RXQ);
                    return Ok(());
                }
                Received::Gone => {
                    queues.undo_pop(RXQ);
                    self.backend_gone = true;
                    return Ok(());
                }
            };
            let room = chain.writable_len();
            if n as u64 > room {
                self.rx_drops.warn(
                    &self.name,
                    format_args!(
                        "dropping a received frame of {} bytes: the receive buffer holds {room}",
                        n - VNET_HDR_LEN
                    ),
                );
                queues.add_used(RXQ, chain.head, 0)?;
                continue;
            }
            chain.write_at(queues.mem(), 0, &self.buf[..n])?;
            // n <= writable_len, which the chain's u32 lengths bound.
            queues.add_used(RXQ, chain.head, n as u32)?;
        }
        Ok(())
    }
}

/// Reads and writes on the backend descriptor, and its flags.
mod sys {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    pub(super) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        Ok(nix::unistd::read(fd.as_raw_fd(), buf)?)
    }

    pub(super) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        Ok(nix::unistd::write(fd, buf)?)
    }
}
