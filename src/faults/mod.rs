//! The fault catalogue: what can go wrong with a joint, injected on the scene
//! timeline (`faults: [...]`), from the CLI (`--fault`), on simulated time so a faulted
//! lockstep run is reproducible from its seed.
//!
//! Where each kind acts: controller faults (`Panic`, `Hang`, `Slow`) inside the joint's
//! service (see `runtime::service::FaultyController`); sensor faults (`EncoderStuck`,
//! `EncoderNoise`, `EncoderOffset`) in what the servo reports; actuator faults
//! (`TorqueSag`, `ServoError`, `PowerLoss`) in the torque the servo delivers (see
//! `runtime::plant`). Every windowed fault logs one onset and one clear event.

use serde::{Deserialize, Serialize};

/// A servo's own error condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServoErrorBit {
    Overload,
    Overheat,
    Voltage,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FaultKind {
    /// The controller panics on its first tick at or after `at`.
    Panic,
    /// The controller never returns from its first tick at or after `at` (a real
    /// hang). Lockstep runs are ended by the wall-clock watchdog; the real-time
    /// executor contains it to the joint.
    Hang,
    /// Each controller cycle in the window takes `ms` longer (wall clock), 0..=10000.
    Slow { ms: f64 },
    /// The encoder reports the position it had at onset.
    EncoderStuck,
    /// Extra Gaussian encoder noise, σ in rad, 0..=1.
    EncoderNoise { sigma_rad: f64 },
    /// The encoder reads `rad` off, -1..=1.
    EncoderOffset { rad: f64 },
    /// The servo delivers at most `factor` × its torque limit, 0..=1.
    TorqueSag { factor: f64 },
    /// The servo raises an error bit and shuts its torque off (its own protection)
    /// until the fault clears.
    ServoError { bit: ServoErrorBit },
    /// The servo loses power: no torque (limp) until the fault clears.
    PowerLoss,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Hang => "hang",
            FaultKind::Slow { .. } => "slow",
            FaultKind::EncoderStuck => "encoder_stuck",
            FaultKind::EncoderNoise { .. } => "encoder_noise",
            FaultKind::EncoderOffset { .. } => "encoder_offset",
            FaultKind::TorqueSag { .. } => "torque_sag",
            FaultKind::ServoError { .. } => "servo_error",
            FaultKind::PowerLoss => "power_loss",
        }
    }

    /// Controller faults act inside the joint's service.
    pub fn in_controller(self) -> bool {
        matches!(
            self,
            FaultKind::Panic | FaultKind::Hang | FaultKind::Slow { .. }
        )
    }
}

/// One scheduled fault: `(at: 1.0, until: 1.5, joint: "elbow", kind: PowerLoss)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Onset, simulated seconds from the start, in [0, duration_s].
    pub at: f64,
    /// End of the fault, s, after `at`; none = until the end of the run. Panic and
    /// Hang are permanent.
    #[serde(default)]
    pub until: Option<f64>,
    /// Joint whose service is hit.
    pub joint: String,
    pub kind: FaultKind,
}

impl FaultSpec {
    /// Whether the fault is active at simulated time `t`.
    pub fn active(&self, t: f64) -> bool {
        t + 1e-12 >= self.at && self.until.is_none_or(|u| t + 1e-12 < u)
    }

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
        if let Some(u) = self.until {
            if !u.is_finite() || u <= self.at {
                push(
                    format!("{f}.until"),
                    format!("{u} must be a time after `at` ({} s)", self.at),
                );
            }
            if matches!(self.kind, FaultKind::Panic | FaultKind::Hang) {
                push(
                    format!("{f}.until"),
                    format!("{} faults are permanent: remove `until`", self.kind.name()),
                );
            }
        }
        let mut range = |name: &str, v: f64, lo: f64, hi: f64, unit: &str| {
            if !v.is_finite() || v < lo || v > hi {
                push(
                    format!("{f}.kind.{name}"),
                    format!("{v} is out of range: expected {lo} ..= {hi} {unit}"),
                );
            }
        };
        match self.kind {
            FaultKind::Slow { ms } => range("ms", ms, 0.0, 10_000.0, "ms"),
            FaultKind::EncoderNoise { sigma_rad } => range("sigma_rad", sigma_rad, 0.0, 1.0, "rad"),
            FaultKind::EncoderOffset { rad } => range("rad", rad, -1.0, 1.0, "rad"),
            FaultKind::TorqueSag { factor } => range("factor", factor, 0.0, 1.0, ""),
            _ => {}
        }
    }
}

/// Parses a CLI fault: `JOINT:KIND[(ARG)]@AT[..UNTIL]`, e.g. `elbow:hang@2.0`,
/// `elbow:power_loss@2.0..3.5`, `wrist:encoder_noise(0.01)@1..2`,
/// `shoulder:servo_error(overheat)@3`.
pub fn parse_cli_fault(s: &str) -> Result<FaultSpec, String> {
    let bad = |why: &str| format!("--fault {s:?}: {why}; expected JOINT:KIND[(ARG)]@AT[..UNTIL]");
    let (joint, rest) = s
        .split_once(':')
        .ok_or_else(|| bad("no `:` after the joint"))?;
    let (kind, time) = rest
        .rsplit_once('@')
        .ok_or_else(|| bad("no `@` before the time"))?;
    let (at, until) = match time.split_once("..") {
        Some((a, u)) => (a, Some(u)),
        None => (time, None),
    };
    let at: f64 = at
        .trim()
        .parse()
        .map_err(|_| bad(&format!("time {at:?} is not a number")))?;
    let until = match until {
        Some(u) => Some(
            u.trim()
                .parse::<f64>()
                .map_err(|_| bad(&format!("time {u:?} is not a number")))?,
        ),
        None => None,
    };
    let (name, arg) = match kind.split_once('(') {
        Some((n, a)) => (
            n,
            Some(a.strip_suffix(')').ok_or_else(|| bad("unclosed `(`"))?),
        ),
        None => (kind, None),
    };
    let num = |what: &str| -> Result<f64, String> {
        arg.ok_or_else(|| bad(&format!("{name} needs ({what})")))?
            .trim()
            .parse()
            .map_err(|_| bad(&format!("{what} is not a number")))
    };
    let kind = match name {
        "panic" => FaultKind::Panic,
        "hang" => FaultKind::Hang,
        "slow" => FaultKind::Slow { ms: num("ms")? },
        "encoder_stuck" => FaultKind::EncoderStuck,
        "encoder_noise" => FaultKind::EncoderNoise {
            sigma_rad: num("sigma_rad")?,
        },
        "encoder_offset" => FaultKind::EncoderOffset { rad: num("rad")? },
        "torque_sag" => FaultKind::TorqueSag {
            factor: num("factor")?,
        },
        "power_loss" => FaultKind::PowerLoss,
        "servo_error" => FaultKind::ServoError {
            bit: match arg {
                Some("overload") => ServoErrorBit::Overload,
                Some("overheat") => ServoErrorBit::Overheat,
                Some("voltage") => ServoErrorBit::Voltage,
                _ => return Err(bad("servo_error needs (overload|overheat|voltage)")),
            },
        },
        other => {
            return Err(bad(&format!(
                "unknown kind {other:?} (panic, hang, slow(ms), encoder_stuck, encoder_noise(σ), encoder_offset(rad), torque_sag(k), servo_error(bit), power_loss)"
            )));
        }
    };
    Ok(FaultSpec {
        at,
        until,
        joint: joint.to_string(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_faults() {
        let f = parse_cli_fault("elbow:hang@2.0").expect("hang");
        assert_eq!(
            (f.joint.as_str(), f.at, f.until, f.kind),
            ("elbow", 2.0, None, FaultKind::Hang)
        );
        let f = parse_cli_fault("wrist:encoder_noise(0.01)@1..2.5").expect("noise");
        assert_eq!(f.kind, FaultKind::EncoderNoise { sigma_rad: 0.01 });
        assert_eq!(f.until, Some(2.5));
        let f = parse_cli_fault("s:servo_error(overheat)@3").expect("servo");
        assert_eq!(
            f.kind,
            FaultKind::ServoError {
                bit: ServoErrorBit::Overheat
            }
        );
        for bad in [
            "elbow@1",
            "elbow:hang",
            "elbow:melt@1",
            "elbow:slow@1",
            "elbow:slow(x)@1",
            "e:hang@x",
        ] {
            assert!(parse_cli_fault(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows() {
        let f = FaultSpec {
            at: 1.0,
            until: Some(2.0),
            joint: "j".into(),
            kind: FaultKind::PowerLoss,
        };
        assert!(!f.active(0.999) && f.active(1.0) && f.active(1.999) && !f.active(2.0));
    }
}
