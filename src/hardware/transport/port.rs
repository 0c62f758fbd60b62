//! A port by its name, wherever armhil takes one (scene backends, `--swap`, `serve
//! --proxy`, `bench-bus`): a local device path (`/dev/ttyUSB0`), `tcp://HOST:PORT`
//! (raw TCP: ser2net's raw mode, socat) or `rfc2217://HOST:PORT` (RFC 2217: armhil
//! sets the baud rate and line on the server).

use std::time::Duration;

use super::rfc2217::Rfc2217Transport;
use super::serial::SerialTransport;
use super::tcp::TcpTransport;
use super::{Transport, TransportError};
use crate::hardware::spec::{PortName, parse};

/// An open port of any kind.
pub enum Port {
    Serial(SerialTransport),
    Tcp(TcpTransport),
    Rfc2217(Rfc2217Transport),
}

/// Opens the port `name` at `baud` (for a raw TCP port the server's own setting
/// applies).
pub fn open(name: &str, baud: u32) -> Result<Port, TransportError> {
    let bad = |why: String| TransportError::Io {
        name: name.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why),
    };
    match parse(name).map_err(bad)? {
        PortName::Device(p) => SerialTransport::open(p, baud).map(Port::Serial),
        PortName::Tcp(a) => TcpTransport::connect(a, name).map(Port::Tcp),
        PortName::Rfc2217(a) => Rfc2217Transport::connect(a, name, baud).map(Port::Rfc2217),
    }
}

impl Port {
    fn inner(&mut self) -> &mut dyn Transport {
        match self {
            Port::Serial(t) => t,
            Port::Tcp(t) => t,
            Port::Rfc2217(t) => t,
        }
    }
}

impl Transport for Port {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        self.inner().write_all(bytes, timeout)
    }
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        self.inner().read(buf, timeout)
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.inner().clear_input()
    }
    fn name(&self) -> &str {
        match self {
            Port::Serial(t) => t.name(),
            Port::Tcp(t) => t.name(),
            Port::Rfc2217(t) => t.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_tcp_port_carries_bytes_both_ways_and_knows_when_it_is_gone() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut b = [0u8; 4];
            std::io::Read::read_exact(&mut s, &mut b).expect("read");
            std::io::Write::write_all(&mut s, &[b[3], b[2], b[1], b[0]]).expect("write");
        });
        let mut p = open(&format!("tcp://{addr}"), 1_000_000).expect("connect");
        p.write_all(&[1, 2, 3, 0xFF], Duration::from_secs(1))
            .expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 8];
        while got.len() < 4 {
            let n = p.read(&mut buf, Duration::from_secs(1)).expect("read");
            assert!(n > 0, "nothing within 1 s");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, vec![0xFF, 3, 2, 1]);
        server.join().expect("server");
        // The server closed: the next read says so.
        assert!(matches!(
            p.read(&mut buf, Duration::from_secs(1)),
            Err(TransportError::Disconnected(_))
        ));
        // Nothing listens there any more: refused is a disconnection too.
        assert!(matches!(
            open(&format!("tcp://{addr}"), 1_000_000),
            Err(TransportError::Disconnected(_))
        ));
    }
}
