//! Byte transports under the servo protocols: one small trait, implemented over a real
//! serial device ([`serial::SerialTransport`]), a Unix pseudo-terminal
//! ([`pty::PtyTransport`]) and memory ([`memory::MemoryTransport`]). Every read and
//! write takes a timeout: nothing blocks forever.

pub mod memory;
pub mod pty;
pub mod serial;

use std::time::Duration;

/// Transport failures, layered apart from protocol errors (malformed packets) and
/// device-reported errors (status error bits).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The other end is gone: cable pulled, device removed, pty closed.
    #[error("{0}: disconnected")]
    Disconnected(String),
    /// A write could not complete within its timeout.
    #[error("{0}: write timed out")]
    WriteTimeout(String),
    /// Any other I/O error.
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// A byte pipe to a servo bus.
pub trait Transport: Send {
    /// Writes all of `bytes` within `timeout`.
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError>;
    /// Waits up to `timeout` for at least one byte; returns how many were read into
    /// `buf` (0 on timeout).
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError>;
    /// Discards any received bytes not yet read.
    fn clear_input(&mut self) -> Result<(), TransportError>;
    /// Where it goes (device path, pty path, "memory").
    fn name(&self) -> &str;
}
