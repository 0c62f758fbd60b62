//! Dynamixel Protocol 2.0: `FF FF FD 00 ID LEN_L LEN_H INST params CRC_L CRC_H`, LEN =
//! bytes after the length field (after stuffing), CRC-16/BUYPASS over everything
//! before it (stuffing included), `FF FF FD` in the payload stuffed to `FF FF FD FD`,
//! 2-byte addresses and lengths, little-endian two's-complement values. Status packets
//! use instruction `55` followed by the error byte.

use super::{FrameError, PacketError};

pub const BROADCAST: u8 = 0xFE;
/// Status instruction.
pub const STATUS: u8 = 0x55;
/// Largest packet this codec accepts, bytes (the X series buffers are far smaller).
pub const MAX_PACKET: usize = 1024;
const HEADER: [u8; 4] = [0xFF, 0xFF, 0xFD, 0x00];

/// Instruction codes.
pub mod code {
    pub const PING: u8 = 0x01;
    pub const READ: u8 = 0x02;
    pub const WRITE: u8 = 0x03;
    pub const REG_WRITE: u8 = 0x04;
    pub const ACTION: u8 = 0x05;
    pub const FACTORY_RESET: u8 = 0x06;
    pub const REBOOT: u8 = 0x08;
    pub const SYNC_READ: u8 = 0x82;
    pub const SYNC_WRITE: u8 = 0x83;
    pub const FAST_SYNC_READ: u8 = 0x8A;
    pub const BULK_READ: u8 = 0x92;
    pub const BULK_WRITE: u8 = 0x93;
}

/// Error numbers in the low 7 bits of a status error byte; bit 7 is the alert flag.
pub mod err {
    pub const RESULT_FAIL: u8 = 1;
    pub const INSTRUCTION: u8 = 2;
    pub const CRC: u8 = 3;
    pub const DATA_RANGE: u8 = 4;
    pub const DATA_LENGTH: u8 = 5;
    pub const DATA_LIMIT: u8 = 6;
    pub const ACCESS: u8 = 7;
    pub const ALERT: u8 = 0x80;
}

const fn crc_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x8005
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
static CRC_TABLE: [u16; 256] = crc_table();

/// CRC-16/BUYPASS (poly 0x8005, init 0, no reflection), continuing from `crc`.
pub fn crc16_update(mut crc: u16, data: &[u8]) -> u16 {
    for b in data {
        let idx = ((crc >> 8) as u8 ^ b) as usize;
        crc = (crc << 8) ^ CRC_TABLE[idx];
    }
    crc
}

/// CRC-16/BUYPASS of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    crc16_update(0, data)
}

/// Inserts an `FD` after every `FF FF FD` (in instruction + params).
pub fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 4);
    for (i, b) in data.iter().enumerate() {
        out.push(*b);
        if *b == 0xFD && i >= 2 && data[i - 1] == 0xFF && data[i - 2] == 0xFF {
            out.push(0xFD);
        }
    }
    out
}

/// Removes stuffing: `FF FF FD FD` becomes `FF FF FD`.
pub fn unstuff(data: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        out.push(b);
        let n = out.len();
        if b == 0xFD
            && n >= 3
            && out[n - 2] == 0xFF
            && out[n - 3] == 0xFF
            && data.get(i + 1) == Some(&0xFD)
        {
            i += 1; // skip the stuffing byte
        }
        i += 1;
    }
    out
}

/// A checked frame off the wire (payload unstuffed). For status packets `instruction`
/// is `55` and `params[0]` is the error byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: u8,
    pub instruction: u8,
    pub params: Vec<u8>,
}

/// Encodes one frame, stuffing the payload unless `raw` (Fast Sync Read replies).
pub fn encode_frame(id: u8, instruction: u8, params: &[u8]) -> Result<Vec<u8>, PacketError> {
    let mut payload = Vec::with_capacity(params.len() + 1);
    payload.push(instruction);
    payload.extend_from_slice(params);
    let payload = stuff(&payload);
    let len = payload.len() + 2;
    if len + 7 > MAX_PACKET {
        return Err(PacketError::TooLong(len + 7));
    }
    let mut out = Vec::with_capacity(len + 7);
    out.extend_from_slice(&HEADER);
    out.push(id);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc16(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// An instruction packet (host → servo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Ping,
    Read {
        addr: u16,
        len: u16,
    },
    Write {
        addr: u16,
        data: Vec<u8>,
    },
    RegWrite {
        addr: u16,
        data: Vec<u8>,
    },
    Action,
    FactoryReset {
        mode: u8,
    },
    Reboot,
    SyncRead {
        addr: u16,
        len: u16,
        ids: Vec<u8>,
    },
    SyncWrite {
        addr: u16,
        len: u16,
        data: Vec<(u8, Vec<u8>)>,
    },
    FastSyncRead {
        addr: u16,
        len: u16,
        ids: Vec<u8>,
    },
    /// `(id, addr, len)` per servo.
    BulkRead {
        reads: Vec<(u8, u16, u16)>,
    },
    /// `(id, addr, data)` per servo.
    BulkWrite {
        writes: Vec<(u8, u16, Vec<u8>)>,
    },
    Other {
        code: u8,
        params: Vec<u8>,
    },
}

fn le16(p: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([p[i], p[i + 1]])
}

impl Instruction {
    pub fn code(&self) -> u8 {
        match self {
            Instruction::Ping => code::PING,
            Instruction::Read { .. } => code::READ,
            Instruction::Write { .. } => code::WRITE,
            Instruction::RegWrite { .. } => code::REG_WRITE,
            Instruction::Action => code::ACTION,
            Instruction::FactoryReset { .. } => code::FACTORY_RESET,
            Instruction::Reboot => code::REBOOT,
            Instruction::SyncRead { .. } => code::SYNC_READ,
            Instruction::SyncWrite { .. } => code::SYNC_WRITE,
            Instruction::FastSyncRead { .. } => code::FAST_SYNC_READ,
            Instruction::BulkRead { .. } => code::BULK_READ,
            Instruction::BulkWrite { .. } => code::BULK_WRITE,
            Instruction::Other { code, .. } => *code,
        }
    }

    fn params(&self) -> Result<Vec<u8>, PacketError> {
        let mut p = Vec::new();
        match self {
            Instruction::Ping | Instruction::Action | Instruction::Reboot => {}
            Instruction::FactoryReset { mode } => p.push(*mode),
            Instruction::Read { addr, len } => {
                p.extend_from_slice(&addr.to_le_bytes());
                p.extend_from_slice(&len.to_le_bytes());
            }
            Instruction::Write { addr, data } | Instruction::RegWrite { addr, data } => {
                p.extend_from_slice(&addr.to_le_bytes());
                p.extend_from_slice(data);
            }
            Instruction::SyncRead { addr, len, ids }
            | Instruction::FastSyncRead { addr, len, ids } => {
                p.extend_from_slice(&addr.to_le_bytes());
                p.extend_from_slice(&len.to_le_bytes());
                p.extend_from_slice(ids);
            }
            Instruction::SyncWrite { addr, len, data } => {
                p.extend_from_slice(&addr.to_le_bytes());
                p.extend_from_slice(&len.to_le_bytes());
                for (id, d) in data {
                    if d.len() != *len as usize {
                        return Err(PacketError::BadParams {
                            instruction: code::SYNC_WRITE,
                            detail: format!("servo {id}: {} data bytes, expected {len}", d.len()),
                        });
                    }
                    p.push(*id);
                    p.extend_from_slice(d);
                }
            }
            Instruction::BulkRead { reads } => {
                for (id, addr, len) in reads {
                    p.push(*id);
                    p.extend_from_slice(&addr.to_le_bytes());
                    p.extend_from_slice(&len.to_le_bytes());
                }
            }
            Instruction::BulkWrite { writes } => {
                for (id, addr, data) in writes {
                    p.push(*id);
                    p.extend_from_slice(&addr.to_le_bytes());
                    p.extend_from_slice(&(data.len() as u16).to_le_bytes());
                    p.extend_from_slice(data);
                }
            }
            Instruction::Other { params, .. } => p.extend_from_slice(params),
        }
        Ok(p)
    }

    /// The bytes of this instruction addressed to `id`.
    pub fn encode(&self, id: u8) -> Result<Vec<u8>, PacketError> {
        encode_frame(id, self.code(), &self.params()?)
    }

    /// Interprets a frame received by a servo.
    pub fn from_frame(f: &Frame) -> Result<Self, PacketError> {
        let p = &f.params;
        let bad = |detail: &str| PacketError::BadParams {
            instruction: f.instruction,
            detail: detail.into(),
        };
        Ok(match f.instruction {
            code::PING => Instruction::Ping,
            code::ACTION => Instruction::Action,
            code::REBOOT => Instruction::Reboot,
            code::FACTORY_RESET => Instruction::FactoryReset {
                mode: p.first().copied().unwrap_or(0xFF),
            },
            code::READ => {
                if p.len() != 4 {
                    return Err(bad("read needs address(2) and length(2)"));
                }
                Instruction::Read {
                    addr: le16(p, 0),
                    len: le16(p, 2),
                }
            }
            code::WRITE | code::REG_WRITE => {
                if p.len() < 2 {
                    return Err(bad("write needs an address(2)"));
                }
                let (addr, data) = (le16(p, 0), p[2..].to_vec());
                if f.instruction == code::WRITE {
                    Instruction::Write { addr, data }
                } else {
                    Instruction::RegWrite { addr, data }
                }
            }
            code::SYNC_READ | code::FAST_SYNC_READ => {
                if p.len() < 4 {
                    return Err(bad("sync read needs address(2) and length(2)"));
                }
                let (addr, len, ids) = (le16(p, 0), le16(p, 2), p[4..].to_vec());
                if f.instruction == code::SYNC_READ {
                    Instruction::SyncRead { addr, len, ids }
                } else {
                    Instruction::FastSyncRead { addr, len, ids }
                }
            }
            code::SYNC_WRITE => {
                if p.len() < 4 {
                    return Err(bad("sync write needs address(2) and length(2)"));
                }
                let (addr, len) = (le16(p, 0), le16(p, 2));
                let stride = len as usize + 1;
                let rest = &p[4..];
                if len == 0 || !rest.len().is_multiple_of(stride) {
                    return Err(bad(
                        "sync write data is not a whole number of {id, data} blocks",
                    ));
                }
                let data = rest
                    .chunks(stride)
                    .map(|c| (c[0], c[1..].to_vec()))
                    .collect();
                Instruction::SyncWrite { addr, len, data }
            }
            code::BULK_READ => {
                if !p.len().is_multiple_of(5) {
                    return Err(bad("bulk read needs {id, addr(2), len(2)} blocks"));
                }
                Instruction::BulkRead {
                    reads: p
                        .chunks(5)
                        .map(|c| (c[0], le16(c, 1), le16(c, 3)))
                        .collect(),
                }
            }
            code::BULK_WRITE => {
                let mut writes = Vec::new();
                let mut i = 0;
                while i < p.len() {
                    if i + 5 > p.len() {
                        return Err(bad("bulk write block header truncated"));
                    }
                    let (id, addr, len) = (p[i], le16(p, i + 1), le16(p, i + 3) as usize);
                    if i + 5 + len > p.len() {
                        return Err(bad("bulk write data truncated"));
                    }
                    writes.push((id, addr, p[i + 5..i + 5 + len].to_vec()));
                    i += 5 + len;
                }
                Instruction::BulkWrite { writes }
            }
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
    /// Error byte: number in bits 0-6 ([`err`]), alert in bit 7.
    pub error: u8,
    pub params: Vec<u8>,
}

impl Status {
    pub fn encode(&self) -> Result<Vec<u8>, PacketError> {
        let mut p = Vec::with_capacity(self.params.len() + 1);
        p.push(self.error);
        p.extend_from_slice(&self.params);
        encode_frame(self.id, STATUS, &p)
    }

    /// Interprets a frame received by the host.
    pub fn from_frame(f: &Frame) -> Result<Self, PacketError> {
        if f.instruction != STATUS {
            return Err(PacketError::NotStatus(f.instruction));
        }
        let (error, params) = f.params.split_first().ok_or(PacketError::BadParams {
            instruction: STATUS,
            detail: "status without error byte".into(),
        })?;
        Ok(Status {
            id: f.id,
            error: *error,
            params: params.to_vec(),
        })
    }
}

/// One servo's block in a Fast Sync Read reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastBlock {
    pub error: u8,
    pub id: u8,
    pub data: Vec<u8>,
}

/// Encodes the single reply to a Fast Sync Read (ID `FE`, never stuffed): after `55`,
/// `[ERR, ID, data, CRC]` per servo, each CRC the running CRC of the packet so far.
pub fn encode_fast_sync_reply(blocks: &[FastBlock]) -> Result<Vec<u8>, PacketError> {
    let body: usize = blocks.iter().map(|b| b.data.len() + 4).sum();
    let len = 1 + body;
    if len + 7 > MAX_PACKET {
        return Err(PacketError::TooLong(len + 7));
    }
    let mut out = Vec::with_capacity(len + 7);
    out.extend_from_slice(&HEADER);
    out.push(BROADCAST);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.push(STATUS);
    for b in blocks {
        out.push(b.error);
        out.push(b.id);
        out.extend_from_slice(&b.data);
        let crc = crc16(&out);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    Ok(out)
}

/// Splits a Fast Sync Read reply frame into blocks of `data_len` bytes each.
pub fn parse_fast_sync_reply(f: &Frame, data_len: usize) -> Result<Vec<FastBlock>, PacketError> {
    let bad = |d: String| PacketError::BadParams {
        instruction: STATUS,
        detail: d,
    };
    if f.instruction != STATUS || f.id != BROADCAST {
        return Err(bad("not a fast sync read reply".into()));
    }
    // The frame holds every block with its CRC except the last block's CRC, which
    // the frame decoder consumed as the packet CRC.
    let stride = data_len + 4;
    let n = (f.params.len() + 2) / stride;
    if n == 0 || n * stride != f.params.len() + 2 {
        return Err(bad(format!(
            "{} bytes is not a whole number of {stride}-byte blocks",
            f.params.len() + 2
        )));
    }
    let mut raw = HEADER.to_vec();
    raw.push(BROADCAST);
    raw.extend_from_slice(&(((n * stride) + 1) as u16).to_le_bytes());
    raw.push(STATUS);
    let mut blocks = Vec::with_capacity(n);
    for k in 0..n {
        let c = &f.params[k * stride..(k * stride + data_len + 2)];
        raw.extend_from_slice(c);
        let crc = crc16(&raw);
        if k + 1 < n {
            let got = le16(&f.params, k * stride + data_len + 2);
            if got != crc {
                return Err(bad(format!(
                    "block {k}: CRC {got:#06x}, expected {crc:#06x}"
                )));
            }
        }
        raw.extend_from_slice(&crc.to_le_bytes());
        blocks.push(FastBlock {
            error: c[0],
            id: c[1],
            data: c[2..].to_vec(),
        });
    }
    Ok(blocks)
}

/// Stream decoder: feed bytes as they arrive, take frames out. Resynchronises after
/// garbage and bad CRCs; holds at most `2 × MAX_PACKET` bytes.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    dropped: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(2 * MAX_PACKET),
            dropped: 0,
        }
    }

    /// Bytes currently buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes (dropping the oldest beyond the bound).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let cap = 2 * MAX_PACKET;
        if self.buf.len() > cap {
            let excess = self.buf.len() - cap;
            self.buf.drain(..excess);
            self.dropped += excess;
        }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// The next frame or framing error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.dropped > 0 {
            return Some(Err(FrameError::Garbage(std::mem::take(&mut self.dropped))));
        }
        // A header, or a prefix of one at the end of the buffer.
        let start = (0..self.buf.len()).find(|&i| {
            let tail = &self.buf[i..];
            let n = tail.len().min(4);
            tail[..n] == HEADER[..n]
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
        if self.buf.len() < 7 {
            return None;
        }
        let len = le16(&self.buf, 5) as usize;
        if len < 3 || len + 7 > MAX_PACKET {
            self.buf.drain(..4);
            return Some(Err(FrameError::Length(len)));
        }
        let total = len + 7;
        if self.buf.len() < total {
            return None;
        }
        let computed = crc16(&self.buf[..total - 2]);
        let received = le16(&self.buf, total - 2);
        if computed != received {
            self.buf.drain(..4);
            return Some(Err(FrameError::Checksum { computed, received }));
        }
        let id = self.buf[4];
        let instruction = self.buf[7];
        let payload = &self.buf[8..total - 2];
        // Fast Sync Read replies (status from the broadcast ID) are never stuffed.
        let params = if id == BROADCAST && instruction == STATUS {
            payload.to_vec()
        } else {
            unstuff(payload)
        };
        self.buf.drain(..total);
        Some(Ok(Frame {
            id,
            instruction,
            params,
        }))
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

    fn roundtrip_instruction(id: u8, i: Instruction, golden: &str) {
        let b = hex(golden);
        assert_eq!(i.encode(id).expect("encode"), b, "{i:?}");
        let f = decode_one(&b);
        assert_eq!(f.id, id);
        assert_eq!(Instruction::from_frame(&f), Ok(i));
    }

    fn roundtrip_status(s: Status, golden: &str) {
        let b = hex(golden);
        assert_eq!(s.encode().expect("encode"), b);
        assert_eq!(Status::from_frame(&decode_one(&b)), Ok(s));
    }

    #[test]
    fn golden_d1_ping_d3_broadcast_ping() {
        roundtrip_instruction(1, Instruction::Ping, "FF FF FD 00 01 03 00 01 19 4E");
        roundtrip_instruction(
            BROADCAST,
            Instruction::Ping,
            "FF FF FD 00 FE 03 00 01 31 42",
        );
    }

    #[test]
    fn golden_d2_ping_reply() {
        let mut p = 1030u16.to_le_bytes().to_vec();
        p.push(38);
        roundtrip_status(
            Status {
                id: 1,
                error: 0,
                params: p,
            },
            "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D",
        );
    }

    #[test]
    fn golden_d4_read_d5_reply() {
        roundtrip_instruction(
            1,
            Instruction::Read { addr: 132, len: 4 },
            "FF FF FD 00 01 07 00 02 84 00 04 00 1D 15",
        );
        roundtrip_status(
            Status {
                id: 1,
                error: 0,
                params: 166i32.to_le_bytes().to_vec(),
            },
            "FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0",
        );
    }

    #[test]
    fn golden_d6_write_d7_empty_status() {
        roundtrip_instruction(
            1,
            Instruction::Write {
                addr: 116,
                data: 512i32.to_le_bytes().to_vec(),
            },
            "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89",
        );
        roundtrip_status(
            Status {
                id: 1,
                error: 0,
                params: vec![],
            },
            "FF FF FD 00 01 04 00 55 00 A1 0C",
        );
    }

    #[test]
    fn golden_d8_sync_read_d9_reply() {
        roundtrip_instruction(
            BROADCAST,
            Instruction::SyncRead {
                addr: 132,
                len: 4,
                ids: vec![1, 2],
            },
            "FF FF FD 00 FE 09 00 82 84 00 04 00 01 02 CE FA",
        );
        roundtrip_status(
            Status {
                id: 2,
                error: 0,
                params: 2079i32.to_le_bytes().to_vec(),
            },
            "FF FF FD 00 02 08 00 55 00 1F 08 00 00 BA BE",
        );
    }

    #[test]
    fn golden_d10_sync_write() {
        roundtrip_instruction(
            BROADCAST,
            Instruction::SyncWrite {
                addr: 116,
                len: 4,
                data: vec![
                    (1, 150i32.to_le_bytes().to_vec()),
                    (2, 170i32.to_le_bytes().to_vec()),
                ],
            },
            "FF FF FD 00 FE 11 00 83 74 00 04 00 01 96 00 00 00 02 AA 00 00 00 82 87",
        );
    }

    #[test]
    fn golden_d11_fast_sync_read_d12_reply() {
        roundtrip_instruction(
            BROADCAST,
            Instruction::FastSyncRead {
                addr: 132,
                len: 4,
                ids: vec![3, 7, 4],
            },
            "FF FF FD 00 FE 0A 00 8A 84 00 04 00 03 07 04 20 F2",
        );
        let golden = hex(
            "FF FF FD 00 FE 19 00 55 00 03 A6 00 00 00 84 08 00 07 1F 08 00 00 16 CA 00 04 FF 03 00 00 D1 9E",
        );
        let blocks = vec![
            FastBlock {
                error: 0,
                id: 3,
                data: 166i32.to_le_bytes().to_vec(),
            },
            FastBlock {
                error: 0,
                id: 7,
                data: 2079i32.to_le_bytes().to_vec(),
            },
            FastBlock {
                error: 0,
                id: 4,
                data: 1023i32.to_le_bytes().to_vec(),
            },
        ];
        assert_eq!(encode_fast_sync_reply(&blocks).expect("encode"), golden);
        let f = decode_one(&golden);
        assert_eq!(parse_fast_sync_reply(&f, 4), Ok(blocks));
    }

    #[test]
    fn golden_d13_stuffing() {
        roundtrip_instruction(
            1,
            Instruction::Write {
                addr: 116,
                data: vec![0xFF, 0xFF, 0xFD, 0x00],
            },
            "FF FF FD 00 01 0A 00 03 74 00 FF FF FD FD 00 21 E7",
        );
        assert_eq!(
            unstuff(&stuff(&[0xFF, 0xFF, 0xFD, 0xFF, 0xFF, 0xFD])),
            vec![0xFF, 0xFF, 0xFD, 0xFF, 0xFF, 0xFD]
        );
    }

    #[test]
    fn crc_matches_the_buypass_check_value() {
        assert_eq!(crc16(b"123456789"), 0xFEE8);
    }

    #[test]
    fn decoder_resyncs_after_garbage_and_bad_crc() {
        let good = hex("FF FF FD 00 01 04 00 55 00 A1 0C");
        let mut bad = good.clone();
        bad[8] = 0x01;
        let mut d = Decoder::new();
        d.push(&[0xFF, 0x00, 0xFD]);
        d.push(&bad);
        d.push(&good[..5]);
        assert_eq!(d.next_frame(), Some(Err(FrameError::Garbage(3))));
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::Checksum { .. }))
        ));
        assert!(matches!(d.next_frame(), Some(Err(FrameError::Garbage(_)))));
        assert_eq!(d.next_frame(), None);
        d.push(&good[5..]);
        assert_eq!(
            Status::from_frame(&d.next_frame().expect("frame").expect("ok"))
                .expect("status")
                .id,
            1
        );
    }
}
