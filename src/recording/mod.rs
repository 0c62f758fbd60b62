//! The recording format: what a run hands its taps ([`Record`]s: joint samples, events,
//! bus transactions) and how an armhil MCAP file stores and gives them back (joint
//! samples as protobuf, see [`proto`]; reading, with gaps found and truncated files
//! read to their last chunk, see [`read`]). Writing the file is a telemetry sink
//! (`crate::telemetry::recorder`); this module is the format both sides share.

pub mod proto;
pub mod read;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusSample {
    pub t: f64,
    /// Sync write + sync read, µs.
    pub latency_us: f64,
    /// Servos that answered, and errors seen.
    pub replies: u32,
    pub errors: u32,
}

/// One host request on the served bus (`armhil serve`) and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedSample {
    /// Simulated time the run took it, s.
    pub t: f64,
    /// `ping`, `read`, `write`, `sync_read`, `sync_write`, ...
    pub instruction: String,
    /// The ID addressed (254: broadcast).
    pub id: u8,
    /// Register address and length.
    pub addr: u16,
    pub len: u16,
    /// Data written: (servo ID, address, bytes).
    pub writes: Vec<(u8, u16, Vec<u8>)>,
    /// Servos a sync/bulk read named.
    pub reads: Vec<u8>,
    /// Replies sent, and replies lost to link faults.
    pub replies: u32,
    pub lost: u32,
    /// Request end to first reply start, µs (none: nothing answered).
    pub latency_us: Option<f64>,
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
}
