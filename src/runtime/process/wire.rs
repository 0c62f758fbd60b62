//! The joint-service wire between armhil and a service's process: length-prefixed
//! frames on a Unix stream socket. `[u32 LE length of tag + body][u8 tag][body]`.
//! The hot path (a sample in, a command out) is fixed-size binary, every `f64` as its
//! exact little-endian bits, so a service in its own process computes exactly what
//! it would in a thread; the rare messages (hello, faults, gains) are versioned JSON.
//!
//! Decoding never panics: a short, oversized or unknown frame is a [`WireError`].

use std::io::{ErrorKind, Read, Write};

use serde::{Deserialize, Serialize};

use crate::control::{ControlInput, ControllerSpec};
use crate::faults::FaultSpec;
use crate::runtime::service::{FaultMode, ServiceInput, ServiceMsg};
use crate::servo::spec::ServoSpec;

/// Version of this wire, in the hello; a child of another version refuses it.
pub const VERSION: u32 = 1;
/// Largest frame accepted, bytes (a hello with a long fault list is a few KB).
pub const MAX_FRAME: usize = 1 << 20;

const HELLO: u8 = 1;
const SAMPLE: u8 = 2;
const MANAGE: u8 = 3;
const READY: u8 = 16;
const COMMAND: u8 = 17;
const DIED: u8 = 18;
const SILENT: u8 = 19;
const ABANDONED: u8 = 20;
const DELAY: u8 = 21;

/// What a child needs to become a joint's service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub name: String,
    pub controller: ControllerSpec,
    pub servo: ServoSpec,
    pub faults: Vec<FaultSpec>,
    pub mode: FaultMode,
}

/// armhil to the service.
#[derive(Debug, Clone, PartialEq)]
pub enum ToChild {
    Hello(Box<Hello>),
    Sample(ServiceInput),
    Manage(ServiceMsg),
}

/// The service to armhil: exactly one of `Command`, `Died`, `Silent` per sample
/// (after any `Delay`), or `Abandoned` and then nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum FromChild {
    /// The service is up (its process id) and speaks `version`.
    Ready {
        version: u32,
        pid: u32,
    },
    Command {
        seq: u64,
        torque: f64,
        delay_s: f64,
    },
    /// The controller panicked (caught in the child); the service is dead.
    Died {
        seq: u64,
        message: String,
    },
    /// No reply to this sample (a simulated hang swallows it).
    Silent {
        seq: u64,
    },
    /// A real hang began: no reply will come (the run's clock need not wait for it).
    Abandoned,
    /// The cycle takes `s` seconds longer (a slow fault on the wall clock): armhil
    /// sleeps it on the run's clock before taking the reply.
    Delay {
        s: f64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the other end closed the socket")]
    Closed,
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes: expected 1 ..= {MAX_FRAME}")]
    Length(usize),
    #[error("frame tag {0}: not one this end expects")]
    Tag(u8),
    #[error("frame tag {tag}: {len} bytes of body, expected {expected}")]
    Body {
        tag: u8,
        len: usize,
        expected: String,
    },
    #[error("frame tag {tag}: {why}")]
    Json { tag: u8, why: String },
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&((body.len() + 1) as u32).to_le_bytes());
    out.push(tag);
    out.extend_from_slice(body);
    out
}

fn json<T: Serialize>(tag: u8, v: &T) -> Vec<u8> {
    // Serializing plain data (specs, faults, gains) to JSON cannot fail.
    frame(tag, &serde_json::to_vec(v).unwrap_or_default())
}

fn f64s(out: &mut Vec<u8>, v: &[f64]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

impl ToChild {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ToChild::Hello(h) => json(HELLO, h),
            ToChild::Manage(m) => json(MANAGE, m),
            ToChild::Sample(s) => {
                let mut b = Vec::with_capacity(81);
                b.extend_from_slice(&s.seq.to_le_bytes());
                b.push(s.reset as u8);
                f64s(&mut b, &s.values());
                frame(SAMPLE, &b)
            }
        }
    }

    pub fn decode(tag: u8, body: &[u8]) -> Result<Self, WireError> {
        match tag {
            HELLO => Ok(ToChild::Hello(Box::new(from_json(tag, body)?))),
            MANAGE => Ok(ToChild::Manage(from_json(tag, body)?)),
            SAMPLE => {
                let mut r = Fields::new(tag, body, 81, "81 (seq, reset, 9 × f64)")?;
                let seq = r.u64();
                let reset = r.u8() != 0;
                let mut input = ControlInput {
                    t: r.f64(),
                    dt: r.f64(),
                    ..ControlInput::default()
                };
                input.setpoint.pos = r.f64();
                input.setpoint.vel = r.f64();
                input.setpoint.acc = r.f64();
                input.measured.pos = r.f64();
                input.measured.vel = r.f64();
                input.measured.torque = r.f64();
                input.gravity_torque = r.f64();
                Ok(ToChild::Sample(ServiceInput { seq, input, reset }))
            }
            t => Err(WireError::Tag(t)),
        }
    }
}

impl FromChild {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        let tag = match self {
            FromChild::Ready { version, pid } => {
                b.extend_from_slice(&version.to_le_bytes());
                b.extend_from_slice(&pid.to_le_bytes());
                READY
            }
            FromChild::Command {
                seq,
                torque,
                delay_s,
            } => {
                b.extend_from_slice(&seq.to_le_bytes());
                f64s(&mut b, &[*torque, *delay_s]);
                COMMAND
            }
            FromChild::Died { seq, message } => {
                b.extend_from_slice(&seq.to_le_bytes());
                b.extend_from_slice(message.as_bytes());
                DIED
            }
            FromChild::Silent { seq } => {
                b.extend_from_slice(&seq.to_le_bytes());
                SILENT
            }
            FromChild::Abandoned => ABANDONED,
            FromChild::Delay { s } => {
                f64s(&mut b, &[*s]);
                DELAY
            }
        };
        frame(tag, &b)
    }

    pub fn decode(tag: u8, body: &[u8]) -> Result<Self, WireError> {
        Ok(match tag {
            READY => {
                let mut r = Fields::new(tag, body, 8, "8 (version, pid)")?;
                FromChild::Ready {
                    version: r.u32(),
                    pid: r.u32(),
                }
            }
            COMMAND => {
                let mut r = Fields::new(tag, body, 24, "24 (seq, torque, delay)")?;
                FromChild::Command {
                    seq: r.u64(),
                    torque: r.f64(),
                    delay_s: r.f64(),
                }
            }
            DIED => {
                if body.len() < 8 {
                    return Err(WireError::Body {
                        tag,
                        len: body.len(),
                        expected: "at least 8 (seq, message)".into(),
                    });
                }
                let mut r = Fields::new(tag, &body[..8], 8, "")?;
                FromChild::Died {
                    seq: r.u64(),
                    message: String::from_utf8_lossy(&body[8..]).into_owned(),
                }
            }
            SILENT => FromChild::Silent {
                seq: Fields::new(tag, body, 8, "8 (seq)")?.u64(),
            },
            ABANDONED => {
                Fields::new(tag, body, 0, "0")?;
                FromChild::Abandoned
            }
            DELAY => FromChild::Delay {
                s: Fields::new(tag, body, 8, "8 (seconds)")?.f64(),
            },
            t => return Err(WireError::Tag(t)),
        })
    }
}

fn from_json<T: for<'de> Deserialize<'de>>(tag: u8, body: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(body).map_err(|e| WireError::Json {
        tag,
        why: e.to_string(),
    })
}

/// Reads fixed-size fields from a body whose length was checked once.
struct Fields<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(tag: u8, body: &'a [u8], len: usize, expected: &str) -> Result<Self, WireError> {
        if body.len() != len {
            return Err(WireError::Body {
                tag,
                len: body.len(),
                expected: expected.into(),
            });
        }
        Ok(Self { body, at: 0 })
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        // The length was checked in `new`: every field is within the body.
        if let Some(src) = self.body.get(self.at..self.at + N) {
            out.copy_from_slice(src);
        }
        self.at += N;
        out
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take())
    }
}

/// Accumulates bytes from a stream (which may time out mid-frame) into whole frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// The next whole frame `(tag, body)` if one is (or becomes) available: reads
    /// once when none is buffered. `Ok(None)`: nothing whole yet (the read timed out).
    pub fn next(&mut self, r: &mut impl Read) -> Result<Option<(u8, Vec<u8>)>, WireError> {
        if let Some(f) = self.split()? {
            return Ok(Some(f));
        }
        let mut chunk = [0u8; 4096];
        match r.read(&mut chunk) {
            Ok(0) => Err(WireError::Closed),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.split()
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(WireError::Io(e)),
        }
    }

    fn split(&mut self) -> Result<Option<(u8, Vec<u8>)>, WireError> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(WireError::Length(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let tag = self.buf[4];
        let body = self.buf[5..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some((tag, body)))
    }
}

/// Writes one encoded frame.
pub fn send(w: &mut impl Write, frame: &[u8]) -> Result<(), WireError> {
    w.write_all(frame).map_err(|e| match e.kind() {
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => WireError::Closed,
        _ => WireError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(bytes: &[u8]) -> Vec<Result<(u8, Vec<u8>), String>> {
        let mut r = FrameReader::default();
        let mut src = bytes;
        let mut out = Vec::new();
        loop {
            match r.next(&mut src) {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => continue,
                Err(WireError::Closed) => return out,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn a_sample_is_81_bytes_of_exact_little_endian_fields() {
        let s = ServiceInput {
            seq: 7,
            reset: true,
            input: ControlInput {
                t: 0.001,
                dt: 0.002,
                gravity_torque: -0.3,
                ..ControlInput::default()
            },
        };
        let bytes = ToChild::Sample(s).encode();
        assert_eq!(&bytes[..5], &[82, 0, 0, 0, SAMPLE]);
        assert_eq!(&bytes[5..13], &7u64.to_le_bytes());
        assert_eq!(bytes[13], 1);
        assert_eq!(&bytes[14..22], &0.001f64.to_le_bytes());
        let frames = read_all(&bytes);
        let Ok((tag, body)) = &frames[0] else {
            panic!("{frames:?}")
        };
        assert_eq!(ToChild::decode(*tag, body).ok(), Some(ToChild::Sample(s)));
    }

    #[test]
    fn wrong_lengths_and_tags_are_errors_naming_them() {
        let e = FromChild::decode(COMMAND, &[0; 23])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("frame tag 17: 23 bytes of body, expected 24 (seq, torque, delay)")
        );
        assert!(matches!(ToChild::decode(99, &[]), Err(WireError::Tag(99))));
        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert_eq!(
            read_all(&huge),
            vec![Err(format!(
                "frame of {} bytes: expected 1 ..= {MAX_FRAME}",
                MAX_FRAME + 1
            ))]
        );
    }

    proptest! {
        #[test]
        fn replies_round_trip_exactly(seq in any::<u64>(), torque in any::<f64>(), d in any::<f64>(), m in ".{0,40}") {
            for f in [
                FromChild::Command { seq, torque, delay_s: d },
                FromChild::Died { seq, message: m.clone() },
                FromChild::Silent { seq },
                FromChild::Delay { s: d },
                FromChild::Ready { version: seq as u32, pid: (seq >> 32) as u32 },
                FromChild::Abandoned,
            ] {
                let bytes = f.encode();
                let frames = read_all(&bytes);
                prop_assert_eq!(frames.len(), 1);
                let (tag, body) = frames[0].clone().map_err(TestCaseError::fail)?;
                let back = FromChild::decode(tag, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
                // Bit-exact, NaN included.
                prop_assert_eq!(format!("{back:?}"), format!("{f:?}"));
            }
        }

        #[test]
        fn any_bytes_decode_to_frames_or_errors_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for (tag, body) in read_all(&bytes).into_iter().flatten() {
                let _ = FromChild::decode(tag, &body);
                let _ = ToChild::decode(tag, &body);
            }
        }
    }
}
