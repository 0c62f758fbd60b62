//! A serial port reached over RFC 2217 (Telnet COM Port Control), as ser2net's
//! `telnet(rfc2217)` accepter and pyserial's `rfc2217://` speak it: the client sets
//! the baud rate and line (8N1, no flow control) and the bytes travel in Telnet
//! binary mode, 0xFF doubled. The Telnet decoder is a pure state machine that never
//! panics and never grows without bound, whatever the server sends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::tcp::TcpTransport;
use super::{Transport, TransportError};

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const BINARY: u8 = 0;
const SGA: u8 = 3;
const COM_PORT: u8 = 44;
const SET_BAUDRATE: u8 = 1;
const SET_DATASIZE: u8 = 2;
const SET_PARITY: u8 = 3;
const SET_STOPSIZE: u8 = 4;
const SET_CONTROL: u8 = 5;
/// Server replies are the client's command + 100.
const SERVER: u8 = 100;
/// Longest subnegotiation kept (RFC 2217's are a few bytes; more is garbage).
const MAX_SUB: usize = 64;
/// How long the server has to acknowledge the line settings.
const NEGOTIATE_WITHIN: Duration = Duration::from_secs(2);

/// What the decoder found in the server's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Telnet {
    Data(u8),
    /// WILL/WONT/DO/DONT and the option.
    Verb(u8, u8),
    /// A subnegotiation's body (option first), IAC IAC undone.
    Sub(Vec<u8>),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    Verb(u8),
    Sub,
    SubIac,
}

/// The Telnet decoder.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    sub: Vec<u8>,
}

impl Decoder {
    /// Takes one byte; what it completes, if anything.
    pub fn feed(&mut self, b: u8) -> Option<Telnet> {
        match (self.state, b) {
            (State::Data, IAC) => {
                self.state = State::Iac;
                None
            }
            (State::Data, _) => Some(Telnet::Data(b)),
            (State::Iac, IAC) => {
                self.state = State::Data;
                Some(Telnet::Data(IAC))
            }
            (State::Iac, WILL | WONT | DO | DONT) => {
                self.state = State::Verb(b);
                None
            }
            (State::Iac, SB) => {
                self.sub.clear();
                self.state = State::Sub;
                None
            }
            // NOP, GA, data mark and the rest carry nothing for a serial line.
            (State::Iac, _) => {
                self.state = State::Data;
                None
            }
            (State::Verb(v), _) => {
                self.state = State::Data;
                Some(Telnet::Verb(v, b))
            }
            (State::Sub, IAC) => {
                self.state = State::SubIac;
                None
            }
            (State::Sub, _) => {
                if self.sub.len() < MAX_SUB {
                    self.sub.push(b);
                }
                None
            }
            (State::SubIac, SE) => {
                self.state = State::Data;
                Some(Telnet::Sub(std::mem::take(&mut self.sub)))
            }
            (State::SubIac, _) => {
                // IAC IAC inside: a 0xFF of the body; anything else is malformed and
                // kept as it came.
                if self.sub.len() < MAX_SUB {
                    self.sub.push(b);
                }
                self.state = State::Sub;
                None
            }
        }
    }
}

/// `bytes` as Telnet data (0xFF doubled).
pub fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
}

/// A COM-PORT-OPTION subnegotiation.
fn sub(cmd: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![IAC, SB, COM_PORT, cmd];
    escape(value, &mut v);
    v.extend([IAC, SE]);
    v
}

/// An RFC 2217 connection to a serial server.
pub struct Rfc2217Transport {
    tcp: TcpTransport,
    decoder: Decoder,
    /// Data decoded but not yet read.
    pending: VecDeque<u8>,
    /// The baud rate the server acknowledged.
    baud: Option<u32>,
    refused: bool,
    raw: Vec<u8>,
}

impl Rfc2217Transport {
    /// Connects to `addr` (`HOST:PORT`) and sets the line to `baud` 8N1, no flow
    /// control, waiting for the server to acknowledge the baud rate.
    pub fn connect(addr: &str, name: &str, baud: u32) -> Result<Self, TransportError> {
        let mut t = Self {
            tcp: TcpTransport::connect(addr, name)?,
            decoder: Decoder::default(),
            pending: VecDeque::new(),
            baud: None,
            refused: false,
            raw: Vec::new(),
        };
        let mut hello = vec![
            IAC, WILL, BINARY, IAC, DO, BINARY, IAC, WILL, SGA, IAC, DO, SGA, IAC, WILL, COM_PORT,
        ];
        hello.extend(sub(SET_BAUDRATE, &baud.to_be_bytes()));
        hello.extend(sub(SET_DATASIZE, &[8]));
        hello.extend(sub(SET_PARITY, &[1]));
        hello.extend(sub(SET_STOPSIZE, &[1]));
        hello.extend(sub(SET_CONTROL, &[1]));
        t.tcp.write_all(&hello, NEGOTIATE_WITHIN)?;
        let end = Instant::now() + NEGOTIATE_WITHIN;
        while t.baud.is_none() && !t.refused && Instant::now() < end {
            t.fill(Duration::from_millis(10))?;
        }
        let bad = |why: String| TransportError::Io {
            name: name.to_string(),
            source: std::io::Error::other(why),
        };
        if t.refused {
            return Err(bad("the server refuses RFC 2217 (COM-PORT-OPTION)".into()));
        }
        match t.baud {
            Some(b) if b == baud => Ok(t),
            Some(b) => Err(bad(format!("the server set {b} baud, not {baud}"))),
            None => Err(bad(format!(
                "no RFC 2217 answer to the baud rate within {} s (is it a raw port? use tcp://)",
                NEGOTIATE_WITHIN.as_secs()
            ))),
        }
    }

    /// Reads what the server sent within `timeout` and decodes it.
    fn fill(&mut self, timeout: Duration) -> Result<(), TransportError> {
        let mut buf = [0u8; 512];
        let n = self.tcp.read_raw(&mut buf, timeout)?;
        let mut reply = Vec::new();
        for &b in &buf[..n] {
            match self.decoder.feed(b) {
                Some(Telnet::Data(d)) => self.pending.push_back(d),
                Some(Telnet::Verb(v, opt)) => self.answer(v, opt, &mut reply),
                Some(Telnet::Sub(body)) => {
                    if let [COM_PORT, c, v @ ..] = body.as_slice()
                        && *c == SET_BAUDRATE + SERVER
                        && let Ok(b) = <[u8; 4]>::try_from(v)
                    {
                        self.baud = Some(u32::from_be_bytes(b));
                    }
                }
                None => {}
            }
        }
        if !reply.is_empty() {
            self.tcp.write_all(&reply, NEGOTIATE_WITHIN)?;
        }
        Ok(())
    }

    /// Answers a request for an option: yes to binary, suppress-go-ahead and COM
    /// port (which it asked for itself, so no answer is owed), no to anything else.
    fn answer(&mut self, verb: u8, opt: u8, reply: &mut Vec<u8>) {
        let ours = matches!(opt, BINARY | SGA | COM_PORT);
        match verb {
            DO if !ours => reply.extend([IAC, WONT, opt]),
            WILL if !ours => reply.extend([IAC, DONT, opt]),
            DONT | WONT if opt == COM_PORT => self.refused = true,
            _ => {}
        }
    }
}

impl Transport for Rfc2217Transport {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        self.raw.clear();
        escape(bytes, &mut self.raw);
        let raw = std::mem::take(&mut self.raw);
        let r = self.tcp.write_all(&raw, timeout);
        self.raw = raw;
        r
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let end = Instant::now() + timeout;
        while self.pending.is_empty() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            self.fill(left)?;
        }
        let n = buf.len().min(self.pending.len());
        for (slot, b) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.fill(Duration::ZERO)?;
        self.pending.clear();
        Ok(())
    }

    fn name(&self) -> &str {
        self.tcp.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(bytes: &[u8]) -> Vec<Telnet> {
        let mut d = Decoder::default();
        bytes.iter().filter_map(|&b| d.feed(b)).collect()
    }

    #[test]
    fn commands_and_subnegotiations_are_told_from_data() {
        let got = decode(&[
            1, IAC, IAC, 2, IAC, WILL, COM_PORT, IAC, SB, COM_PORT, 101, 0, 15, 66, 64, IAC, SE, 3,
        ]);
        assert_eq!(
            got,
            vec![
                Telnet::Data(1),
                Telnet::Data(IAC),
                Telnet::Data(2),
                Telnet::Verb(WILL, COM_PORT),
                Telnet::Sub(vec![COM_PORT, 101, 0, 15, 66, 64]),
                Telnet::Data(3),
            ]
        );
        // 1,000,000 baud as the client sends it.
        assert_eq!(
            sub(SET_BAUDRATE, &1_000_000u32.to_be_bytes()),
            vec![IAC, SB, COM_PORT, 1, 0x00, 0x0F, 0x42, 0x40, IAC, SE]
        );
    }

    proptest! {
        #[test]
        fn escaped_data_decodes_to_itself(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut wire = Vec::new();
            escape(&data, &mut wire);
            let back: Vec<u8> = decode(&wire)
                .into_iter()
                .filter_map(|t| match t { Telnet::Data(b) => Some(b), _ => None })
                .collect();
            prop_assert_eq!(back, data);
        }

        #[test]
        fn any_bytes_decode_without_panic_or_unbounded_growth(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = Decoder::default();
            for b in bytes {
                if let Some(Telnet::Sub(s)) = d.feed(b) {
                    prop_assert!(s.len() <= MAX_SUB);
                }
                prop_assert!(d.sub.len() <= MAX_SUB);
            }
        }
    }
}
