//! The thread that serves an active device's queues. It sleeps in `poll(2)`
//! on an eventfd (QueueNotify and stop requests from the hart threads) and,
//! for devices fed from the host side (a TAP device, console input), on the
//! device's own file descriptor; it hands each event to the device's
//! [`QueueHandler`] with a [`Queues`] view of the rings, then raises the
//! used-buffer interrupt where the driver asked for one.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use fv_machine::GuestRam;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use virtio_queue::{Queue, QueueOwnedT, QueueT};

use crate::chain::Chain;
use crate::device::{DeviceError, QueueHandler};
use crate::interrupt::{Interrupt, USED_BUFFER};
use crate::GuestMemory;

/// What the hart threads tell the worker: queues notified since it last
/// looked (one bit per queue) and whether to stop.
struct Mailbox {
    notified: AtomicU64,
    stop: AtomicBool,
    wake: EventFd,
}

/// A running worker; dropping it stops and joins the thread.
pub(crate) struct Worker {
    mailbox: Arc<Mailbox>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker thread for `queues` (only ready queues are served).
    pub(crate) fn spawn(
        name: String,
        ram: Arc<GuestRam>,
        queues: Vec<Queue>,
        handler: Box<dyn QueueHandler>,
        interrupt: Arc<Interrupt>,
    ) -> std::io::Result<Worker> {
        let wake =
            EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        let mailbox = Arc::new(Mailbox {
            notified: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake,
        });
        let mb = Arc::clone(&mailbox);
        let thread = std::thread::Builder::new()
            .name(format!("fv-virtio-{name}"))
            .spawn(move || {
                let mut w = Serve {
                    name,
                    ram,
                    queues,
                    handler,
                    interrupt,
                };
                w.run(&mb)
            })?;
        Ok(Worker {
            mailbox,
            thread: Some(thread),
        })
    }

    /// QueueNotify for queue `index` (indexes past 63 name no queue any
    /// device has and are dropped).
    pub(crate) fn notify(&self, index: usize) {
        if index < 64 {
            self.mailbox.notified.fetch_or(1 << index, Ordering::AcqRel);
            self.wake();
        }
    }

    fn wake(&self) {
        // The counter only saturates after 2^64-2 unread wakes; EAGAIN then
        // still leaves the eventfd readable, which is all the worker needs.
        let _ = self.mailbox.wake.write(1);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.mailbox.stop.store(true, Ordering::Release);
        self.wake();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("virtio worker thread panicked");
            }
        }
    }
}

struct Serve {
    name: String,
    ram: Arc<GuestRam>,
    queues: Vec<Queue>,
    handler: Box<dyn QueueHandler>,
    interrupt: Arc<Interrupt>,
}

impl Serve {
    fn run(&mut self, mb: &Mailbox) {
        loop {
            let (wake_ready, device_ready) = match self.wait(mb) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(device = %self.name, "worker poll failed: {e}");
                    return;
                }
            };
            if mb.stop.load(Ordering::Acquire) {
                return;
            }
            if wake_ready {
                let _ = mb.wake.read();
            }
            let notified = mb.notified.swap(0, Ordering::AcqRel);
            if self.interrupt.needs_reset() {
                continue;
            }
            let mem = self.ram.memory();
            let mut queues = Queues::new(mem, &mut self.queues);
            let mut result = Ok(());
            for index in (0..64).filter(|i| notified & (1 << i) != 0) {
                result = self.handler.queue_notify(index, &mut queues);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() && device_ready {
                result = self.handler.host_event(&mut queues);
            }
            let to_signal = queues.to_signal;
            match result {
                Ok(()) if to_signal => self.interrupt.raise(USED_BUFFER),
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(device = %self.name, "device needs reset: {e}");
                    self.interrupt.set_needs_reset();
                }
            }
        }
    }

    /// Sleeps until the mailbox or the device's host fd is readable.
    fn wait(&self, mb: &Mailbox) -> nix::Result<(bool, bool)> {
        let device_fd = if self.interrupt.needs_reset() || !self.handler.wants_host_event() {
            None
        } else {
            self.handler.host_fd()
        };
        let mut fds = vec![PollFd::new(mb.wake.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = device_fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        Ok((ready(&fds[0]), fds.get(1).is_some_and(ready)))
    }
}

/// The device's rings as a [`QueueHandler`] sees them on the worker thread:
/// chains come out validated ([`Chain::parse`]), used entries go back, and
/// the worker interrupts the driver afterwards if any queue asked for it.
pub struct Queues<'a> {
    mem: &'a GuestMemory,
    queues: &'a mut [Queue],
    to_signal: bool,
}

impl<'a> Queues<'a> {
    pub(crate) fn new(mem: &'a GuestMemory, queues: &'a mut [Queue]) -> Self {
        Queues {
            mem,
            queues,
            to_signal: false,
        }
    }

    /// Guest memory, for reading and writing the chains' buffers.
    pub fn mem(&self) -> &'a GuestMemory {
        self.mem
    }

    fn ready_queue(&mut self, index: usize) -> Option<&mut Queue> {
        self.queues.get_mut(index).filter(|q| q.ready())
    }

    /// Whether queue `index` exists and the driver set it up.
    pub fn is_ready(&self, index: usize) -> bool {
        self.queues.get(index).is_some_and(|q| q.ready())
    }

    /// Takes the next available chain of queue `index`, validated; `None`
    /// when the ring is empty or the queue is not set up. A malformed ring
    /// or chain is an error (the device then needs a reset).
    pub fn pop(&mut self, index: usize) -> Result<Option<Chain>, DeviceError> {
        let mem = self.mem;
        let Some(q) = self.ready_queue(index) else {
            return Ok(None);
        };
        match q.iter(mem)?.next() {
            Some(c) => Ok(Some(Chain::parse(c, mem)?)),
            None => Ok(None),
        }
    }

    /// Returns the chain [`pop`](Self::pop) just took to the ring, unused
    /// (e.g. a receive buffer taken when there was nothing to receive).
    pub fn undo_pop(&mut self, index: usize) {
        if let Some(q) = self.ready_queue(index) {
            q.go_to_previous_position();
        }
    }

    /// Asks the driver to notify queue `index` when it adds buffers (with
    /// event index: at the next one); true if buffers arrived meanwhile, so
    /// the caller should look again (virtio 1.2, 2.7.10).
    pub fn enable_notification(&mut self, index: usize) -> Result<bool, DeviceError> {
        let mem = self.mem;
        match self.ready_queue(index) {
            Some(q) => Ok(q.enable_notification(mem)?),
            None => Ok(false),
        }
    }

    /// Completes the chain headed by `head` on queue `index`, `len` bytes
    /// written into its device-writable buffers.
    pub fn add_used(&mut self, index: usize, head: u16, len: u32) -> Result<(), DeviceError> {
        let mem = self.mem;
        let Some(q) = self.ready_queue(index) else {
            return Ok(());
        };
        q.add_used(mem, head, len)?;
        if q.needs_notification(mem)? {
            self.to_signal = true;
        }
        Ok(())
    }

    /// Serves every available chain of queue `index` with `serve`, which
    /// returns the bytes it wrote into the chain; rechecks the ring after
    /// re-enabling notifications so no chain is missed (virtio 1.2, 2.7.10
    /// and 2.7.13 with event index).
    pub fn serve_all(
        &mut self,
        index: usize,
        mut serve: impl FnMut(&GuestMemory, &Chain) -> Result<u32, DeviceError>,
    ) -> Result<(), DeviceError> {
        let mem = self.mem;
        if !self.is_ready(index) {
            return Ok(());
        }
        loop {
            if let Some(q) = self.ready_queue(index) {
                q.disable_notification(mem)?;
            }
            while let Some(chain) = self.pop(index)? {
                let len = serve(mem, &chain)?;
                self.add_used(index, chain.head, len)?;
            }
            let more = match self.ready_queue(index) {
                Some(q) => q.enable_notification(mem)?,
                None => false,
            };
            if !more {
                return Ok(());
            }
        }
    }
}
