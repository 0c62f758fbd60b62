//! The controller kinds a scene can name, as data ([`ControllerSpec`] and each kind's
//! config), the live-tunable [`Gains`], and their range checks. Building a running
//! controller from a spec is [`super::build`].

use serde::{Deserialize, Serialize};

use crate::servo::spec::ServoSpec;

/// PID gains. Units assume a revolute joint (rad, N·m); for prismatic joints read m, N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PidConfig {
    /// Proportional gain, N·m/rad, in [0, 1e6]. Start near stall_torque / 0.1 rad.
    pub kp: f64,
    /// Integral gain, N·m/(rad·s), in [0, 1e7]. Removes steady-state error from
    /// unmodelled loads; keep below kp · (controller rate / 10).
    #[serde(default)]
    pub ki: f64,
    /// Derivative gain on the velocity error, N·m·s/rad, in [0, 1e5].
    #[serde(default)]
    pub kd: f64,
    /// Velocity feed-forward, N·m·s/rad, in [0, 1e5]: torque per rad/s of desired
    /// velocity. Set it to the servo's viscous damping to cancel it.
    #[serde(default)]
    pub velocity_ff: f64,
    /// Add the model's gravity torque at the measured pose to the command.
    #[serde(default)]
    pub gravity_compensation: bool,
    /// Largest magnitude of the integral term, N·m; defaults to the servo's stall torque.
    #[serde(default)]
    pub integral_limit_nm: Option<f64>,
}

impl PidConfig {
    pub(crate) fn validate(
        &self,
        f: &str,
        servo: &ServoSpec,
        push: &mut dyn FnMut(String, String),
    ) {
        check(push, format!("{f}.kp"), self.kp, 0.0, 1e6, "N·m/rad");
        check(push, format!("{f}.ki"), self.ki, 0.0, 1e7, "N·m/(rad·s)");
        check(push, format!("{f}.kd"), self.kd, 0.0, 1e5, "N·m·s/rad");
        check(
            push,
            format!("{f}.velocity_ff"),
            self.velocity_ff,
            0.0,
            1e5,
            "N·m·s/rad",
        );
        if let Some(l) = self.integral_limit_nm {
            check(
                push,
                format!("{f}.integral_limit_nm"),
                l,
                0.0,
                servo.stall_torque_nm.max(0.0),
                "N·m (at most the servo's stall torque)",
            );
        }
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

/// Gains out of range: each field with what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
pub struct GainsError {
    pub problems: Vec<(String, String)>,
}

impl Gains {
    /// Range checks (those of [`PidConfig`]): each field out of range otherwise.
    pub fn validate(&self) -> Result<(), GainsError> {
        let mut problems = Vec::new();
        let mut push = |f: String, m: String| problems.push((f, m));
        check(&mut push, "kp".into(), self.kp, 0.0, 1e6, "N·m/rad");
        check(&mut push, "ki".into(), self.ki, 0.0, 1e7, "N·m/(rad·s)");
        check(&mut push, "kd".into(), self.kd, 0.0, 1e5, "N·m·s/rad");
        if problems.is_empty() {
            Ok(())
        } else {
            Err(GainsError { problems })
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
