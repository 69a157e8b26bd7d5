//! fv-container: ferrovisor's OCI container runtime. It owns bundles and
//! `config.json` ([`spec`]), namespaces, the root filesystem and pivot_root
//! ([`rootfs`]), cgroups v1/v2/hybrid ([`cgroups`]), capabilities and
//! seccomp, container state and the create/start/kill/delete lifecycle
//! ([`runtime`]), images as content-addressed layers imported from rootfs
//! directories/tarballs, OCI image layouts and `docker save` tarballs
//! ([`image`]), named containers made from images with a per-container
//! overlay upper layer ([`manager`], behind `fv container`), and running a
//! command in a live container ([`exec`]).
//! Every privileged call goes through [`syscall::Syscall`]. It does not own
//! the command line (fv-cli) nor virtual machines.

pub mod caps;
pub mod cgroups;
pub mod exec;
pub mod image;
pub mod init;
pub mod manager;
pub mod namespaces;
pub mod net;
pub mod process;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod syscall;
pub mod tty;
