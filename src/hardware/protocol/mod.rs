//! Servo bus protocol codecs. Each protocol has a pure encoder (instruction and status
//! packets to bytes), a frame-level stream decoder that resynchronises after garbage,
//! accepts partial input and never holds more than a bounded buffer, and typed
//! interpretations of frames for the host (status) and the device (instruction) side.
//! No input can make them panic (property-tested in tests/it/protocol.rs).

pub mod dxl;
pub mod sts;

/// What went wrong with bytes from the wire. Malformed input is an error value, never
/// a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// CRC (Dynamixel) or checksum (STS) mismatch; the frame was dropped.
    #[error("checksum mismatch: computed {computed:#06x}, received {received:#06x}")]
    Checksum { computed: u16, received: u16 },
    /// The length field is impossible (too short or beyond the protocol's maximum).
    #[error("bad length field {0}")]
    Length(usize),
    /// Bytes that are not part of any frame were skipped to find the next header.
    #[error("skipped {0} bytes of garbage")]
    Garbage(usize),
}

/// A well-framed packet whose content does not make sense for the reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("unknown instruction {0:#04x}")]
    UnknownInstruction(u8),
    #[error("instruction {instruction:#04x}: {detail}")]
    BadParams { instruction: u8, detail: String },
    #[error("expected a status packet, got instruction {0:#04x}")]
    NotStatus(u8),
    #[error("packet too long: {0} bytes")]
    TooLong(usize),
}

/// Sign-magnitude encoding used by Feetech STS registers: bit `sign_bit` set means
/// negative, the bits below it hold the magnitude (saturated to fit).
pub fn sign_magnitude_encode(v: i32, sign_bit: u32) -> u32 {
    let max = (1u32 << sign_bit) - 1;
    let mag = v.unsigned_abs().min(max);
    if v < 0 { mag | (1 << sign_bit) } else { mag }
}

/// Decodes a sign-magnitude register value (bits above `sign_bit` are ignored).
pub fn sign_magnitude_decode(raw: u32, sign_bit: u32) -> i32 {
    let mag = (raw & ((1u32 << sign_bit) - 1)) as i32;
    if raw & (1 << sign_bit) != 0 {
        -mag
    } else {
        mag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_magnitude_round_trips_and_saturates() {
        assert_eq!(sign_magnitude_encode(-100, 15), 0x8064);
        assert_eq!(sign_magnitude_decode(0x8064, 15), -100);
        assert_eq!(sign_magnitude_decode(0x0064, 15), 100);
        assert_eq!(sign_magnitude_encode(5000, 11), 0x07FF);
        assert_eq!(sign_magnitude_decode(0x0400 | 7, 10), -7);
        for v in [-32767, -1, 0, 1, 32767] {
            assert_eq!(sign_magnitude_decode(sign_magnitude_encode(v, 15), 15), v);
        }
    }
}
