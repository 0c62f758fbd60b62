//! Feetech STS/SCS protocol: `FF FF ID LEN INST|ERR params CHK`, LEN = params + 2,
//! CHK = !(ID + LEN + INST + params), no stuffing, 1-byte addresses and lengths, at
//! most 250 bytes a packet. Signed registers are sign-magnitude
//! ([`super::sign_magnitude_encode`]).

use super::{FrameError, PacketError};

pub const BROADCAST: u8 = 0xFE;
/// Largest packet on the wire, bytes.
pub const MAX_PACKET: usize = 250;

/// Instruction codes.
pub mod code {
    pub const PING: u8 = 0x01;
    pub const READ: u8 = 0x02;
    pub const WRITE: u8 = 0x03;
    pub const REG_WRITE: u8 = 0x04;
    pub const ACTION: u8 = 0x05;
    pub const SYNC_READ: u8 = 0x82;
    pub const SYNC_WRITE: u8 = 0x83;
}

/// Status error bits.
pub mod err {
    pub const VOLTAGE: u8 = 1 << 0;
    pub const ENCODER: u8 = 1 << 1;
    pub const OVERHEAT: u8 = 1 << 2;
    pub const OVERCURRENT: u8 = 1 << 3;
    pub const OVERLOAD: u8 = 1 << 5;
}

/// Checksum over ID, LEN, INST/ERR and params.
pub fn checksum(body: &[u8]) -> u8 {
    !body.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// A checked frame off the wire: `code` is the instruction (from a host) or the error
/// byte (from a servo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: u8,
    pub code: u8,
    pub params: Vec<u8>,
}

/// Encodes one frame. Errors if it would exceed [`MAX_PACKET`].
pub fn encode_frame(id: u8, code: u8, params: &[u8]) -> Result<Vec<u8>, PacketError> {
    let total = params.len() + 6;
    if total > MAX_PACKET {
        return Err(PacketError::TooLong(total));
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&[0xFF, 0xFF, id, (params.len() + 2) as u8, code]);
    out.extend_from_slice(params);
    out.push(checksum(&out[2..]));
    Ok(out)
}

/// An instruction packet (host → servo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Ping,
    Read {
        addr: u8,
        len: u8,
    },
    Write {
        addr: u8,
        data: Vec<u8>,
    },
    RegWrite {
        addr: u8,
        data: Vec<u8>,
    },
    Action,
    SyncRead {
        addr: u8,
        len: u8,
        ids: Vec<u8>,
    },
    SyncWrite {
        addr: u8,
        len: u8,
        data: Vec<(u8, Vec<u8>)>,
    },
    /// Any other code, kept verbatim.
    Other {
        code: u8,
        params: Vec<u8>,
    },
}

impl Instruction {
    pub fn code(&self) -> u8 {
        match self {
            Instruction::Ping => code::PING,
            Instruction::Read { .. } => code::READ,
            Instruction::Write { .. } => code::WRITE,
            Instruction::RegWrite { .. } => code::REG_WRITE,
            Instruction::Action => code::ACTION,
            Instruction::SyncRead { .. } => code::SYNC_READ,
            Instruction::SyncWrite { .. } => code::SYNC_WRITE,
            Instruction::Other { code, .. } => *code,
        }
    }

    fn params(&self) -> Vec<u8> {
        match self {
            Instruction::Ping | Instruction::Action => Vec::new(),
            Instruction::Read { addr, len } => vec![*addr, *len],
            Instruction::Write { addr, data } | Instruction::RegWrite { addr, data } => {
                let mut p = vec![*addr];
                p.extend_from_slice(data);
                p
            }
            Instruction::SyncRead { addr, len, ids } => {
                let mut p = vec![*addr, *len];
                p.extend_from_slice(ids);
                p
            }
            Instruction::SyncWrite { addr, len, data } => {
                let mut p = vec![*addr, *len];
                for (id, d) in data {
                    p.push(*id);
                    p.extend_from_slice(d);
                }
                p
            }
            Instruction::Other { params, .. } => params.clone(),
        }
    }

    /// The bytes of this instruction addressed to `id`.
    pub fn encode(&self, id: u8) -> Result<Vec<u8>, PacketError> {
        if let Instruction::SyncWrite { len, data, .. } = self
            && let Some((id, d)) = data.iter().find(|(_, d)| d.len() != *len as usize)
        {
            return Err(PacketError::BadParams {
                instruction: code::SYNC_WRITE,
                detail: format!("servo {id}: {} data bytes, expected {len}", d.len()),
            });
        }
        encode_frame(id, self.code(), &self.params())
    }

    /// Interprets a frame received by a servo.
    pub fn from_frame(f: &Frame) -> Result<Self, PacketError> {
        let p = &f.params;
        let bad = |detail: &str| PacketError::BadParams {
            instruction: f.code,
            detail: detail.into(),
        };
        Ok(match f.code {
            code::PING => Instruction::Ping,
            code::ACTION => Instruction::Action,
            code::READ => match p.as_slice() {
                [addr, len] => Instruction::Read {
                    addr: *addr,
                    len: *len,
                },
                _ => return Err(bad("read needs address and length")),
            },
            code::WRITE | code::REG_WRITE => {
                let (addr, data) = p
                    .split_first()
                    .ok_or_else(|| bad("write needs an address"))?;
                if f.code == code::WRITE {
                    Instruction::Write {
                        addr: *addr,
                        data: data.to_vec(),
                    }
                } else {
                    Instruction::RegWrite {
                        addr: *addr,
                        data: data.to_vec(),
                    }
                }
            }
            code::SYNC_READ => match p.as_slice() {
                [addr, len, ids @ ..] => Instruction::SyncRead {
                    addr: *addr,
                    len: *len,
                    ids: ids.to_vec(),
                },
                _ => return Err(bad("sync read needs address and length")),
            },
            code::SYNC_WRITE => match p.as_slice() {
                [addr, len, rest @ ..] => {
                    let stride = *len as usize + 1;
                    if *len == 0 || rest.len() % stride != 0 {
                        return Err(bad(
                            "sync write data is not a whole number of {id, data} blocks",
                        ));
                    }
                    let data = rest
                        .chunks(stride)
                        .map(|c| (c[0], c[1..].to_vec()))
                        .collect();
                    Instruction::SyncWrite {
                        addr: *addr,
                        len: *len,
                        data,
                    }
                }
                _ => return Err(bad("sync write needs address and length")),
            },
            other => Instruction::Other {
                code: other,
                params: p.clone(),
            },
        })
    }
}

/// A status packet (servo → host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub id: u8,
    /// Error bits ([`err`]).
    pub error: u8,
    pub params: Vec<u8>,
}

impl Status {
    pub fn encode(&self) -> Result<Vec<u8>, PacketError> {
        encode_frame(self.id, self.error, &self.params)
    }

    /// Interprets a frame received by the host. An error byte above 0x7F is corrupt
    /// (as the official SDK treats it).
    pub fn from_frame(f: &Frame) -> Result<Self, PacketError> {
        if f.code > 0x7F {
            return Err(PacketError::NotStatus(f.code));
        }
        Ok(Status {
            id: f.id,
            error: f.code,
            params: f.params.clone(),
        })
    }
}

/// Stream decoder: feed bytes as they arrive, take frames out. Resynchronises after
/// garbage and bad checksums; holds at most `capacity` bytes (older bytes are dropped
/// and reported as garbage).
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    capacity: usize,
    dropped: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder holding at most 2 packets' worth of bytes.
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(2 * MAX_PACKET),
            capacity: 2 * MAX_PACKET,
            dropped: 0,
        }
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > self.capacity {
            let excess = self.buf.len() - self.capacity;
            self.buf.drain(..excess);
            self.dropped += excess;
        }
    }

    /// Clears everything buffered (e.g. after a timeout).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next frame or framing error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            return Some(Err(FrameError::Garbage(n)));
        }
        // Find a header: FF FF followed by an ID that is not FF.
        let start = (0..self.buf.len()).find(|&i| {
            self.buf[i] == 0xFF
                && self.buf.get(i + 1).is_none_or(|b| *b == 0xFF)
                && self.buf.get(i + 2).is_none_or(|b| *b != 0xFF)
        });
        match start {
            None => {
                let n = self.buf.len();
                self.buf.clear();
                return (n > 0).then_some(Err(FrameError::Garbage(n)));
            }
            Some(0) => {}
            Some(i) => {
                self.buf.drain(..i);
                return Some(Err(FrameError::Garbage(i)));
            }
        }
        if self.buf.len() < 4 {
            return None;
        }
        let len = self.buf[3] as usize;
        if len < 2 || len + 4 > MAX_PACKET {
            self.buf.drain(..2);
            return Some(Err(FrameError::Length(len)));
        }
        let total = len + 4;
        if self.buf.len() < total {
            return None;
        }
        let computed = checksum(&self.buf[2..total - 1]);
        let received = self.buf[total - 1];
        if computed != received {
            self.buf.drain(..2);
            return Some(Err(FrameError::Checksum {
                computed: computed as u16,
                received: received as u16,
            }));
        }
        let frame = Frame {
            id: self.buf[2],
            code: self.buf[4],
            params: self.buf[5..total - 1].to_vec(),
        };
        self.buf.drain(..total);
        Some(Ok(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex"))
            .collect()
    }

    fn decode_one(bytes: &[u8]) -> Frame {
        let mut d = Decoder::new();
        d.push(bytes);
        let f = d.next_frame().expect("a frame").expect("valid");
        assert!(d.next_frame().is_none());
        f
    }

    #[test]
    fn golden_f1_ping() {
        let b = hex("FF FF 01 02 01 FB");
        assert_eq!(Instruction::Ping.encode(1).expect("encode"), b);
        assert_eq!(
            Instruction::from_frame(&decode_one(&b)),
            Ok(Instruction::Ping)
        );
    }

    #[test]
    fn golden_f2_ok_status() {
        let b = hex("FF FF 01 02 00 FC");
        let s = Status {
            id: 1,
            error: 0,
            params: vec![],
        };
        assert_eq!(s.encode().expect("encode"), b);
        assert_eq!(Status::from_frame(&decode_one(&b)), Ok(s));
    }

    #[test]
    fn golden_f3_read_and_f4_reply() {
        let b = hex("FF FF 01 04 02 38 02 BE");
        let i = Instruction::Read { addr: 0x38, len: 2 };
        assert_eq!(i.encode(1).expect("encode"), b);
        assert_eq!(Instruction::from_frame(&decode_one(&b)), Ok(i));
        let r = hex("FF FF 01 04 00 A0 07 53");
        let s = Status::from_frame(&decode_one(&r)).expect("status");
        assert_eq!(u16::from_le_bytes([s.params[0], s.params[1]]), 1952);
        assert_eq!(s.encode().expect("encode"), r);
    }

    #[test]
    fn golden_f5_write_goal_position() {
        let b = hex("FF FF 01 05 03 2A 00 08 C4");
        let i = Instruction::Write {
            addr: 0x2A,
            data: 2048u16.to_le_bytes().to_vec(),
        };
        assert_eq!(i.encode(1).expect("encode"), b);
        assert_eq!(Instruction::from_frame(&decode_one(&b)), Ok(i));
    }

    #[test]
    fn golden_f6_sync_read() {
        let b = hex("FF FF FE 0A 82 38 02 01 02 03 04 05 06 26");
        let i = Instruction::SyncRead {
            addr: 0x38,
            len: 2,
            ids: vec![1, 2, 3, 4, 5, 6],
        };
        assert_eq!(i.encode(BROADCAST).expect("encode"), b);
        assert_eq!(Instruction::from_frame(&decode_one(&b)), Ok(i));
    }

    #[test]
    fn golden_f7_sync_write() {
        let b =
            hex("FF FF FE 16 83 2A 02 01 00 08 02 00 08 03 00 08 04 00 08 05 00 08 06 00 08 F7");
        let data = (1..=6)
            .map(|id| (id, 2048u16.to_le_bytes().to_vec()))
            .collect();
        let i = Instruction::SyncWrite {
            addr: 0x2A,
            len: 2,
            data,
        };
        assert_eq!(i.encode(BROADCAST).expect("encode"), b);
        assert_eq!(Instruction::from_frame(&decode_one(&b)), Ok(i));
    }

    #[test]
    fn decoder_resyncs_after_garbage_and_a_bad_checksum_and_takes_partial_input() {
        let good = hex("FF FF 01 04 00 A0 07 53");
        let mut bad = good.clone();
        bad[5] ^= 0x01;
        let mut d = Decoder::new();
        d.push(&[0x00, 0x13, 0x37]);
        d.push(&bad);
        d.push(&good[..3]);
        assert_eq!(d.next_frame(), Some(Err(FrameError::Garbage(3))));
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::Checksum { .. }))
        ));
        // The rest of the bad frame is garbage; the good one is still partial.
        assert!(matches!(d.next_frame(), Some(Err(FrameError::Garbage(_)))));
        assert_eq!(d.next_frame(), None);
        d.push(&good[3..]);
        let f = d.next_frame().expect("frame").expect("valid");
        assert_eq!(f.params, vec![0xA0, 0x07]);
    }

    #[test]
    fn bad_sync_write_blocks_are_refused() {
        let i = Instruction::SyncWrite {
            addr: 0x2A,
            len: 2,
            data: vec![(1, vec![0])],
        };
        assert!(i.encode(BROADCAST).is_err());
        let f = Frame {
            id: BROADCAST,
            code: code::SYNC_WRITE,
            params: vec![0x2A, 2, 1, 0],
        };
        assert!(Instruction::from_frame(&f).is_err());
    }
}
