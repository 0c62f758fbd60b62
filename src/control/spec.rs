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
    /// Any program that speaks armhil's joint-service protocol over Zenoh (README,
    /// "External controllers over Zenoh"): it gets samples on `{key}/sample`,
    /// answers on `{key}/command`, and holds the liveliness token `{key}/alive`.
    External(ExternalConfig),
}

/// Where an external controller is found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// Zenoh key prefix, e.g. "armhil/arm6/elbow_pitch": slash-separated chunks of
    /// letters, digits, `_`, `-`, `.`; no wildcards.
    pub key: String,
}

impl ExternalConfig {
    fn validate(&self, f: &str, push: &mut dyn FnMut(String, String)) {
        let ok = !self.key.is_empty()
            && self.key.split('/').all(|c| {
                !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
            });
        if !ok {
            push(
                format!("{f}.key"),
                format!(
                    "{:?} is not a plain Zenoh key: expected chunks of letters, digits, _ - . separated by single /, no wildcards",
                    self.key
                ),
            );
        }
    }
}

impl ControllerSpec {
    /// Range checks; `push(field, message)` records each problem.
    pub fn validate(&self, field: &str, servo: &ServoSpec, push: &mut dyn FnMut(String, String)) {
        match self {
            ControllerSpec::Pid(c) => c.validate(&format!("{field}.Pid"), servo, push),
            ControllerSpec::External(c) => c.validate(&format!("{field}.External"), push),
        }
    }

    /// Short kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            ControllerSpec::Pid(_) => "pid",
            ControllerSpec::External(_) => "external",
        }
    }

    /// The live-tunable gains (an external controller's are its own business: none).
    pub fn gains(&self) -> Option<Gains> {
        match self {
            ControllerSpec::Pid(c) => Some(Gains {
                kp: c.kp,
                ki: c.ki,
                kd: c.kd,
            }),
            ControllerSpec::External(_) => None,
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
            ControllerSpec::External(c) => ControllerSpec::External(c.clone()),
        }
    }

    /// Whether the controller needs the gravity torque computed each tick.
    pub fn wants_gravity(&self) -> bool {
        match self {
            ControllerSpec::Pid(c) => c.gravity_compensation,
            // The sample carries it; it costs little.
            ControllerSpec::External(_) => true,
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

/// Where a joint's controller service runs: its failure domain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Isolation {
    /// A thread of the simulator (default, the cheapest). A panic is caught at the
    /// service boundary, but a controller that aborts, crashes (SIGSEGV) or exhausts
    /// memory takes the whole simulator down with it.
    #[default]
    Thread,
    /// Its own OS process (armhil re-executed as a joint-service child), reached over
    /// a Unix socket: an abort, a crash or a leak ends only that process; its joint
    /// goes to its safe state and the service is restarted under its policy while
    /// every other joint keeps running. Limits in the drive's `process`.
    Process,
}

impl Isolation {
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Thread => "thread",
            Isolation::Process => "process",
        }
    }
}

/// Resource limits of a process-isolated service (`isolation: Process`), set in the
/// child before it runs any controller code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessLimits {
    /// Heap (data segment) limit, MB, 16..=65536: an allocation beyond it fails and
    /// the process aborts; only this joint's service dies.
    pub memory_mb: u32,
    /// CPUs the process may run on, each below the machine's CPU count (empty: any).
    pub cpus: Vec<u32>,
    /// Nice value, -20..=19 (below 0 needs the privilege to raise priority). Under
    /// `--rt-priority` the process takes the services' SCHED_FIFO priority instead.
    pub nice: i32,
    /// Your own service program instead of armhil (relative to the scene file): run
    /// as `PROGRAM joint-service --fd 3`, it speaks the joint-service wire on fd 3
    /// (README, "Your own service program"). Validation makes the path absolute.
    pub program: Option<String>,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        Self {
            memory_mb: 256,
            cpus: Vec::new(),
            nice: 0,
            program: None,
        }
    }
}

impl ProcessLimits {
    /// Range checks; `cpus_online` is the machine's CPU count.
    pub fn validate(&self, field: &str, cpus_online: usize, push: &mut dyn FnMut(String, String)) {
        if !(16..=65536).contains(&self.memory_mb) {
            push(
                format!("{field}.memory_mb"),
                format!(
                    "{} is out of range: expected 16 ..= 65536 MB",
                    self.memory_mb
                ),
            );
        }
        for (i, &c) in self.cpus.iter().enumerate() {
            if c as usize >= cpus_online {
                push(
                    format!("{field}.cpus[{i}]"),
                    format!(
                        "CPU {c} does not exist: expected 0 ..= {} (this machine has {cpus_online})",
                        cpus_online.saturating_sub(1)
                    ),
                );
            }
        }
        if !(-20..=19).contains(&self.nice) {
            push(
                format!("{field}.nice"),
                format!("{} is out of range: expected -20 ..= 19", self.nice),
            );
        }
    }
}
