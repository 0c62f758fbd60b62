//! A real serial device (USB adapters such as FTDI, CH340, Waveshare servo boards) or
//! the slave side of a pseudo-terminal, through the `serialport` crate.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use serialport::SerialPort;

use super::{Transport, TransportError};

/// An open serial port.
pub struct SerialTransport {
    name: String,
    port: Box<dyn SerialPort>,
}

impl SerialTransport {
    /// Opens `path` at `baud` (8N1, no flow control).
    pub fn open(path: &str, baud: u32) -> Result<Self, TransportError> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(10))
            .open()
            .map_err(|e| match e.kind() {
                serialport::ErrorKind::NoDevice => TransportError::Disconnected(path.to_string()),
                _ => TransportError::Io {
                    name: path.to_string(),
                    source: std::io::Error::other(e.to_string()),
                },
            })?;
        Ok(Self {
            name: path.to_string(),
            port,
        })
    }

    fn io(&self, e: std::io::Error) -> TransportError {
        match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::NotConnected | ErrorKind::UnexpectedEof => {
                TransportError::Disconnected(self.name.clone())
            }
            // EIO is what a tty reports once its other side is gone.
            _ if e.raw_os_error() == Some(5) => TransportError::Disconnected(self.name.clone()),
            _ => TransportError::Io {
                name: self.name.clone(),
                source: e,
            },
        }
    }
}

impl Transport for SerialTransport {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        let end = Instant::now() + timeout;
        let mut done = 0;
        while done < bytes.len() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TransportError::WriteTimeout(self.name.clone()));
            }
            self.port
                .set_timeout(left)
                .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
            match self.port.write(&bytes[done..]) {
                Ok(0) => return Err(TransportError::Disconnected(self.name.clone())),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    return Err(TransportError::WriteTimeout(self.name.clone()));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let t = timeout.max(Duration::from_micros(1));
        self.port
            .set_timeout(t)
            .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
        match self.port.read(buf) {
            Ok(0) => Err(TransportError::Disconnected(self.name.clone())),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(self.io(e)),
        }
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(|e| self.io(std::io::Error::other(e.to_string())))
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// A serial port found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub path: String,
    /// "usb", "pci", "bluetooth" or "unknown".
    pub kind: String,
    /// USB vendor and product ids, when known.
    pub usb: Option<(u16, u16)>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial_number: Option<String>,
}

/// Lists serial ports (scans /sys on Linux; no libudev needed).
pub fn list_ports() -> Result<Vec<PortInfo>, TransportError> {
    let ports = serialport::available_ports().map_err(|e| TransportError::Io {
        name: "serial port scan".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(ports
        .into_iter()
        .map(|p| {
            let (kind, usb, manufacturer, product, serial_number) = match p.port_type {
                serialport::SerialPortType::UsbPort(u) => (
                    "usb",
                    Some((u.vid, u.pid)),
                    u.manufacturer,
                    u.product,
                    u.serial_number,
                ),
                serialport::SerialPortType::PciPort => ("pci", None, None, None, None),
                serialport::SerialPortType::BluetoothPort => ("bluetooth", None, None, None, None),
                serialport::SerialPortType::Unknown => ("unknown", None, None, None, None),
            };
            PortInfo {
                path: p.port_name,
                kind: kind.into(),
                usb,
                manufacturer,
                product,
                serial_number,
            }
        })
        .collect())
}
