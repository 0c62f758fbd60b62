//! Joint control in plain Rust (no bevy or rapier types): the [`JointController`]
//! trait, the controller kinds a scene can name, and trajectories.
//!
//! Adding a controller kind is one new file implementing [`JointController`] plus one
//! variant in [`ControllerSpec`] (its config is the variant's payload, so the scene
//! parser, validation and construction all dispatch through this file).

mod pid;
pub mod spec;
pub mod trajectory;

pub use pid::Pid;
pub use spec::{
    ControllerSpec, ExternalConfig, Gains, GainsError, Isolation, PidConfig, ProcessLimits,
};
pub use trajectory::{JointTrajectory, Trajectory};

use serde::{Deserialize, Serialize};

use crate::servo::spec::ServoSpec;

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

/// Builds the controller a spec names, for a joint driven by `servo`.
pub fn build(spec: &ControllerSpec, servo: &ServoSpec) -> Box<dyn JointController> {
    match spec {
        ControllerSpec::Pid(c) => Box::new(Pid::new(c.clone(), servo.stall_torque_nm)),
        // An external controller runs elsewhere (`runtime::external`); in its place
        // here, nothing: no torque.
        ControllerSpec::External(_) => Box::new(Idle),
    }
}

/// What stands for a controller that runs elsewhere: no torque, no state.
struct Idle;

impl JointController for Idle {
    fn update(&mut self, _: &ControlInput) -> f64 {
        0.0
    }
    fn reset(&mut self) {}
    fn kind(&self) -> &'static str {
        "external"
    }
}
