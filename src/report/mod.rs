//! The run's outcome vocabulary, shared by every layer that writes or reads a run:
//! joint health, the event log, per-joint statistics, the report and its verdicts.
//! Plain data (serde), no behaviour beyond formatting; the runtime fills it in,
//! telemetry sinks, the CLI and the GUI read it.

mod run;
pub mod served;
mod stats;
pub mod world;

pub use run::{
    FaultRecord, JointReport, Lateness, LinkReport, LiveReport, RecordingReport, Report,
    Ros2Report, Verdict,
};
pub use served::{ServedJointReport, ServedReport};
pub use stats::JointStats;
pub use world::{LinkContactReport, ObjectReport};

use serde::{Deserialize, Serialize};

/// Health of a joint, as shown in tables and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JointHealth {
    #[serde(alias = "Ok")]
    Ok,
    #[serde(alias = "Degraded")]
    Degraded,
    #[serde(alias = "Offline")]
    Offline,
    #[serde(alias = "Faulted")]
    Faulted,
    #[serde(alias = "Restarting")]
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

    /// The inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            JointHealth::Ok,
            JointHealth::Degraded,
            JointHealth::Offline,
            JointHealth::Faulted,
            JointHealth::Restarting,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
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
    /// For `state` events: the joint's new state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JointHealth>,
    /// For `fault_detected` events: time from the fault's onset to its detection, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<f64>,
}
