//! The thread that serves an active device's queues: it waits for
//! QueueNotify, takes the available chains, validates them, hands them to
//! the device's [`QueueHandler`], fills the used ring and interrupts.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use fv_machine::GuestRam;
use virtio_queue::{Queue, QueueOwnedT, QueueT};

use crate::chain::Chain;
use crate::device::{DeviceError, QueueHandler};
use crate::interrupt::{Interrupt, USED_BUFFER};

enum Msg {
    Notify(usize),
    Stop,
}

/// A running worker; dropping it stops and joins the thread.
pub(crate) struct Worker {
    tx: Sender<Msg>,
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
        let (tx, rx) = channel();
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
                w.run(rx)
            })?;
        Ok(Worker {
            tx,
            thread: Some(thread),
        })
    }

    /// QueueNotify for queue `index`.
    pub(crate) fn notify(&self, index: usize) {
        let _ = self.tx.send(Msg::Notify(index));
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
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
    fn run(&mut self, rx: Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            let index = match msg {
                Msg::Stop => return,
                Msg::Notify(i) => i,
            };
            if self.interrupt.needs_reset() {
                continue;
            }
            if let Err(e) = self.process(index) {
                tracing::warn!(device = %self.name, queue = index, "device needs reset: {e}");
                self.interrupt.set_needs_reset();
            }
        }
    }

    /// Serves every available chain of queue `index` (virtio 1.2, 2.7.13
    /// and 2.7.10 for notification suppression with event index).
    fn process(&mut self, index: usize) -> Result<(), DeviceError> {
        let mem = self.ram.memory();
        let Some(q) = self.queues.get_mut(index) else {
            return Ok(());
        };
        if !q.ready() {
            return Ok(());
        }
        let mut used_any = false;
        loop {
            q.disable_notification(mem)?;
            while let Some(chain) = q.iter(mem)?.next() {
                let chain = Chain::parse(chain, mem)?;
                let len = self.handler.handle(index, mem, &chain)?;
                q.add_used(mem, chain.head, len)?;
                used_any = true;
            }
            if !q.enable_notification(mem)? {
                break;
            }
        }
        if used_any && q.needs_notification(mem)? {
            self.interrupt.raise(USED_BUFFER);
        }
        Ok(())
    }
}
