//! A Unix pseudo-terminal: the virtual servo holds the master side, clients (armhil's
//! bridge, the official Python SDKs) open the slave path as if it were a USB serial
//! adapter. The slave is put in raw mode (no echo, no line editing, no CR/LF mapping)
//! and kept open by us, so the master never sees EIO while clients come and go.
//! Closing the master is a pulled cable for the client.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use super::{Transport, TransportError};

/// The master side of a pseudo-terminal pair.
pub struct PtyTransport {
    slave_path: String,
    master: OwnedFd,
    _slave: File,
}

fn last_error(name: &str) -> TransportError {
    TransportError::Io {
        name: name.to_string(),
        source: std::io::Error::last_os_error(),
    }
}

impl PtyTransport {
    /// Creates a pty pair; clients open [`Self::slave_path`].
    pub fn open() -> Result<Self, TransportError> {
        // SAFETY: plain libc calls on a descriptor we own; every return is checked.
        let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(last_error("posix_openpt"));
        }
        // SAFETY: `fd` is a fresh, valid descriptor that nothing else owns.
        let master = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `fd` is a pty master.
        if unsafe { libc::grantpt(fd) } != 0 || unsafe { libc::unlockpt(fd) } != 0 {
            return Err(last_error("grantpt/unlockpt"));
        }
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: `buf` is writable for its whole length, which we pass.
        if unsafe { libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()) } != 0 {
            return Err(last_error("ptsname_r"));
        }
        // SAFETY: ptsname_r wrote a NUL-terminated string into `buf`.
        let slave_path = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .map_err(|source| TransportError::Io {
                name: slave_path.clone(),
                source,
            })?;
        // Raw mode on the slave, so binary packets pass untouched.
        // SAFETY: termios is plain data; tcgetattr fills it; the fd is valid.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(slave.as_raw_fd(), &mut t) != 0 {
                return Err(last_error(&slave_path));
            }
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) != 0 {
                return Err(last_error(&slave_path));
            }
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) != 0 {
                return Err(last_error("fcntl"));
            }
        }
        Ok(Self {
            slave_path,
            master,
            _slave: slave,
        })
    }

    /// The device path clients open, e.g. `/dev/pts/3`.
    pub fn slave_path(&self) -> &str {
        &self.slave_path
    }

    /// Waits until the master is readable (POLLIN) or writable (POLLOUT), up to `timeout`.
    fn wait(&self, events: libc::c_short, timeout: Duration) -> Result<bool, TransportError> {
        super::wait_fd(self.master.as_raw_fd(), events, timeout, &self.slave_path)
    }
}

impl Transport for PtyTransport {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        let end = Instant::now() + timeout;
        let mut done = 0;
        while done < bytes.len() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.wait(libc::POLLOUT, left)? {
                return Err(TransportError::WriteTimeout(self.slave_path.clone()));
            }
            let rest = &bytes[done..];
            // SAFETY: `rest` is valid for `rest.len()` bytes.
            let n =
                unsafe { libc::write(self.master.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) {
                    continue;
                }
                return Err(TransportError::Io {
                    name: self.slave_path.clone(),
                    source: e,
                });
            }
            done += n as usize;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() || !self.wait(libc::POLLIN, timeout)? {
            return Ok(0);
        }
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        let n = unsafe { libc::read(self.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(0),
                _ if e.raw_os_error() == Some(libc::EIO) => {
                    Err(TransportError::Disconnected(self.slave_path.clone()))
                }
                _ => Err(TransportError::Io {
                    name: self.slave_path.clone(),
                    source: e,
                }),
            };
        }
        Ok(n as usize)
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        let mut scratch = [0u8; 256];
        while self.read(&mut scratch, Duration::ZERO)? > 0 {}
        Ok(())
    }

    fn name(&self) -> &str {
        &self.slave_path
    }
}
