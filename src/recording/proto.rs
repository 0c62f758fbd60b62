//! Joint samples as Protocol Buffers, the recorder's encoding for its busiest channels
//! (`/joints/<name>`): a third the size of JSON and no float formatting, so the writer
//! thread takes far less CPU beside the control loop. Foxglove decodes protobuf
//! channels from the schema stored in the file (a `FileDescriptorSet`), so no plugin
//! is needed. The wire format is written and read here by hand: one message, nine
//! fields, no dependency. Reading is defensive: a malformed message is an error,
//! never a panic.

use super::JointSample;
use crate::report::JointHealth;

/// Fully qualified message name (the MCAP schema name).
pub const JOINT_SAMPLE_NAME: &str = "armhil.JointSample";

/// Field numbers and names, in order; all `double` except the last (`string state`).
const FIELDS: [&str; 9] = [
    "t",
    "setpoint",
    "setpoint_vel",
    "measured",
    "measured_vel",
    "command",
    "torque",
    "error",
    "state",
];

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, ((field as u64) << 3) | wire as u64);
}

fn bytes_field(buf: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(buf, field, 2);
    varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    tag(buf, field, 0);
    varint(buf, v);
}

/// Appends the encoding of `s` to `buf`.
pub fn encode_joint_sample(s: &JointSample, buf: &mut Vec<u8>) {
    let values = [
        s.t,
        s.setpoint,
        s.setpoint_vel,
        s.measured,
        s.measured_vel,
        s.command,
        s.torque,
        s.error,
    ];
    for (k, v) in values.iter().enumerate() {
        tag(buf, k as u32 + 1, 1);
        buf.extend_from_slice(&v.to_le_bytes());
    }
    bytes_field(buf, 9, s.state.as_str().as_bytes());
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("message truncated at byte {0}")]
    Truncated(usize),
    #[error("unsupported wire type {0} at byte {1}")]
    WireType(u8, usize),
    #[error("unknown joint state {0:?}")]
    State(String),
}

fn read_varint(b: &[u8], at: &mut usize) -> Result<u64, DecodeError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at).ok_or(DecodeError::Truncated(*at))?;
        *at += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::Truncated(*at))
}

fn take<'a>(b: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], DecodeError> {
    let end = at.checked_add(n).ok_or(DecodeError::Truncated(*at))?;
    let s = b.get(*at..end).ok_or(DecodeError::Truncated(*at))?;
    *at = end;
    Ok(s)
}

/// Decodes one `armhil.JointSample` (unknown fields are skipped, as protobuf wants).
pub fn decode_joint_sample(b: &[u8]) -> Result<JointSample, DecodeError> {
    let mut v = [0.0f64; 8];
    let mut state = JointHealth::Ok;
    let mut at = 0;
    while at < b.len() {
        let key = read_varint(b, &mut at)?;
        let (field, wire) = (key >> 3, (key & 7) as u8);
        match wire {
            0 => {
                read_varint(b, &mut at)?;
            }
            1 => {
                let raw = take(b, &mut at, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(raw);
                if (1..=8).contains(&field) {
                    v[field as usize - 1] = f64::from_le_bytes(a);
                }
            }
            2 => {
                let n = read_varint(b, &mut at)? as usize;
                let raw = take(b, &mut at, n)?;
                if field == 9 {
                    let s = String::from_utf8_lossy(raw);
                    state = JointHealth::parse(&s).ok_or_else(|| DecodeError::State(s.into()))?;
                }
            }
            5 => {
                take(b, &mut at, 4)?;
            }
            w => return Err(DecodeError::WireType(w, at)),
        }
    }
    Ok(JointSample {
        t: v[0],
        setpoint: v[1],
        setpoint_vel: v[2],
        measured: v[3],
        measured_vel: v[4],
        command: v[5],
        torque: v[6],
        error: v[7],
        state,
    })
}

/// The schema: a serialized `google.protobuf.FileDescriptorSet` describing
/// `armhil.JointSample` (what MCAP's `protobuf` schema encoding stores).
pub fn joint_sample_descriptor() -> Vec<u8> {
    // FieldDescriptorProto: name = 1, number = 3, label = 4 (LABEL_OPTIONAL = 1),
    // type = 5 (TYPE_DOUBLE = 1, TYPE_STRING = 9), json_name = 10.
    let mut message = Vec::new();
    bytes_field(&mut message, 1, b"JointSample");
    for (k, name) in FIELDS.iter().enumerate() {
        let mut f = Vec::new();
        bytes_field(&mut f, 1, name.as_bytes());
        varint_field(&mut f, 3, k as u64 + 1);
        varint_field(&mut f, 4, 1);
        varint_field(&mut f, 5, if *name == "state" { 9 } else { 1 });
        bytes_field(&mut f, 10, name.as_bytes());
        bytes_field(&mut message, 2, &f);
    }
    // FileDescriptorProto: name = 1, package = 2, message_type = 4, syntax = 12.
    let mut file = Vec::new();
    bytes_field(&mut file, 1, b"armhil/joint_sample.proto");
    bytes_field(&mut file, 2, b"armhil");
    bytes_field(&mut file, 4, &message);
    bytes_field(&mut file, 12, b"proto3");
    // FileDescriptorSet: file = 1.
    let mut set = Vec::new();
    bytes_field(&mut set, 1, &file);
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_garbage_is_an_error_not_a_panic() {
        let s = JointSample {
            t: 1.25,
            setpoint: -0.5,
            setpoint_vel: 0.1,
            measured: f64::MIN_POSITIVE,
            measured_vel: -0.0,
            command: 3.0e5,
            torque: -1.0,
            error: 1e-9,
            state: JointHealth::Restarting,
        };
        let mut b = Vec::new();
        encode_joint_sample(&s, &mut b);
        assert_eq!(b.len(), 8 * 9 + 2 + "RESTARTING".len());
        assert_eq!(decode_joint_sample(&b), Ok(s));
        assert!(decode_joint_sample(&b[..b.len() - 3]).is_err());
        assert!(matches!(
            decode_joint_sample(&[0x0b]),
            Err(DecodeError::WireType(3, _))
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_joint_sample(&b);
        }
    }
}
