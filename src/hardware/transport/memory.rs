//! In-memory transport: two connected endpoints, for tests and in-process virtual
//! servos. Dropping one end disconnects the other, like a pulled cable.

use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, bounded};

use super::{Transport, TransportError};

/// Chunks in flight per direction. Servo packets are at most ~1 kB and a bus is
/// half-duplex, so 256 chunks is far more than a transaction needs while still
/// bounding memory if one side stops reading.
const CHUNKS: usize = 256;

/// One end of an in-memory byte pipe.
pub struct MemoryTransport {
    name: String,
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl MemoryTransport {
    /// Two connected ends.
    pub fn pair() -> (MemoryTransport, MemoryTransport) {
        let (a_tx, b_rx) = bounded(CHUNKS);
        let (b_tx, a_rx) = bounded(CHUNKS);
        (
            MemoryTransport {
                name: "memory:a".into(),
                tx: a_tx,
                rx: a_rx,
                pending: Vec::new(),
            },
            MemoryTransport {
                name: "memory:b".into(),
                tx: b_tx,
                rx: b_rx,
                pending: Vec::new(),
            },
        )
    }

    fn take_pending(&mut self, buf: &mut [u8]) -> usize {
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        n
    }
}

impl Transport for MemoryTransport {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        match self.tx.send_timeout(bytes.to_vec(), timeout) {
            Ok(()) => Ok(()),
            Err(crossbeam::channel::SendTimeoutError::Timeout(_)) => {
                Err(TransportError::WriteTimeout(self.name.clone()))
            }
            Err(crossbeam::channel::SendTimeoutError::Disconnected(_)) => {
                Err(TransportError::Disconnected(self.name.clone()))
            }
        }
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending.is_empty() {
            match self.rx.recv_timeout(timeout) {
                Ok(chunk) => self.pending = chunk,
                Err(RecvTimeoutError::Timeout) => return Ok(0),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(TransportError::Disconnected(self.name.clone()));
                }
            }
        }
        // Take whatever else has already arrived, without waiting.
        while self.pending.len() < buf.len() {
            match self.rx.try_recv() {
                Ok(chunk) => self.pending.extend_from_slice(&chunk),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        Ok(self.take_pending(buf))
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.pending.clear();
        while self.rx.try_recv().is_ok() {}
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
