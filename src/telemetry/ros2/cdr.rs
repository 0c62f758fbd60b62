//! The two ROS 2 messages armhil speaks, in CDR (OMG XCDR1, as DDS and ROS 2 put them
//! on the wire and zenoh-bridge-ros2dds routes them): a 4-byte encapsulation header
//! (`00 01 00 00`: little-endian CDR; big-endian `00 00` is read too), then the
//! fields, each aligned to its own size counted from after the header; strings as a
//! u32 length (with the terminating NUL), the bytes and the NUL; sequences as a u32
//! count and the elements.
//!
//! - `sensor_msgs/msg/JointState`: `std_msgs/Header header` (`builtin_interfaces/Time
//!   stamp` = i32 sec, u32 nanosec; `string frame_id`), `string[] name`, `float64[]
//!   position`, `velocity`, `effort`;
//! - `rosgraph_msgs/msg/Clock`: `builtin_interfaces/Time clock`.
//!
//! Decoding never panics and never allocates more than the bytes given could hold:
//! anything else is a [`CdrError`].

/// `sensor_msgs/msg/JointState`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JointState {
    /// (sec, nanosec).
    pub stamp: (i32, u32),
    pub frame_id: String,
    pub name: Vec<String>,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
    pub effort: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    #[error("{0} bytes: shorter than the 4-byte encapsulation header")]
    NoHeader(usize),
    #[error(
        "encapsulation {0:02x} {1:02x}: expected 00 01 (CDR little-endian) or 00 00 (big-endian)"
    )]
    Encapsulation(u8, u8),
    #[error("ends at byte {at} inside {field}")]
    Truncated { field: &'static str, at: usize },
    #[error("{field}: {count} elements cannot fit in the {left} bytes left")]
    Count {
        field: &'static str,
        count: u32,
        left: usize,
    },
    #[error("{field}: string is not NUL-terminated UTF-8")]
    BadString { field: &'static str },
}

/// A ROS time stamp of simulated time `t` s (sec, nanosec).
pub fn stamp(t: f64) -> (i32, u32) {
    let t = t.max(0.0);
    let mut sec = t.floor();
    let mut ns = ((t - sec) * 1e9).round();
    if ns >= 1e9 {
        sec += 1.0;
        ns -= 1e9;
    }
    (sec.min(i32::MAX as f64) as i32, ns as u32)
}

/// Little-endian CDR writer.
struct Writer(Vec<u8>);

impl Writer {
    fn new() -> Self {
        Self(vec![0x00, 0x01, 0x00, 0x00])
    }
    fn align(&mut self, n: usize) {
        while !(self.0.len() - 4).is_multiple_of(n) {
            self.0.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.align(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    fn f64s(&mut self, v: &[f64]) {
        self.u32(v.len() as u32);
        if !v.is_empty() {
            self.align(8);
        }
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

impl JointState {
    /// The message in CDR, header included.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.i32(self.stamp.0);
        w.u32(self.stamp.1);
        w.string(&self.frame_id);
        w.u32(self.name.len() as u32);
        for n in &self.name {
            w.string(n);
        }
        w.f64s(&self.position);
        w.f64s(&self.velocity);
        w.f64s(&self.effort);
        w.0
    }

    /// Reads a message (either byte order).
    pub fn decode(b: &[u8]) -> Result<Self, CdrError> {
        let mut r = Reader::new(b)?;
        let stamp = (
            r.u32("header.stamp.sec")? as i32,
            r.u32("header.stamp.nanosec")?,
        );
        let frame_id = r.string("header.frame_id")?;
        let n = r.count("name", 5)?;
        let mut name = Vec::with_capacity(n);
        for _ in 0..n {
            name.push(r.string("name")?);
        }
        Ok(Self {
            stamp,
            frame_id,
            name,
            position: r.f64s("position")?,
            velocity: r.f64s("velocity")?,
            effort: r.f64s("effort")?,
        })
    }
}

/// `rosgraph_msgs/msg/Clock` at `stamp`, in CDR.
pub fn clock(stamp: (i32, u32)) -> Vec<u8> {
    let mut w = Writer::new();
    w.i32(stamp.0);
    w.u32(stamp.1);
    w.0
}

/// CDR reader over a message's bytes.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    little: bool,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Result<Self, CdrError> {
        let little = match b {
            [0x00, 0x01, _, _, ..] => true,
            [0x00, 0x00, _, _, ..] => false,
            [x, y, _, _, ..] => return Err(CdrError::Encapsulation(*x, *y)),
            _ => return Err(CdrError::NoHeader(b.len())),
        };
        Ok(Self { b, at: 4, little })
    }
    fn align(&mut self, n: usize) {
        let off = self.at - 4;
        self.at += (n - off % n) % n;
    }
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CdrError> {
        let s = self
            .at
            .checked_add(n)
            .and_then(|end| self.b.get(self.at..end))
            .ok_or(CdrError::Truncated {
                field,
                at: self.b.len(),
            })?;
        self.at += n;
        Ok(s)
    }
    /// The next `N` bytes, in little-endian order (swapped if the message is
    /// big-endian).
    fn bytes<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CdrError> {
        let mut s: [u8; N] = self
            .take(N, field)?
            .try_into()
            .map_err(|_| CdrError::Truncated {
                field,
                at: self.b.len(),
            })?;
        if !self.little {
            s.reverse();
        }
        Ok(s)
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, CdrError> {
        self.align(4);
        Ok(u32::from_le_bytes(self.bytes(field)?))
    }
    fn f64(&mut self, field: &'static str) -> Result<f64, CdrError> {
        Ok(f64::from_le_bytes(self.bytes(field)?))
    }
    /// A sequence's count, refused if `min_size`-byte elements could not fit.
    fn count(&mut self, field: &'static str, min_size: usize) -> Result<usize, CdrError> {
        let count = self.u32(field)?;
        let left = self.b.len().saturating_sub(self.at);
        if (count as usize).saturating_mul(min_size) > left {
            return Err(CdrError::Count { field, count, left });
        }
        Ok(count as usize)
    }
    fn string(&mut self, field: &'static str) -> Result<String, CdrError> {
        let n = self.u32(field)? as usize;
        let s = self.take(n, field)?;
        match s.split_last() {
            Some((0, text)) => std::str::from_utf8(text)
                .map(str::to_string)
                .map_err(|_| CdrError::BadString { field }),
            _ => Err(CdrError::BadString { field }),
        }
    }
    fn f64s(&mut self, field: &'static str) -> Result<Vec<f64>, CdrError> {
        let n = self.count(field, 8)?;
        if n > 0 {
            self.align(8);
        }
        (0..n).map(|_| self.f64(field)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `sensor_msgs/msg/JointState` {stamp 1.5 s, frame "", names a, bc, position [1,
    /// 2], velocity [], effort [0.5, 0.25]} as rosbags 0.11.9 (PyPI; its ROS 2 Jazzy
    /// type store) serialises it.
    const JOINT_STATE: &str = "00010000010000000065cd1d0100000000000000020000000200000061000000030000006263000002000000000000000000f03f00000000000000400000000002000000000000000000e03f000000000000d03f";
    /// `rosgraph_msgs/msg/Clock` {2 s, 3 ns}, likewise.
    const CLOCK: &str = "000100000200000003000000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    fn sample() -> JointState {
        JointState {
            stamp: (1, 500_000_000),
            frame_id: String::new(),
            name: vec!["a".into(), "bc".into()],
            position: vec![1.0, 2.0],
            velocity: vec![],
            effort: vec![0.5, 0.25],
        }
    }

    #[test]
    fn golden_vectors_from_the_ros_side() {
        assert_eq!(sample().encode(), hex(JOINT_STATE));
        assert_eq!(JointState::decode(&hex(JOINT_STATE)), Ok(sample()));
        assert_eq!(clock((2, 3)), hex(CLOCK));
    }

    #[test]
    fn stamps_of_simulated_time() {
        assert_eq!(stamp(1.5), (1, 500_000_000));
        assert_eq!(stamp(0.02), (0, 20_000_000));
        assert_eq!(stamp(2.999_999_999_9), (3, 0));
        assert_eq!(stamp(-1.0), (0, 0));
    }

    #[test]
    fn big_endian_is_read_and_nonsense_refused() {
        // Clock-shaped prefix of a big-endian JointState: sec 1, ns 0, frame "",
        // no names, one position 1.0, no velocity, no effort.
        let mut b = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&1.0f64.to_be_bytes());
        b.extend_from_slice(&[0; 8]);
        let m = JointState::decode(&b).expect("big-endian");
        assert_eq!((m.stamp, m.position), ((1, 0), vec![1.0]));
        assert_eq!(JointState::decode(&[0, 1]), Err(CdrError::NoHeader(2)));
        assert_eq!(
            JointState::decode(&[7, 7, 0, 0]),
            Err(CdrError::Encapsulation(7, 7))
        );
        let mut huge = hex(JOINT_STATE)[..20].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            JointState::decode(&huge),
            Err(CdrError::Count { field: "name", .. })
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = JointState::decode(&b);
        }

        #[test]
        fn round_trip(
            sec in 0i32..1_000_000, ns in 0u32..1_000_000_000,
            names in proptest::collection::vec("[a-z_]{0,12}", 0..8),
            pos in proptest::collection::vec(-10.0f64..10.0, 0..8),
            eff in proptest::collection::vec(-10.0f64..10.0, 0..8),
        ) {
            let m = JointState { stamp: (sec, ns), frame_id: "world".into(), name: names, position: pos, velocity: vec![], effort: eff };
            prop_assert_eq!(JointState::decode(&m.encode()), Ok(m));
        }
    }
}
