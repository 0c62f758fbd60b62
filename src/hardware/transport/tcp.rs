//! A serial port reached over TCP, raw: ser2net's raw mode, `socat`, a terminal
//! server. Bytes are the bus's bytes; the far end sets the line (baud, 8N1).
//! TCP_NODELAY is on (a servo packet must not wait for Nagle), every read and write
//! has a deadline, and a closed or reset connection is `Disconnected` (the bridge
//! then reconnects with backoff).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::{Transport, TransportError};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP connection to a serial server.
pub struct TcpTransport {
    name: String,
    stream: TcpStream,
}

impl TcpTransport {
    /// Connects to `addr` (`HOST:PORT`); `name` is how errors name it.
    pub fn connect(addr: &str, name: &str) -> Result<Self, TransportError> {
        let io = |source: std::io::Error| TransportError::Io {
            name: name.to_string(),
            source,
        };
        let mut last = None;
        for a in addr.to_socket_addrs().map_err(io)? {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(stream) => return Self::accepted(stream, name),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if e.kind() == ErrorKind::ConnectionRefused => {
                TransportError::Disconnected(format!("{name} (connection refused)"))
            }
            Some(e) => io(e),
            None => io(std::io::Error::other("no address")),
        })
    }

    /// An accepted connection (`armhil virtual-servo --listen`), or a connected one:
    /// no Nagle, non-blocking (waits are ppoll's, to the microsecond).
    pub fn accepted(stream: TcpStream, name: &str) -> Result<Self, TransportError> {
        let io = |source: std::io::Error| TransportError::Io {
            name: name.to_string(),
            source,
        };
        stream.set_nodelay(true).map_err(io)?;
        stream.set_nonblocking(true).map_err(io)?;
        Ok(Self {
            name: name.to_string(),
            stream,
        })
    }

    fn io(&self, e: std::io::Error) -> TransportError {
        match e.kind() {
            ErrorKind::BrokenPipe
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::UnexpectedEof => TransportError::Disconnected(self.name.clone()),
            _ => TransportError::Io {
                name: self.name.clone(),
                source: e,
            },
        }
    }

    fn wait(&self, events: libc::c_short, timeout: Duration) -> Result<bool, TransportError> {
        super::wait_fd(self.stream.as_raw_fd(), events, timeout, &self.name)
    }

    /// Reads raw bytes, waiting up to `timeout` for the first.
    pub(super) fn read_raw(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Err(TransportError::Disconnected(self.name.clone())),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if timeout.is_zero() || !self.wait(libc::POLLIN, timeout)? {
                        return Ok(0);
                    }
                    // Readable now: read once more (a close reads as 0, above).
                    return match self.stream.read(buf) {
                        Ok(0) => Err(TransportError::Disconnected(self.name.clone())),
                        Ok(n) => Ok(n),
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock | ErrorKind::Interrupted
                            ) =>
                        {
                            Ok(0)
                        }
                        Err(e) => Err(self.io(e)),
                    };
                }
                Err(e) => return Err(self.io(e)),
            }
        }
    }
}

impl Transport for TcpTransport {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        let end = Instant::now() + timeout;
        let mut done = 0;
        while done < bytes.len() {
            match self.stream.write(&bytes[done..]) {
                Ok(0) => return Err(TransportError::Disconnected(self.name.clone())),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() || !self.wait(libc::POLLOUT, left)? {
                        return Err(TransportError::WriteTimeout(self.name.clone()));
                    }
                }
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        self.read_raw(buf, timeout)
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        let mut junk = [0u8; 256];
        // What has arrived already.
        while self.read_raw(&mut junk, Duration::ZERO)? > 0 {}
        Ok(())
    }

    fn name(&self) -> &str {
        &self.name
    }
}
