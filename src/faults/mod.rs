//! Faults injected into joint services on the scene timeline.
//!
//! This is the seed of the fault catalogue: controller `Panic` and `Hang`, the two
//! failures a joint service must survive from day one. Faults fire on simulated time,
//! so a faulted lockstep run is reproducible from its seed.

use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// The controller panics on its first tick at or after `at`.
    Panic,
    /// The controller never returns from its first tick at or after `at` (a real
    /// hang: a busy loop). Lockstep runs are ended by the wall-clock watchdog; the
    /// real-time executor contains it to the joint.
    Hang,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Hang => "hang",
        }
    }
}

/// One scheduled fault: `(at: 1.0, joint: "elbow", kind: Panic)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Onset, simulated seconds from the start, in [0, duration_s].
    pub at: f64,
    /// End of the fault, s, after `at` (for transient kinds; ignored by Panic/Hang).
    #[serde(default)]
    pub until: Option<f64>,
    /// Joint whose service is hit.
    pub joint: String,
    pub kind: FaultKind,
}

impl FaultSpec {
    /// Range checks; `push(field, message)` records each problem.
    pub fn validate(
        &self,
        f: &str,
        joints: &[&str],
        duration_s: f64,
        push: &mut dyn FnMut(String, String),
    ) {
        if !joints.contains(&self.joint.as_str()) {
            push(
                format!("{f}.joint"),
                format!(
                    "\"{}\" is not an actuated joint (joints: {})",
                    self.joint,
                    joints.join(", ")
                ),
            );
        }
        if !self.at.is_finite() || self.at < 0.0 || self.at > duration_s {
            push(
                format!("{f}.at"),
                format!(
                    "{} is out of range: expected 0 ..= {duration_s} s (the run's duration)",
                    self.at
                ),
            );
        }
        if let Some(u) = self.until
            && (!u.is_finite() || u <= self.at)
        {
            push(
                format!("{f}.until"),
                format!("{u} must be a time after `at` ({} s)", self.at),
            );
        }
    }
}
