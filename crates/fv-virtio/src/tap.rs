//! A Linux TAP interface opened for virtio-net: `IFF_TAP | IFF_NO_PI |
//! IFF_VNET_HDR`, a 12-byte `virtio_net_hdr` in front of every frame
//! (`TUNSETVNETHDRSZ`), non-blocking; no offloads until the driver takes
//! some (`TUNSETOFFLOAD 0`: the host kernel checksums and segments
//! everything it hands us).
//!
//! An existing interface (`ip tuntap add tap0 mode tap`) is attached to; a
//! missing one is created, which needs CAP_NET_ADMIN, and brought up. A
//! created interface is not persistent: it goes away with the VM.
//!
//! All the ioctls live in the small `sys` module below.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `TUNSETOFFLOAD` bits: partial checksums, TCPv4 and TCPv6 segmentation.
pub use libc::{TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6};

/// Tells the TAP behind `fd` which offloads the reader takes (`TUN_F_*`).
pub fn set_offload(fd: std::os::fd::BorrowedFd<'_>, flags: u32) -> std::io::Result<()> {
    sys::set_offload(fd, flags as i32)
}

/// Longest interface name the kernel takes (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Why a TAP interface could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name is not one the kernel would accept.
    #[error("invalid interface name '{name}': {why}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `/dev/net/tun` could not be opened.
    #[error("/dev/net/tun: {0}")]
    OpenTun(std::io::Error),
    /// `TUNSETIFF` failed: attaching to the interface, or creating it.
    #[error("cannot {action} TAP interface {name}{hint}: {source}")]
    Attach {
        /// The interface.
        name: String,
        /// "attach to" or "create".
        action: &'static str,
        /// Why it may have failed, in parentheses, or nothing.
        hint: &'static str,
        /// The ioctl's error.
        source: std::io::Error,
    },
    /// Another TAP setting failed.
    #[error("TAP interface {name}: {what}: {source}")]
    Setup {
        /// The interface.
        name: String,
        /// The step that failed.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

/// Checks `name` as the kernel's `dev_valid_name` does.
pub fn check_ifname(name: &str) -> Result<(), TapError> {
    let bad = |why| {
        Err(TapError::BadName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_IFNAME_LEN {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not interface names");
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return bad("contains '/', ':', a space or NUL");
    }
    Ok(())
}

/// An open TAP interface.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Attaches to TAP interface `name`, creating (and bringing up) it when
    /// it does not exist.
    pub fn open(name: &str) -> Result<Tap, TapError> {
        check_ifname(name)?;
        let existed = Path::new("/sys/class/net").join(name).exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(TapError::OpenTun)?;
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as i16;
        if let Err(source) = sys::set_iff(&file, name, flags) {
            let (action, hint) = if existed {
                ("attach to", "")
            } else if source.raw_os_error() == Some(libc::EPERM) {
                (
                    "create",
                    " (it does not exist, and creating it needs CAP_NET_ADMIN)",
                )
            } else {
                ("create", "")
            };
            return Err(TapError::Attach {
                name: name.to_string(),
                action,
                hint,
                source,
            });
        }
        let setup = |what, r: std::io::Result<()>| {
            r.map_err(|source| TapError::Setup {
                name: name.to_string(),
                what,
                source,
            })
        };
        setup(
            "TUNSETVNETHDRSZ 12",
            sys::set_vnet_hdr_size(&file, crate::net::VNET_HDR_LEN as i32),
        )?;
        setup("TUNSETOFFLOAD 0", sys::set_offload(file.as_fd(), 0))?;
        if !existed {
            setup("bringing it up", sys::set_up(name))?;
            tracing::info!(tap = name, "created TAP interface");
        }
        Ok(Tap {
            file,
            name: name.to_string(),
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The open queue file descriptor (frames with a 12-byte header).
    pub fn into_fd(self) -> OwnedFd {
        self.file.into()
    }
}

/// The ioctls, each in one place.
mod sys {
    use std::fs::File;
    use std::os::fd::{AsRawFd, BorrowedFd};

    /// `struct ifreq` with the `ifr_flags` member of its union (40 bytes on
    /// 64-bit Linux).
    #[repr(C)]
    struct IfReqFlags {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }

    impl IfReqFlags {
        fn new(name: &str, flags: i16) -> IfReqFlags {
            let mut req = IfReqFlags {
                name: [0; libc::IFNAMSIZ],
                flags,
                _pad: [0; 22],
            };
            // check_ifname keeps names under IFNAMSIZ; take() keeps the NUL.
            for (d, s) in req.name.iter_mut().zip(name.bytes()).take(15) {
                *d = s;
            }
            req
        }
    }

    nix::ioctl_write_ptr_bad!(tun_set_iff, libc::TUNSETIFF, IfReqFlags);
    nix::ioctl_write_ptr_bad!(tun_set_vnet_hdr_sz, libc::TUNSETVNETHDRSZ, libc::c_int);
    nix::ioctl_write_int_bad!(tun_set_offload, libc::TUNSETOFFLOAD);
    nix::ioctl_read_bad!(sioc_get_if_flags, libc::SIOCGIFFLAGS, IfReqFlags);
    nix::ioctl_write_ptr_bad!(sioc_set_if_flags, libc::SIOCSIFFLAGS, IfReqFlags);

    pub(super) fn set_iff(tun: &File, name: &str, flags: i16) -> std::io::Result<()> {
        let req = IfReqFlags::new(name, flags);
        // SAFETY: `tun` is an open /dev/net/tun; TUNSETIFF reads one ifreq
        // from the pointer, which is valid and sized as the kernel expects.
        unsafe { tun_set_iff(tun.as_raw_fd(), &req) }?;
        Ok(())
    }

    pub(super) fn set_vnet_hdr_size(tun: &File, size: i32) -> std::io::Result<()> {
        // SAFETY: TUNSETVNETHDRSZ reads one int from a valid pointer.
        unsafe { tun_set_vnet_hdr_sz(tun.as_raw_fd(), &size) }?;
        Ok(())
    }

    pub(super) fn set_offload(tun: BorrowedFd<'_>, flags: i32) -> std::io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value; no memory is
        // passed.
        unsafe { tun_set_offload(tun.as_raw_fd(), flags) }?;
        Ok(())
    }

    /// `ip link set NAME up`, through an AF_INET datagram socket.
    pub(super) fn set_up(name: &str) -> std::io::Result<()> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        let sock = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        let mut req = IfReqFlags::new(name, 0);
        // SAFETY: SIOCGIFFLAGS writes one ifreq through a valid pointer.
        unsafe { sioc_get_if_flags(sock.as_raw_fd(), &mut req) }?;
        req.flags |= libc::IFF_UP as libc::c_short;
        // SAFETY: SIOCSIFFLAGS reads one ifreq from a valid pointer.
        unsafe { sioc_set_if_flags(sock.as_raw_fd(), &req) }?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernel_rules() {
        assert!(check_ifname("tap0").is_ok());
        assert!(check_ifname("a23456789012345").is_ok());
        for bad in ["", "a234567890123456", ".", "..", "ta/p", "ta:p", "ta p"] {
            let e = check_ifname(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }
}
