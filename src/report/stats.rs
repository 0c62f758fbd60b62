//! Per-joint running statistics, updated every physics step without allocating.

use serde::{Deserialize, Serialize};

/// Accumulated figures for one joint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JointStats {
    pub steps: u64,
    pub sum_sq_error: f64,
    pub max_error: f64,
    pub peak_torque: f64,
    pub saturated_steps: u64,
    pub deadline_misses: u64,
    /// Replies from an external service that were malformed or answered another
    /// sample (ignored).
    #[serde(default)]
    pub garbled_replies: u64,
    /// Largest age of the command in use, s (real-time executor).
    pub max_command_age_s: f64,
    /// Steps spent within 0.5 mrad (or 0.5 mm) of a position limit.
    pub limit_steps: u64,
    pub min_pos: f64,
    pub max_pos: f64,
}

impl JointStats {
    /// Records one physics step.
    pub fn record(
        &mut self,
        error: f64,
        torque: f64,
        saturated: bool,
        pos: f64,
        limits: (f64, f64),
    ) {
        if self.steps == 0 {
            self.min_pos = pos;
            self.max_pos = pos;
        }
        self.steps += 1;
        self.sum_sq_error += error * error;
        self.max_error = self.max_error.max(error.abs());
        self.peak_torque = self.peak_torque.max(torque.abs());
        self.saturated_steps += saturated as u64;
        self.min_pos = self.min_pos.min(pos);
        self.max_pos = self.max_pos.max(pos);
        if pos <= limits.0 + 5e-4 || pos >= limits.1 - 5e-4 {
            self.limit_steps += 1;
        }
    }

    pub fn rms_error(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            (self.sum_sq_error / self.steps as f64).sqrt()
        }
    }

    pub fn saturated_fraction(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.saturated_steps as f64 / self.steps as f64
        }
    }
}
