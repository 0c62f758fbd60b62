//! The run report: what `--report FILE` writes and the end-of-run table prints.
//! Wall-clock fields (`wall_time_s`, `real_time_factor`) are the only ones that differ
//! between two lockstep runs of the same scene and seed.

use serde::{Deserialize, Serialize};

use super::{Event, JointHealth};

/// Per-joint summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JointReport {
    pub name: String,
    /// `sim`, a serial servo (`serial:PORT:sts:1`), a recording, or a served servo
    /// (`served:sts:1`).
    pub backend: String,
    pub controller: String,
    pub rate_hz: f64,
    pub state: JointHealth,
    pub rms_error_rad: f64,
    pub max_error_rad: f64,
    pub peak_torque_nm: f64,
    pub saturated_fraction: f64,
    pub deadline_misses: u64,
    /// Times the supervisor restarted this joint.
    pub restarts: u32,
    pub max_command_age_s: f64,
    /// Fraction of steps spent at a position limit.
    pub at_limit_fraction: f64,
    pub min_pos_rad: f64,
    pub max_pos_rad: f64,
    /// Serial link figures, for hardware joints.
    pub link: Option<LinkReport>,
    /// Replies from an external service that were malformed or answered another
    /// sample (ignored; the joint was DEGRADED meanwhile). Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub garbled_replies: u64,
    /// Where the joint's target came from once it was commanded from outside the run
    /// (e.g. `ROS 2 /joint_commands`); absent: its trajectory throughout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commanded_by: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Transactions on a hardware joint's serial link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    pub transactions: u64,
    /// Transactions with an error for this joint (timeout, checksum, garbage).
    pub errors: u64,
    pub timeouts: u64,
    /// Transaction latency (sync write + sync read), µs.
    pub latency_p50_us: f64,
    pub latency_p99_us: f64,
    pub latency_max_us: f64,
}

impl LinkReport {
    pub fn new(transactions: u64, errors: u64, timeouts: u64, latencies_us: &[f32]) -> Self {
        let mut v: Vec<f32> = latencies_us.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| {
            if v.is_empty() {
                0.0
            } else {
                v[((v.len() - 1) as f64 * q).round() as usize] as f64
            }
        };
        Self {
            transactions,
            errors,
            timeouts,
            latency_p50_us: at(0.5),
            latency_p99_us: at(0.99),
            latency_max_us: at(1.0),
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub armhil_version: String,
    pub scene: String,
    pub scene_file: String,
    pub executor: String,
    pub seed: u64,
    pub steps: u64,
    pub sim_time_s: f64,
    pub wall_time_s: f64,
    pub real_time_factor: f64,
    /// Completed with every joint healthy.
    pub passed: bool,
    /// Why the run ended early, if it did.
    pub aborted: Option<String>,
    /// Physics step lateness percentiles, µs (real-time executor only).
    pub step_lateness_us: Option<Lateness>,
    /// Physics steps that began one period or more late, i.e. after the next step was
    /// already due: the slot they had at the scene's rate passed without them
    /// (real-time executor only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_steps: Option<u64>,
    pub joints: Vec<JointReport>,
    /// Every injected fault: when it began, was detected, ended.
    pub faults: Vec<FaultRecord>,
    /// Why the e-stop latched, if it did (it stays latched until a reset).
    pub estop: Option<String>,
    /// The scene's expectations and their verdicts.
    pub expectations: Vec<Verdict>,
    /// The MCAP recording, when `--record` was given.
    pub recording: Option<RecordingReport>,
    /// The live Foxglove server, when `--live` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
    /// The ROS 2 topics, when `--ros2` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ros2: Option<Ros2Report>,
    /// The served bus, for `armhil serve` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<super::ServedReport>,
    /// The world's objects (scenes with a `world`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<super::ObjectReport>,
    /// Each link's contacts (scenes with a `world`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<super::LinkContactReport>,
    pub events: Vec<Event>,
}

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The expectation, as written (RON-like).
    pub expectation: String,
    pub passed: bool,
    /// What was observed.
    pub detail: String,
}

/// Per-channel figures of a finished recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingReport {
    pub file: String,
    /// (topic, messages written, messages dropped).
    pub channels: Vec<(String, u64, u64)>,
    pub bytes: u64,
}

/// What the live Foxglove server (`--live`) carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveReport {
    /// Where it listened, `ws://HOST:PORT`.
    pub address: String,
    /// Clients that connected during the run.
    pub clients: u64,
    /// (topic, messages handed to the server, messages dropped before it: the run's
    /// queue to the server was full).
    pub channels: Vec<(String, u64, u64)>,
    /// (topic, messages held back) for state channels thinned to the display's rate
    /// (`telemetry::live::thin`: only when a run goes faster than 2× real time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thinned: Vec<(String, u64)>,
    /// Commands and parameter changes from clients put on the control channel, and
    /// those refused (malformed, unknown, or the channel full), each with a reason
    /// sent back to its client.
    pub commands: u64,
    pub refused: u64,
    /// Real time: when simulated time 0 was on the system clock, s since the Unix
    /// epoch (a message of simulated time t was due at this + t).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_s: Option<f64>,
}

/// What the ROS 2 topics (`--ros2`) carried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ros2Report {
    /// The Zenoh keys (zenoh-bridge-ros2dds's names of the topics).
    pub joint_states_key: String,
    pub clock_key: String,
    pub commands_key: String,
    /// Messages published, and samples not published because nobody subscribed
    /// (the bridge subscribes for a ROS node that does).
    pub joint_states: u64,
    pub joint_states_unheard: u64,
    pub clock: u64,
    pub clock_unheard: u64,
    /// Records the run had for them that found the publisher's queue full.
    pub dropped: u64,
    /// Command messages received, joint targets taken from them, and messages not
    /// applied: not CDR JointState, or arrays not as long as the names.
    pub commands: u64,
    pub applied: u64,
    pub malformed: u64,
    pub wrong_length: u64,
    /// Names in commands that are not joints of this arm (the first few).
    pub unknown_joints: Vec<String>,
    /// Why the last refused message was refused.
    pub last_error: Option<String>,
}

/// One injected fault, from onset to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub joint: String,
    /// Kind name, e.g. `hang`.
    pub kind: String,
    /// Kind with its parameters, e.g. `slow(12 ms)`.
    pub detail: String,
    /// Onset, s.
    pub at: f64,
    /// Scheduled end, s (none: to the end of the run, or one-shot).
    pub until: Option<f64>,
    /// Time from onset to the supervisor's detection, s; none if undetected.
    pub detection_latency_s: Option<f64>,
    /// The same in control periods of the joint.
    pub detection_latency_periods: Option<f64>,
    /// When the fault stopped acting: its clear, or its detection for a one-shot
    /// panic/hang (the restarted service no longer suffers it).
    pub ended_at: Option<f64>,
    /// Time from `ended_at` to the joint being OK for good, s.
    pub recovery_s: Option<f64>,
    /// Ground truth: the fault changed what its joint did (a sag that never bit, a
    /// stuck encoder on a joint standing still, did not).
    pub effective: bool,
    /// On a served joint (`armhil serve`): the fault acts toward the host software,
    /// whose reaction is what is judged (`HostTorqueOff`, `HostStopsWriting`);
    /// armhil's supervisor does not detect it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub toward_host: bool,
}

/// Step lateness distribution of the real-time executor, µs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Report {
    /// The report of a run that could not finish (a controller that never returned
    /// and ignored its release): what is known, and why it ended at `t`.
    pub fn aborted(scene: &str, scene_file: &str, seed: u64, t: f64, why: String) -> Self {
        Self {
            armhil_version: env!("CARGO_PKG_VERSION").into(),
            scene: scene.into(),
            scene_file: scene_file.into(),
            executor: "lockstep".into(),
            seed,
            steps: 0,
            sim_time_s: t,
            wall_time_s: 0.0,
            real_time_factor: 0.0,
            passed: false,
            aborted: Some(why),
            step_lateness_us: None,
            missed_steps: None,
            joints: Vec::new(),
            faults: Vec::new(),
            estop: None,
            expectations: Vec::new(),
            recording: None,
            live: None,
            ros2: None,
            served: None,
            objects: Vec::new(),
            links: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report without wall-clock fields, for determinism checks.
    pub fn deterministic_json(&self) -> String {
        let mut r = self.clone();
        r.wall_time_s = 0.0;
        r.real_time_factor = 0.0;
        r.to_json()
    }

    /// Faults, e-stop and expectation verdicts, printed after the table (empty when
    /// the run had none).
    pub fn summary(&self) -> String {
        let mut s = String::new();
        if !self.faults.is_empty() {
            s.push_str(&format!(
                "{:<16} {:<28} {:>9} {:>9} {:>16} {:>12}\n",
                "fault on", "kind", "at (s)", "ended", "detected after", "recovery"
            ));
            for f in &self.faults {
                let det = match (f.detection_latency_s, f.detection_latency_periods) {
                    (Some(l), Some(p)) => format!("{:.1} ms ({p:.1} T)", l * 1e3),
                    _ if f.toward_host => "host's to see".into(),
                    _ => "UNDETECTED".into(),
                };
                s.push_str(&format!(
                    "{:<16} {:<28} {:>9.3} {:>9} {:>16} {:>12}\n",
                    f.joint,
                    f.detail,
                    f.at,
                    f.ended_at.map_or("-".into(), |e| format!("{e:.3}")),
                    det,
                    match f.recovery_s {
                        Some(r) => format!("{:.1} ms", r * 1e3),
                        None if f.toward_host => "-".into(),
                        None => "not OK".into(),
                    },
                ));
            }
        }
        if let Some(e) = &self.estop {
            s.push_str(&format!("E-STOP latched: {e}\n"));
        }
        for v in &self.expectations {
            s.push_str(&format!(
                "expect {:<4} {} — {}\n",
                if v.passed { "ok" } else { "FAIL" },
                v.expectation,
                v.detail
            ));
        }
        s
    }

    /// The per-joint table printed at the end of a run.
    pub fn table(&self) -> String {
        // The backend column fits its longest label (`serial:/dev/ttyUSB0:sts:1`).
        let w = self
            .joints
            .iter()
            .map(|j| j.backend.chars().count())
            .max()
            .unwrap_or(0)
            .max(8);
        let mut s = format!(
            "{:<16} {:<w$} {:<10} {:>10} {:>10} {:>10} {:>8} {:>8}\n",
            "joint", "backend", "state", "rms err", "max err", "peak τ", "sat %", "misses"
        );
        s.push_str(&format!(
            "{:<16} {:<w$} {:<10} {:>10} {:>10} {:>10} {:>8} {:>8}\n",
            "", "", "", "(rad)", "(rad)", "(N·m)", "", ""
        ));
        for j in &self.joints {
            s.push_str(&format!(
                "{:<16} {:<w$} {:<10} {:>10.5} {:>10.5} {:>10.3} {:>8.2} {:>8}\n",
                j.name,
                j.backend,
                j.state.as_str(),
                j.rms_error_rad,
                j.max_error_rad,
                j.peak_torque_nm,
                j.saturated_fraction * 100.0,
                j.deadline_misses
            ));
        }
        s
    }
}
