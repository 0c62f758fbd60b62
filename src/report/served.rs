//! What a host did on the served bus (`armhil serve`), for the report: its requests by
//! instruction, the replies it got and lost to link faults, the reply latency, and per
//! served joint the writes that show how it reacted to the servo's faults (torque off
//! after an error bit; writes to a servo that had gone silent).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Lateness;

/// Write times kept per joint and kind: enough to judge reactions, bounded for a
/// run that serves for hours.
pub const MAX_TIMES: usize = 1000;

/// The served bus's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServedReport {
    /// Requests the host made, in all and per instruction (`sync_read`, `write`, ...).
    pub requests: u64,
    pub by_instruction: BTreeMap<String, u64>,
    /// Replies sent, and replies the link faults lost.
    pub replies: u64,
    pub lost_replies: u64,
    /// Transactions the run could not take in time (not recorded, not counted).
    pub dropped_records: u64,
    /// From the end of a request to the start of its first reply, µs, as modelled at
    /// the baud (return delay and link latency included).
    pub reply_latency_us: Option<Lateness>,
    pub joints: Vec<ServedJointReport>,
}

/// One served joint, as its host treated it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServedJointReport {
    pub joint: String,
    pub id: u8,
    /// Writes addressed to it (sync writes count once per transaction).
    pub writes: u64,
    /// When the host wrote Torque Enable = 0 to it, s (the first [`MAX_TIMES`]).
    pub torque_off_at: Vec<f64>,
    /// When the host wrote to it while it had no power (silent), s (the first
    /// [`MAX_TIMES`]).
    pub writes_while_silent_at: Vec<f64>,
}
