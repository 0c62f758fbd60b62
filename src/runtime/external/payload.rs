//! The external joint-service payloads, version 1, little-endian:
//!
//! - sample, armhil → service, 82 bytes: `<B Q B 9d>` version (1), seq, reset (0/1),
//!   t, dt (s), setpoint pos, vel, acc, measured pos, vel, torque, gravity torque;
//! - command, service → armhil, 18 bytes: `<B Q B d>` version (1), seq (the sample
//!   it answers), mode (0 torque N·m / N, 1 position rad / m: the servo's own loop
//!   goes there), value.
//!
//! Decoding never panics: anything else is a [`PayloadError`].

use crate::runtime::service::ServiceInput;

pub const VERSION: u8 = 1;
pub const SAMPLE_LEN: usize = 82;
pub const COMMAND_LEN: usize = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandMode {
    Torque,
    Position,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Command {
    pub seq: u64,
    pub mode: CommandMode,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("{0} bytes: a command is {COMMAND_LEN}")]
    Length(usize),
    #[error("version {0}: this armhil speaks {VERSION}")]
    Version(u8),
    #[error("mode {0}: expected 0 (torque) or 1 (position)")]
    Mode(u8),
    #[error("value is not finite")]
    NotFinite,
}

/// Encodes a sample.
pub fn sample(s: &ServiceInput) -> Vec<u8> {
    let mut b = Vec::with_capacity(SAMPLE_LEN);
    b.push(VERSION);
    b.extend_from_slice(&s.seq.to_le_bytes());
    b.push(s.reset as u8);
    for v in s.values() {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

/// Decodes a command.
pub fn command(b: &[u8]) -> Result<Command, PayloadError> {
    let b: &[u8; COMMAND_LEN] = b.try_into().map_err(|_| PayloadError::Length(b.len()))?;
    if b[0] != VERSION {
        return Err(PayloadError::Version(b[0]));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&b[1..9]);
    let mode = match b[9] {
        0 => CommandMode::Torque,
        1 => CommandMode::Position,
        m => return Err(PayloadError::Mode(m)),
    };
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[10..18]);
    let value = f64::from_le_bytes(v);
    if !value.is_finite() {
        return Err(PayloadError::NotFinite);
    }
    Ok(Command {
        seq: u64::from_le_bytes(seq),
        mode,
        value,
    })
}

/// Encodes a command (for tests and Rust clients).
pub fn encode_command(c: &Command) -> Vec<u8> {
    let mut b = Vec::with_capacity(COMMAND_LEN);
    b.push(VERSION);
    b.extend_from_slice(&c.seq.to_le_bytes());
    b.push(match c.mode {
        CommandMode::Torque => 0,
        CommandMode::Position => 1,
    });
    b.extend_from_slice(&c.value.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_sample_is_82_bytes_with_its_version_first() {
        let s = ServiceInput {
            seq: 258,
            reset: false,
            input: Default::default(),
        };
        let b = sample(&s);
        assert_eq!(b.len(), SAMPLE_LEN);
        assert_eq!(&b[..4], &[1, 2, 1, 0]);
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        let good = encode_command(&Command {
            seq: 7,
            mode: CommandMode::Position,
            value: 0.5,
        });
        assert_eq!(
            command(&good),
            Ok(Command {
                seq: 7,
                mode: CommandMode::Position,
                value: 0.5
            })
        );
        let mut v2 = good.clone();
        v2[0] = 2;
        assert_eq!(command(&v2), Err(PayloadError::Version(2)));
        let mut m = good.clone();
        m[9] = 5;
        assert_eq!(command(&m), Err(PayloadError::Mode(5)));
        let mut nan = good.clone();
        nan[10..].copy_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(command(&nan), Err(PayloadError::NotFinite));
        assert_eq!(command(&good[..17]), Err(PayloadError::Length(17)));
    }

    proptest! {
        #[test]
        fn any_bytes_are_a_command_or_an_error(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            match command(&b) {
                Ok(c) => prop_assert_eq!(encode_command(&c), b),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
