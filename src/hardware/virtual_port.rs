//! Virtual ports: a serial backend whose port is `virtual:NAME` gets an emulated bus
//! (see `virtual_servo`) started in this process on a pseudo-terminal, so
//! hardware-path scenarios (the bridge, swaps, link faults) run anywhere, CI
//! included, with nothing to set up. The bridge talks to it through the pty exactly
//! as to a USB adapter; the link-fault layer sits in between as it would on a bench.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::transport::pty::PtyTransport;
use super::virtual_servo::table::Protocol;
use super::virtual_servo::{VirtualBus, serve};
use crate::scene::BusProtocol;
use crate::sys::clock::Clock;

/// Prefix of a virtual port name.
pub const PREFIX: &str = "virtual:";

/// Whether `port` names a virtual port.
pub fn is_virtual(port: &str) -> bool {
    port.starts_with(PREFIX)
}

/// Why an emulated bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum VirtualPortError {
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(#[from] super::transport::TransportError),
    #[error("cannot start its thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// An emulated bus serving a pty.
pub struct VirtualPort {
    /// The name in the scene, e.g. `virtual:bus0`.
    pub name: String,
    /// The pty device the bridge opens.
    pub path: String,
    /// The servo IDs on it.
    pub ids: Vec<u8>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VirtualPort {
    /// Starts servos `(id, position in ticks)` of `protocol` at `baud` on a new pty.
    pub fn start(
        name: &str,
        protocol: BusProtocol,
        servos: &[(u8, f64)],
        baud: u32,
        clock: Arc<dyn Clock>,
        rt_priority: Option<i32>,
    ) -> Result<Self, VirtualPortError> {
        let mut pty = PtyTransport::open()?;
        let path = pty.slave_path().to_string();
        let p = match protocol {
            BusProtocol::Sts => Protocol::Sts,
            BusProtocol::Dxl => Protocol::Dxl,
        };
        let mut bus = VirtualBus::with_positions(p, servos, baud);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("vbus-{name}"))
            .spawn(move || {
                // It stands in for hardware, which host load does not slow down.
                if let Some(p) = rt_priority {
                    let _ = crate::sys::priority::set_fifo(p);
                }
                // A transport error ends the emulation (the host side closed).
                let _ = serve(&mut bus, &mut pty, &stop2, clock.as_ref());
            })
            .map_err(VirtualPortError::Thread)?;
        Ok(Self {
            name: name.to_string(),
            path,
            ids: servos.iter().map(|(id, _)| *id).collect(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for VirtualPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
