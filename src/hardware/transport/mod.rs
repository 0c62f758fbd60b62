//! Byte transports under the servo protocols: one small trait, implemented over a real
//! serial device ([`serial::SerialTransport`]), a serial server over TCP, raw
//! ([`tcp::TcpTransport`]) or RFC 2217 ([`rfc2217::Rfc2217Transport`]), a Unix
//! pseudo-terminal ([`pty::PtyTransport`]) and memory ([`memory::MemoryTransport`]);
//! [`port::open`] opens any of the first three by name. Every read and write takes a
//! timeout: nothing blocks forever.

pub mod memory;
pub mod port;
pub mod pty;
pub mod rfc2217;
pub mod serial;
pub mod tcp;

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

/// Waits until `fd` is readable (POLLIN) or writable (POLLOUT), up to `timeout`, to
/// the microsecond (ppoll: a socket's own timeouts round up to the kernel tick, ~4
/// ms, which a 1 ms bus cannot afford). False on timeout or a signal.
pub(crate) fn wait_fd(
    fd: std::os::fd::RawFd,
    events: libc::c_short,
    timeout: Duration,
    name: &str,
) -> Result<bool, TransportError> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(TransportError::Io {
            name: name.to_string(),
            source: e,
        });
    }
    Ok(rc > 0)
}
