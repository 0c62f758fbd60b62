//! The recording format: what a run hands its taps ([`Record`]s: joint samples, events,
//! bus transactions) and how an armhil MCAP file stores and gives them back (joint
//! samples as protobuf, see [`proto`]; reading, with gaps found and truncated files
//! read to their last chunk, see [`read`]). Writing the file is a telemetry sink
//! (`crate::telemetry::recorder`); this module is the format both sides share.

pub mod proto;
pub mod read;
pub mod schema;

pub use read::{ChannelStats, ReadError, Recording, read};

use serde::{Deserialize, Serialize};

use crate::report::{Event, JointHealth};

/// One joint, one control period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JointSample {
    /// Simulated time, s.
    pub t: f64,
    /// Setpoint position, rad (m), and velocity, rad/s.
    pub setpoint: f64,
    pub setpoint_vel: f64,
    /// Measured (encoder) position, rad, and velocity, rad/s.
    pub measured: f64,
    pub measured_vel: f64,
    /// Last command from the controller, N·m.
    pub command: f64,
    /// Torque the servo delivered, N·m.
    pub torque: f64,
    /// Setpoint − measured, rad.
    pub error: f64,
    pub state: JointHealth,
}

/// One bus transaction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BusSample {
    pub t: f64,
    /// Sync write + sync read, µs.
    pub latency_us: f64,
    /// Servos that answered, and errors seen.
    pub replies: u32,
    pub errors: u32,
}

/// One host request on an emulated bus (`armhil serve`, `armhil virtual-servo`) and
/// what came of it: the instruction, the servos it named, the registers it touched
/// (with the data written), how many servos answered, how many answers the link faults
/// lost, and when the first answer started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// `ping`, `read`, `write`, `reg_write`, `action`, `sync_read`, `sync_write`,
    /// `fast_sync_read`, `bulk_read`, `bulk_write`, `reboot`, `factory_reset`, or
    /// `other`.
    pub instruction: String,
    /// The ID the packet was sent to (254: broadcast).
    pub id: u8,
    /// Register address and length, where the instruction has them.
    pub addr: u16,
    pub len: u16,
    /// Data written: (servo ID, address, bytes).
    pub writes: Vec<(u8, u16, Vec<u8>)>,
    /// Servos named by a sync/bulk read.
    pub reads: Vec<u8>,
    /// Replies sent, and replies the link faults lost.
    pub replies: u32,
    pub lost: u32,
    /// From the end of the request to the start of the first reply as the wire is
    /// modelled, µs (none: nothing answered).
    pub latency_us: Option<f64>,
}

impl Transaction {
    /// An entry for `instruction` sent to `id`, nothing answered yet.
    pub fn new(instruction: &str, id: u8) -> Self {
        Self {
            instruction: instruction.into(),
            id,
            addr: 0,
            len: 0,
            writes: Vec::new(),
            reads: Vec::new(),
            replies: 0,
            lost: 0,
            latency_us: None,
        }
    }

    /// Whether it wrote `value` to the one-byte register `addr` of servo `id`.
    pub fn wrote(&self, id: u8, addr: u16, value: u8) -> bool {
        self.writes.iter().any(|(i, a, d)| {
            (*i == id || *i == 254)
                && *a <= addr
                && addr < *a + d.len() as u16
                && d[(addr - *a) as usize] == value
        })
    }

    /// Whether it wrote anything to servo `id`.
    pub fn writes_to(&self, id: u8) -> bool {
        self.writes.iter().any(|(i, _, _)| *i == id || *i == 254)
    }
}

/// One host request on the served bus, as recorded on `/bus/served`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedSample {
    /// Simulated time the run took it, s.
    pub t: f64,
    #[serde(flatten)]
    pub tx: Transaction,
}

/// The port name under which the served bus is recorded (`/bus/served`).
pub const SERVED_PORT: &str = "served";

/// What the loop hands the recorder.
#[derive(Debug, Clone)]
pub enum Record {
    /// One joint's sample (joint index, sample).
    Joint(u16, JointSample),
    Event(Event),
    /// One bus transaction (port index, sample); ports are numbered in order of
    /// first use, see [`Record::Port`].
    Bus(u16, BusSample),
    /// A port used for the first time while running (a swap to a new bus): its index
    /// and name. The recorder opens a `/bus/<name>` channel for it.
    Port(u16, String),
    /// One host request on the served bus (port index of [`SERVED_PORT`], sample).
    Served(u16, ServedSample),
    /// What the world looks like now (scenes with a `world`): on the channel
    /// announced as port [`WORLD_TF`] or [`WORLD_CONTACTS`].
    World(u16, WorldSample),
}

/// The channel of object poses, as Foxglove's `foxglove.FrameTransforms` (JSON), so
/// its 3D panel places each object (frame = the object's name, parent `world`).
pub const WORLD_TF: &str = "/world/tf";
/// The channel of contacts: each pair touching now, its force and where.
pub const WORLD_CONTACTS: &str = "/world/contacts";
/// Each joint's samples are on `/joints/<name>` (the compact `armhil.JointSample`).
pub const JOINT_TOPIC_PREFIX: &str = "/joints/";

/// The channel of joint `name`'s samples.
pub fn joint_topic(name: &str) -> String {
    format!("{JOINT_TOPIC_PREFIX}{name}")
}

/// The channel of link poses, as `foxglove.FrameTransforms` (frame = the link's name,
/// parent `world`): what Foxglove's 3D panel draws the arm from.
pub const ARM_TF: &str = "/tf";
/// The channel of every joint's state at once, as `foxglove.JointStates`.
pub const JOINT_STATES: &str = "/joint_states";

/// One joint in a [`WorldSample::Joints`]: name, position (rad or m), velocity,
/// effort (N·m or N delivered).
pub type JointStateSample = (String, f64, f64, f64);

/// One object's pose: (name, xyz, quaternion xyzw).
pub type ObjectPose = (String, [f32; 3], [f32; 4]);

/// A world record: object poses or the contacts now.
#[derive(Debug, Clone, PartialEq)]
pub enum WorldSample {
    /// (t, [(object, xyz, quaternion xyzw)]).
    Poses(f64, Vec<ObjectPose>),
    /// (t, contacts).
    Contacts(f64, Vec<ContactSample>),
    /// (t, every joint's state), on [`JOINT_STATES`].
    Joints(f64, Vec<JointStateSample>),
}

/// One contact, as recorded on `/world/contacts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactSample {
    pub a: String,
    pub b: String,
    pub force_n: f64,
    pub depth_m: f64,
    pub point: [f32; 3],
    pub normal: [f32; 3],
}

impl WorldSample {
    /// Simulated time, s.
    pub fn t(&self) -> f64 {
        match self {
            WorldSample::Poses(t, _) | WorldSample::Contacts(t, _) | WorldSample::Joints(t, _) => {
                *t
            }
        }
    }

    /// The message body: `foxglove.FrameTransforms` for poses, `foxglove.JointStates`
    /// for joints, `{t, contacts}` for contacts.
    pub fn to_json(&self) -> serde_json::Value {
        let json_stamp = |t: f64| {
            let (sec, nsec) = stamp(t);
            serde_json::json!({"sec": sec, "nsec": nsec})
        };
        match self {
            WorldSample::Poses(t, v) => {
                let stamp = json_stamp(*t);
                serde_json::json!({"transforms": v.iter().map(|(name, p, q)| serde_json::json!({
                    "timestamp": stamp,
                    "parent_frame_id": "world",
                    "child_frame_id": name,
                    "translation": {"x": p[0], "y": p[1], "z": p[2]},
                    "rotation": {"x": q[0], "y": q[1], "z": q[2], "w": q[3]},
                })).collect::<Vec<_>>()})
            }
            WorldSample::Contacts(t, v) => serde_json::json!({"t": t, "contacts": v}),
            WorldSample::Joints(t, v) => serde_json::json!({
                "timestamp": json_stamp(*t),
                "joints": v.iter().map(|(name, p, v, e)| serde_json::json!({
                    "name": name, "position": p, "velocity": v, "effort": e,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// The topic of a port announced by [`Record::Port`]: `/bus/<name>`, or the name
/// itself when it is a topic (the arm's and the world's channels).
pub fn port_topic(name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/bus/{name}")
    }
}

/// Simulated time `t` (s) as a timestamp's (seconds, nanoseconds); negative times
/// are 0.
pub fn stamp(t: f64) -> (u32, u32) {
    let t = t.max(0.0);
    let sec = t.floor();
    let nsec = ((t - sec) * 1e9).round().min(999_999_999.0);
    (sec as u32, nsec as u32)
}
