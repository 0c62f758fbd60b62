//! The fault catalogue as data: every kind a scene, the CLI or the control channel
//! can inject ([`FaultKind`], [`FaultSpec`]), their range checks and their CLI
//! spelling. What a fault does is written where it acts (see the module above);
//! which symptom reveals it is [`super::revealed_by`].

use serde::{Deserialize, Serialize};

/// A servo's own error condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServoErrorBit {
    Overload,
    Overheat,
    Voltage,
}

impl ServoErrorBit {
    /// The bit in a Feetech/Dynamixel-style status byte.
    pub fn mask(self) -> u8 {
        match self {
            ServoErrorBit::Voltage => 0x01,
            ServoErrorBit::Overheat => 0x04,
            ServoErrorBit::Overload => 0x20,
        }
    }
}

/// Where a fault acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    Controller,
    Sensor,
    Actuator,
    Link,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FaultKind {
    /// The controller panics. Without `until`: once, on its first tick at or after
    /// `at` (a restart cures it); with `until`: on every tick in the window, so
    /// restarts keep failing until the window ends or the restart budget runs out.
    Panic,
    /// The controller stops answering (a hang); once, or for every instance started
    /// in the window, as for `Panic`.
    Hang,
    /// Each controller cycle in the window takes `ms` longer, 0..=10000.
    Slow { ms: f64 },
    /// The service's process aborts (SIGABRT), once or in the window as for `Panic`.
    /// Under `isolation: Process` only that joint's service dies; under `Thread` the
    /// whole simulator dies with it, as a real abort in a thread does.
    Abort,
    /// The service's process crashes with a segmentation fault (SIGSEGV), once or in
    /// the window as for `Panic`; `Process` and `Thread` as for `Abort`.
    Crash,
    /// The service leaks `mb_per_s` MB of memory per second (0.1..=100000, touched, so
    /// really resident) in the window, until its process's heap limit ends it (only
    /// that service under `Process`; under `Thread` the simulator grows until the OS
    /// stops it).
    Leak { mb_per_s: f64 },
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
    /// The servo loses power: no torque (limp), no status, until the fault clears.
    PowerLoss,
    /// The joint jams against an obstacle where it is at onset: it cannot move
    /// (either way) until the fault clears, whatever its servo does.
    Jam,
    /// Serial link: each byte (both directions) is lost with probability `p`, 0..=1.
    LinkDrop { p: f64 },
    /// Serial link: each byte has one random bit flipped with probability `p`, 0..=1.
    LinkCorrupt { p: f64 },
    /// Serial link: every reply is delayed by `ms` plus a uniform 0..`jitter_ms`
    /// (each 0..=1000).
    LinkLatency { ms: f64, jitter_ms: f64 },
    /// Serial link: the cable is pulled; the port reports disconnected until the
    /// fault clears (replug).
    Unplug,
    /// Serial link: replies come back carrying ID `id` (checksum fixed up, so only the
    /// ID is wrong), 0..=252.
    WrongId { id: u8 },
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Panic => "panic",
            FaultKind::Hang => "hang",
            FaultKind::Slow { .. } => "slow",
            FaultKind::Abort => "abort",
            FaultKind::Crash => "crash",
            FaultKind::Leak { .. } => "leak",
            FaultKind::EncoderStuck => "encoder_stuck",
            FaultKind::EncoderNoise { .. } => "encoder_noise",
            FaultKind::EncoderOffset { .. } => "encoder_offset",
            FaultKind::TorqueSag { .. } => "torque_sag",
            FaultKind::ServoError { .. } => "servo_error",
            FaultKind::PowerLoss => "power_loss",
            FaultKind::Jam => "jam",
            FaultKind::LinkDrop { .. } => "link_drop",
            FaultKind::LinkCorrupt { .. } => "link_corrupt",
            FaultKind::LinkLatency { .. } => "link_latency",
            FaultKind::Unplug => "unplug",
            FaultKind::WrongId { .. } => "wrong_id",
        }
    }

    pub fn class(self) -> FaultClass {
        match self {
            FaultKind::Panic
            | FaultKind::Hang
            | FaultKind::Slow { .. }
            | FaultKind::Abort
            | FaultKind::Crash
            | FaultKind::Leak { .. } => FaultClass::Controller,
            FaultKind::EncoderStuck
            | FaultKind::EncoderNoise { .. }
            | FaultKind::EncoderOffset { .. } => FaultClass::Sensor,
            FaultKind::TorqueSag { .. }
            | FaultKind::ServoError { .. }
            | FaultKind::PowerLoss
            | FaultKind::Jam => FaultClass::Actuator,
            FaultKind::LinkDrop { .. }
            | FaultKind::LinkCorrupt { .. }
            | FaultKind::LinkLatency { .. }
            | FaultKind::Unplug
            | FaultKind::WrongId { .. } => FaultClass::Link,
        }
    }

    /// Controller faults act inside the joint's service.
    pub fn in_controller(self) -> bool {
        self.class() == FaultClass::Controller
    }

    /// One-line summary with its parameters, e.g. `slow(12 ms)`.
    pub fn describe(self) -> String {
        match self {
            FaultKind::Slow { ms } => format!("slow({ms} ms)"),
            FaultKind::Leak { mb_per_s } => format!("leak({mb_per_s} MB/s)"),
            FaultKind::EncoderNoise { sigma_rad } => format!("encoder_noise(σ {sigma_rad} rad)"),
            FaultKind::EncoderOffset { rad } => format!("encoder_offset({rad} rad)"),
            FaultKind::TorqueSag { factor } => format!("torque_sag(×{factor})"),
            FaultKind::ServoError { bit } => format!("servo_error({bit:?})"),
            FaultKind::LinkDrop { p } => format!("link_drop({p})"),
            FaultKind::LinkCorrupt { p } => format!("link_corrupt({p})"),
            FaultKind::LinkLatency { ms, jitter_ms } => {
                format!("link_latency({ms} ms ± {jitter_ms} ms)")
            }
            FaultKind::WrongId { id } => format!("wrong_id({id})"),
            k => k.name().to_string(),
        }
    }

    /// The CLI spelling, e.g. `slow(12)`, `servo_error(overheat)`.
    pub fn cli(self) -> String {
        match self {
            FaultKind::Slow { ms } => format!("slow({ms})"),
            FaultKind::Leak { mb_per_s } => format!("leak({mb_per_s})"),
            FaultKind::EncoderNoise { sigma_rad } => format!("encoder_noise({sigma_rad})"),
            FaultKind::EncoderOffset { rad } => format!("encoder_offset({rad})"),
            FaultKind::TorqueSag { factor } => format!("torque_sag({factor})"),
            FaultKind::ServoError { bit } => {
                format!("servo_error({})", format!("{bit:?}").to_lowercase())
            }
            FaultKind::LinkDrop { p } => format!("link_drop({p})"),
            FaultKind::LinkCorrupt { p } => format!("link_corrupt({p})"),
            FaultKind::LinkLatency { ms, jitter_ms } => format!("link_latency({ms},{jitter_ms})"),
            FaultKind::WrongId { id } => format!("wrong_id({id})"),
            k => k.name().to_string(),
        }
    }
}

/// One scheduled fault: `(at: 1.0, until: 1.5, joint: "elbow", kind: PowerLoss)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Onset, simulated seconds from the start, in [0, duration_s].
    pub at: f64,
    /// End of the fault, s, after `at`; none = until the end of the run (for `Panic`
    /// and `Hang`: a one-shot fault, see [`FaultKind::Panic`]).
    #[serde(default)]
    pub until: Option<f64>,
    /// Joint whose service, servo or link is hit.
    pub joint: String,
    pub kind: FaultKind,
}

impl FaultSpec {
    /// Whether the fault is active at simulated time `t`.
    pub fn active(&self, t: f64) -> bool {
        t + 1e-12 >= self.at && self.until.is_none_or(|u| t + 1e-12 < u)
    }

    /// A `Panic`/`Hang`/`Abort`/`Crash` without `until` strikes one controller
    /// instance only.
    pub fn one_shot(&self) -> bool {
        self.until.is_none()
            && matches!(
                self.kind,
                FaultKind::Panic | FaultKind::Hang | FaultKind::Abort | FaultKind::Crash
            )
    }

    /// The `--fault` argument that schedules this fault.
    pub fn cli(&self) -> String {
        let until = self.until.map(|u| format!("..{u}")).unwrap_or_default();
        format!("{}:{}@{}{until}", self.joint, self.kind.cli(), self.at)
    }

    /// Range checks; `push(field, message)` records each problem.
    pub fn validate(
        &self,
        f: &str,
        joints: &[&str],
        duration_s: f64,
        push: &mut dyn FnMut(String, String),
    ) {
        if let Some(m) = unknown_joint(&self.joint, joints) {
            push(format!("{f}.joint"), m);
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
            FaultKind::Leak { mb_per_s } => range("mb_per_s", mb_per_s, 0.1, 100_000.0, "MB/s"),
            FaultKind::EncoderNoise { sigma_rad } => range("sigma_rad", sigma_rad, 0.0, 1.0, "rad"),
            FaultKind::EncoderOffset { rad } => range("rad", rad, -1.0, 1.0, "rad"),
            FaultKind::TorqueSag { factor } => range("factor", factor, 0.0, 1.0, ""),
            FaultKind::LinkDrop { p } | FaultKind::LinkCorrupt { p } => range("p", p, 0.0, 1.0, ""),
            FaultKind::LinkLatency { ms, jitter_ms } => {
                range("ms", ms, 0.0, 1000.0, "ms");
                range("jitter_ms", jitter_ms, 0.0, 1000.0, "ms");
            }
            FaultKind::WrongId { id } => range("id", id as f64, 0.0, 252.0, ""),
            _ => {}
        }
    }
}

/// The error for a joint name that is not among `joints`, if it is not.
pub fn unknown_joint(name: &str, joints: &[&str]) -> Option<String> {
    (!joints.contains(&name)).then(|| {
        format!(
            "\"{name}\" is not an actuated joint (joints: {})",
            joints.join(", ")
        )
    })
}

/// The kinds `--fault` accepts, for error messages.
pub const CLI_KINDS: &str = "panic, hang, slow(ms), abort, crash, leak(MB/s), encoder_stuck, encoder_noise(σ rad), encoder_offset(rad), \
torque_sag(k), servo_error(overload|overheat|voltage), power_loss, link_drop(p), link_corrupt(p), \
link_latency(ms,jitter_ms), unplug, wrong_id(id)";

/// A fault written on the command line (or typed, or built by the GUI) that does not
/// parse: the text and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("--fault {input:?}: {why}; expected JOINT:KIND[(ARG)]@AT[..UNTIL]")]
pub struct FaultParseError {
    pub input: String,
    pub why: String,
}

/// Parses a CLI fault: `JOINT:KIND[(ARG[,ARG])]@AT[..UNTIL]`, e.g. `elbow:hang@2.0`,
/// `elbow:power_loss@2.0..3.5`, `wrist:encoder_noise(0.01)@1..2`,
/// `shoulder:servo_error(overheat)@3`, `wrist:link_latency(2,1)@1..2`.
pub fn parse_cli_fault(s: &str) -> Result<FaultSpec, FaultParseError> {
    let bad = |why: &str| FaultParseError {
        input: s.to_string(),
        why: why.to_string(),
    };
    let (joint, rest) = s
        .split_once(':')
        .ok_or_else(|| bad("no `:` after the joint"))?;
    if joint.is_empty() {
        return Err(bad("empty joint name"));
    }
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
    let args: Vec<&str> = arg
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let num = |k: usize, what: &str| -> Result<f64, FaultParseError> {
        args.get(k)
            .ok_or_else(|| bad(&format!("{name} needs ({what})")))?
            .parse()
            .map_err(|_| bad(&format!("{what} is not a number")))
    };
    let kind = match name {
        "panic" => FaultKind::Panic,
        "hang" => FaultKind::Hang,
        "slow" => FaultKind::Slow { ms: num(0, "ms")? },
        "abort" => FaultKind::Abort,
        "crash" => FaultKind::Crash,
        "leak" => FaultKind::Leak {
            mb_per_s: num(0, "MB/s")?,
        },
        "encoder_stuck" => FaultKind::EncoderStuck,
        "encoder_noise" => FaultKind::EncoderNoise {
            sigma_rad: num(0, "sigma_rad")?,
        },
        "encoder_offset" => FaultKind::EncoderOffset {
            rad: num(0, "rad")?,
        },
        "torque_sag" => FaultKind::TorqueSag {
            factor: num(0, "factor")?,
        },
        "power_loss" => FaultKind::PowerLoss,
        "jam" => FaultKind::Jam,
        "servo_error" => FaultKind::ServoError {
            bit: match args.first().copied() {
                Some("overload") => ServoErrorBit::Overload,
                Some("overheat") => ServoErrorBit::Overheat,
                Some("voltage") => ServoErrorBit::Voltage,
                _ => return Err(bad("servo_error needs (overload|overheat|voltage)")),
            },
        },
        "link_drop" => FaultKind::LinkDrop { p: num(0, "p")? },
        "link_corrupt" => FaultKind::LinkCorrupt { p: num(0, "p")? },
        "link_latency" => FaultKind::LinkLatency {
            ms: num(0, "ms")?,
            jitter_ms: if args.len() > 1 {
                num(1, "jitter_ms")?
            } else {
                0.0
            },
        },
        "unplug" => FaultKind::Unplug,
        "wrong_id" => {
            let id = num(0, "id")?;
            if !(0.0..=252.0).contains(&id) || id.fract() != 0.0 {
                return Err(bad(&format!(
                    "wrong_id({id}): id must be an integer in 0 ..= 252"
                )));
            }
            FaultKind::WrongId { id: id as u8 }
        }
        other => return Err(bad(&format!("unknown kind {other:?} ({CLI_KINDS})"))),
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
        let f = parse_cli_fault("w:link_latency(2, 1.5)@1..2").expect("latency");
        assert_eq!(
            f.kind,
            FaultKind::LinkLatency {
                ms: 2.0,
                jitter_ms: 1.5
            }
        );
        for bad in [
            "elbow@1",
            "elbow:hang",
            "elbow:melt@1",
            "elbow:slow@1",
            "elbow:slow(x)@1",
            "e:hang@x",
            ":hang@1",
            "e:wrong_id(300)@1",
            "e:wrong_id(1.5)@1",
        ] {
            assert!(parse_cli_fault(bad).is_err(), "{bad}");
        }
    }

    /// Every kind's CLI spelling parses back to the same fault.
    #[test]
    fn cli_spelling_round_trips() {
        let kinds = [
            FaultKind::Panic,
            FaultKind::Hang,
            FaultKind::Slow { ms: 12.5 },
            FaultKind::EncoderStuck,
            FaultKind::EncoderNoise { sigma_rad: 0.02 },
            FaultKind::EncoderOffset { rad: -0.1 },
            FaultKind::TorqueSag { factor: 0.3 },
            FaultKind::ServoError {
                bit: ServoErrorBit::Voltage,
            },
            FaultKind::PowerLoss,
            FaultKind::Jam,
            FaultKind::LinkDrop { p: 0.1 },
            FaultKind::LinkCorrupt { p: 0.05 },
            FaultKind::LinkLatency {
                ms: 3.0,
                jitter_ms: 1.0,
            },
            FaultKind::Unplug,
            FaultKind::WrongId { id: 7 },
        ];
        for kind in kinds {
            let f = FaultSpec {
                at: 1.25,
                until: Some(2.5),
                joint: "elbow".into(),
                kind,
            };
            assert_eq!(parse_cli_fault(&f.cli()).as_ref(), Ok(&f), "{}", f.cli());
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
