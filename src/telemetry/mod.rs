//! Telemetry: the event log, per-joint statistics and the run report (JSON).

mod report;
mod stats;

pub use report::{JointReport, Lateness, LinkReport, Report};
pub use stats::JointStats;

use serde::{Deserialize, Serialize};

/// Health of a joint, as shown in tables and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JointHealth {
    Ok,
    Degraded,
    Offline,
    Faulted,
    Restarting,
}

impl JointHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            JointHealth::Ok => "OK",
            JointHealth::Degraded => "DEGRADED",
            JointHealth::Offline => "OFFLINE",
            JointHealth::Faulted => "FAULTED",
            JointHealth::Restarting => "RESTARTING",
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Simulated time, s.
    pub t: f64,
    /// Joint name, or empty for run-wide events.
    pub joint: String,
    /// Machine-readable kind, e.g. `controller_panic`, `state`, `fault_injected`.
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
}
