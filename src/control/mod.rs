//! Joint control in plain Rust (no bevy or rapier types): the [`JointController`]
//! trait, the controller kinds a scene can name, and trajectories.
//!
//! Adding a controller kind is one new file implementing [`JointController`] plus one
//! variant in [`ControllerSpec`] (its config is the variant's payload, so the scene
//! parser, validation and construction all dispatch through this file).

mod pid;
pub mod trajectory;

pub use pid::{Pid, PidConfig};
pub use trajectory::{JointTrajectory, Trajectory};

use serde::{Deserialize, Serialize};

use crate::scene::ServoSpec;

/// Desired joint state at one instant (rad, rad/s, rad/s²; m for prismatic joints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Setpoint {
    pub pos: f64,
    pub vel: f64,
    pub acc: f64,
}

/// What the servo reports, as a real servo would: quantised position, velocity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub pos: f64,
    pub vel: f64,
    /// Torque the servo applied last period, N·m.
    pub torque: f64,
}

/// Everything a controller gets for one tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlInput {
    /// Simulated time of the sample, s.
    pub t: f64,
    /// Time since the controller's previous tick, s.
    pub dt: f64,
    pub setpoint: Setpoint,
    pub measured: Measured,
    /// Torque gravity exerts on the joint at the measured pose, N·m (positive along
    /// the joint axis); a controller compensates it by adding `-gravity_torque`.
    pub gravity_torque: f64,
}

/// A joint controller: turns a setpoint and a measurement into a torque command.
/// It owns its state; it is called from one thread at a time at its joint's rate.
pub trait JointController: Send {
    /// One control tick. Returns the commanded joint torque, N·m.
    fn update(&mut self, input: &ControlInput) -> f64;
    /// Clears internal state (integrators, filters), e.g. after a restart.
    fn reset(&mut self);
    /// Short kind name for tables and reports.
    fn kind(&self) -> &'static str;
    /// Changes the gains live, keeping the controller's state (the integrator): no
    /// bump in the command beyond what the new gains imply. Returns false for a
    /// controller without such gains.
    fn set_gains(&mut self, _gains: &Gains) -> bool {
        false
    }
}

/// The gains an operator tunes live (from the GUI or a `gains` command). Units as in
/// [`PidConfig`]: N·m/rad, N·m/(rad·s), N·m·s/rad.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gains {
    pub kp: f64,
    pub ki: f64,
    pub kd: f64,
}

impl Gains {
    /// Range checks (those of [`PidConfig`]): a message naming the field otherwise.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut push = |f: String, m: String| problems.push(format!("{f}: {m}"));
        check(&mut push, "kp".into(), self.kp, 0.0, 1e6, "N·m/rad");
        check(&mut push, "ki".into(), self.ki, 0.0, 1e7, "N·m/(rad·s)");
        check(&mut push, "kd".into(), self.kd, 0.0, 1e5, "N·m·s/rad");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The controller kinds a scene can name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ControllerSpec {
    /// PID with velocity feed-forward, optional gravity compensation, anti-windup.
    Pid(PidConfig),
}

impl ControllerSpec {
    /// Builds the controller for a joint driven by `servo`.
    pub fn build(&self, servo: &ServoSpec) -> Box<dyn JointController> {
        match self {
            ControllerSpec::Pid(c) => Box::new(Pid::new(c.clone(), servo.stall_torque_nm)),
        }
    }

    /// Range checks; `push(field, message)` records each problem.
    pub fn validate(&self, field: &str, servo: &ServoSpec, push: &mut dyn FnMut(String, String)) {
        match self {
            ControllerSpec::Pid(c) => c.validate(&format!("{field}.Pid"), servo, push),
        }
    }

    /// Short kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            ControllerSpec::Pid(_) => "pid",
        }
    }

    /// The live-tunable gains.
    pub fn gains(&self) -> Gains {
        match self {
            ControllerSpec::Pid(c) => Gains {
                kp: c.kp,
                ki: c.ki,
                kd: c.kd,
            },
        }
    }

    /// The same controller with other gains.
    pub fn with_gains(&self, g: &Gains) -> Self {
        match self {
            ControllerSpec::Pid(c) => ControllerSpec::Pid(PidConfig {
                kp: g.kp,
                ki: g.ki,
                kd: g.kd,
                ..c.clone()
            }),
        }
    }

    /// Whether the controller needs the gravity torque computed each tick.
    pub fn wants_gravity(&self) -> bool {
        match self {
            ControllerSpec::Pid(c) => c.gravity_compensation,
        }
    }
}

/// Shared range check helper for controller configs.
pub(crate) fn check(
    push: &mut dyn FnMut(String, String),
    field: String,
    v: f64,
    lo: f64,
    hi: f64,
    unit: &str,
) {
    if !v.is_finite() || v < lo || v > hi {
        let shown = if v.is_nan() {
            "NaN".to_string()
        } else {
            v.to_string()
        };
        push(
            field,
            format!("{shown} is out of range: expected {lo} ..= {hi} {unit}"),
        );
    }
}
