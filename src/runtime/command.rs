//! The run's control channel: the one way to change a running simulation. The CLI
//! sends on it (scheduled `--swap`, `--fault`, commands typed on stdin) and the GUI
//! sends the very same messages from its buttons.

use crate::control::Gains;
use crate::runtime::service::ServiceMsg;
use crate::scene::{BackendSpec, BusProtocol};

/// Pacing of a lockstep run (what the GUI's play/pause/step/speed buttons send). A
/// real-time run keeps the wall clock's pace and refuses these (an event says so).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    Pause,
    Resume,
    /// Pause (if running), then advance this many physics steps.
    Step(u32),
    /// Simulated seconds per wall-clock second, in [`SPEED_RANGE`]; `None`: as fast as
    /// the machine allows.
    Speed(Option<f64>),
}

/// Speeds a paced run accepts.
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.1..=10.0;

/// A command to a running simulation.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlCommand {
    /// Move a joint to another backend (sim → serial or serial → sim), bumplessly.
    Swap { joint: String, backend: BackendSpec },
    /// Inject a fault of any kind now (its `at`/`until` are taken relative to the
    /// moment it arrives when `at` has already passed). Controller faults are
    /// forwarded to the joint's service as a message.
    Fault(crate::faults::FaultSpec),
    /// Latch the e-stop: every joint holds until `Reset`.
    EStop,
    /// Release the e-stop.
    Reset,
    /// Clear a latched FAULTED joint: it restarts with a fresh restart budget.
    ResetJoint(String),
    /// Change a joint's controller gains live (its service gets them as a message;
    /// a restarted service starts with them).
    Gains { joint: String, gains: Gains },
    /// Pause, resume, single-step or change the speed of a lockstep run.
    Pace(Pace),
}

/// Applies one command to the plant and its supervisor (bus changes follow in the
/// real-time executor).
/// Returns a message the executor must forward to joint `.0`'s service (and remember
/// for its restarts). Executors handle [`ControlCommand::Pace`] themselves before
/// calling this; here it is refused (real time keeps the wall clock's pace).
pub(crate) fn apply(
    plant: &mut crate::runtime::plant::Plant,
    sup: &mut crate::runtime::supervisor::Supervisor,
    c: ControlCommand,
) -> Option<(usize, ServiceMsg)> {
    let find = |plant: &mut crate::runtime::plant::Plant, joint: &str, what: &str| {
        let i = plant.joints().iter().position(|j| j.name() == joint);
        if i.is_none() {
            plant.event(
                usize::MAX,
                &format!("{what}_refused"),
                super::refusal::Refusal::NoSuchJoint(joint.to_string()).to_string(),
            );
        }
        i
    };
    match c {
        ControlCommand::Fault(spec) => match plant.inject(spec) {
            Ok((i, f)) if f.kind.in_controller() => return Some((i, ServiceMsg::Fault(f))),
            Ok(_) => {}
            Err(e) => plant.event(usize::MAX, "fault_refused", e.to_string()),
        },
        ControlCommand::Swap { joint, backend } => {
            let i = find(plant, &joint, "swap")?;
            if let Err(e) = sup.swap(plant, i, &backend) {
                plant.event(i, "swap_refused", e.to_string());
            }
        }
        ControlCommand::EStop => sup.latch_estop(plant, "operator e-stop".into()),
        ControlCommand::Reset => {
            if let Err(e) = sup.reset_estop(plant) {
                plant.event(usize::MAX, "reset_refused", e.to_string());
            }
        }
        ControlCommand::ResetJoint(joint) => {
            let i = find(plant, &joint, "reset")?;
            if let Err(e) = sup.reset_joint(plant, i) {
                plant.event(i, "reset_refused", e.to_string());
            }
        }
        ControlCommand::Gains { joint, gains } => {
            let i = find(plant, &joint, "gains")?;
            if let Err(e) = gains.validate() {
                plant.event(i, "gains_refused", e.to_string());
                return None;
            }
            plant.event(
                i,
                "gains",
                format!("kp {} ki {} kd {}", gains.kp, gains.ki, gains.kd),
            );
            return Some((i, ServiceMsg::Gains(gains)));
        }
        ControlCommand::Pace(p) => plant.event(
            usize::MAX,
            "pace_refused",
            format!("{p:?}: a real-time run keeps the wall clock's pace"),
        ),
    }
    None
}

/// Commands waiting: they come at human rate, a handful at most.
pub const CAPACITY: usize = 16;

/// A command, backend or scheduled swap that does not parse: what was written and
/// what is wrong with it (the message names both).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("{0:?}: expected `sim` or `serial:PORT:sts|dxl:ID[:BAUD]`")]
    NotABackend(String),
    #[error("{0:?}: expected `serial:PORT:sts|dxl:ID[:BAUD]`")]
    SerialShape(String),
    #[error("{input:?}: protocol {protocol:?} is not sts or dxl")]
    Protocol { input: String, protocol: String },
    #[error("{input:?}: port {why}")]
    Port { input: String, why: String },
    #[error("{input:?}: ID {id:?} is not in 0 ..= 252")]
    Id { input: String, id: String },
    #[error("{input:?}: baud {baud:?} is not in 9600 ..= 10500000")]
    Baud { input: String, baud: String },
    #[error("{0:?}: empty port")]
    EmptyPort(String),
    #[error("--swap {0:?}: expected JOINT=BACKEND@SECONDS")]
    SwapShape(String),
    #[error("--swap {input:?}: time {time:?} is not a number of seconds >= 0")]
    SwapTime { input: String, time: String },
    #[error("--swap {0}")]
    SwapBackend(Box<CommandError>),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultParseError),
    #[error("{line:?}: {name} {value:?} is not a number")]
    NotANumber {
        line: String,
        name: &'static str,
        value: String,
    },
    #[error("{line:?}: {source}")]
    Gains {
        line: String,
        source: crate::control::GainsError,
    },
    #[error("{line:?}: steps {steps:?} is not in 1 ..= 1000000")]
    Steps { line: String, steps: String },
    #[error(
        "{line:?}: speed {speed:?} is not in {} ..= {} (or `max`)",
        SPEED_RANGE.start(),
        SPEED_RANGE.end()
    )]
    Speed { line: String, speed: String },
    #[error(
        "{0:?}: expected `swap JOINT sim|serial:PORT:sts|dxl:ID[:BAUD]`, `fault JOINT:KIND[(ARG)]@AT[..UNTIL]`, `estop`, `reset`, `reset JOINT`, `gains JOINT KP KI KD`, `pause`, `resume`, `step [N]` or `speed X|max`"
    )]
    Unknown(String),
}

/// Parses a backend: `sim`, or `serial:PORT:sts|dxl:ID[:BAUD]` (BAUD defaults to
/// 1000000 for sts, 57600 for dxl). PORT may be `virtual:NAME`, an emulated bus.
pub fn parse_backend(s: &str) -> Result<BackendSpec, CommandError> {
    if s == "sim" {
        return Ok(BackendSpec::Sim);
    }
    let rest = s
        .strip_prefix("serial:")
        .ok_or_else(|| CommandError::NotABackend(s.to_string()))?;
    let mut parts: Vec<&str> = rest.split(':').collect();
    // `virtual:NAME` is one port (an emulated bus in this process), and so are
    // `tcp://HOST:PORT` and `rfc2217://HOST:PORT` (a serial server).
    if parts.len() > 1 && parts[0] == "virtual" {
        let name = parts.remove(1);
        parts[0] = &rest[.."virtual:".len() + name.len()];
    } else if parts.len() > 2 && matches!(parts[0], "tcp" | "rfc2217") && parts[1].starts_with("//")
    {
        let len = parts[0].len() + parts[1].len() + parts[2].len() + 2;
        parts.drain(1..3);
        parts[0] = &rest[..len];
    }
    let (port, proto, id, baud) = match parts.as_slice() {
        [p, pr, id] => (*p, *pr, *id, None),
        [p, pr, id, b] => (*p, *pr, *id, Some(*b)),
        _ => return Err(CommandError::SerialShape(s.to_string())),
    };
    if let Err(why) = crate::hardware::spec::parse(port) {
        return Err(CommandError::Port {
            input: s.to_string(),
            why,
        });
    }
    let protocol = match proto {
        "sts" => BusProtocol::Sts,
        "dxl" => BusProtocol::Dxl,
        other => {
            return Err(CommandError::Protocol {
                input: s.to_string(),
                protocol: other.to_string(),
            });
        }
    };
    let id: u8 = id
        .parse()
        .ok()
        .filter(|v| *v <= 252)
        .ok_or_else(|| CommandError::Id {
            input: s.to_string(),
            id: id.to_string(),
        })?;
    let baud: u32 = match baud {
        None => {
            if protocol == BusProtocol::Sts {
                1_000_000
            } else {
                57_600
            }
        }
        Some(b) => b
            .parse()
            .ok()
            .filter(|v| (9_600..=10_500_000).contains(v))
            .ok_or_else(|| CommandError::Baud {
                input: s.to_string(),
                baud: b.to_string(),
            })?,
    };
    if port.is_empty() {
        return Err(CommandError::EmptyPort(s.to_string()));
    }
    Ok(BackendSpec::Serial {
        port: port.to_string(),
        protocol,
        id,
        baud,
        zero_tick: 2048,
    })
}

/// Parses `JOINT=BACKEND@T` (a scheduled swap at simulated time T seconds).
pub fn parse_scheduled_swap(s: &str) -> Result<(f64, ControlCommand), CommandError> {
    let (lhs, t) = s
        .rsplit_once('@')
        .ok_or_else(|| CommandError::SwapShape(s.to_string()))?;
    let (joint, backend) = lhs
        .split_once('=')
        .ok_or_else(|| CommandError::SwapShape(s.to_string()))?;
    let t: f64 = t
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| CommandError::SwapTime {
            input: s.to_string(),
            time: t.to_string(),
        })?;
    Ok((
        t,
        ControlCommand::Swap {
            joint: joint.to_string(),
            backend: parse_backend(backend).map_err(|e| CommandError::SwapBackend(Box::new(e)))?,
        },
    ))
}

/// Parses a command typed on stdin: `swap JOINT BACKEND`.
pub fn parse_command(line: &str) -> Result<ControlCommand, CommandError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["swap", joint, backend] => Ok(ControlCommand::Swap {
            joint: joint.to_string(),
            backend: parse_backend(backend)?,
        }),
        ["fault", spec] => Ok(ControlCommand::Fault(crate::faults::parse_cli_fault(spec)?)),
        ["estop"] => Ok(ControlCommand::EStop),
        ["reset"] => Ok(ControlCommand::Reset),
        ["reset", joint] => Ok(ControlCommand::ResetJoint(joint.to_string())),
        ["gains", joint, kp, ki, kd] => {
            let num = |name: &'static str, v: &str| {
                v.parse::<f64>().map_err(|_| CommandError::NotANumber {
                    line: line.to_string(),
                    name,
                    value: v.to_string(),
                })
            };
            let gains = Gains {
                kp: num("kp", kp)?,
                ki: num("ki", ki)?,
                kd: num("kd", kd)?,
            };
            gains.validate().map_err(|source| CommandError::Gains {
                line: line.to_string(),
                source,
            })?;
            Ok(ControlCommand::Gains {
                joint: joint.to_string(),
                gains,
            })
        }
        ["pause"] => Ok(ControlCommand::Pace(Pace::Pause)),
        ["resume"] | ["play"] => Ok(ControlCommand::Pace(Pace::Resume)),
        ["step"] => Ok(ControlCommand::Pace(Pace::Step(1))),
        ["step", n] => n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .map(|n| ControlCommand::Pace(Pace::Step(n)))
            .ok_or_else(|| CommandError::Steps {
                line: line.to_string(),
                steps: n.to_string(),
            }),
        ["speed", "max"] => Ok(ControlCommand::Pace(Pace::Speed(None))),
        ["speed", x] => x
            .trim_end_matches('x')
            .parse::<f64>()
            .ok()
            .filter(|x| SPEED_RANGE.contains(x))
            .map(|x| ControlCommand::Pace(Pace::Speed(Some(x))))
            .ok_or_else(|| CommandError::Speed {
                line: line.to_string(),
                speed: x.to_string(),
            }),
        _ => Err(CommandError::Unknown(line.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backends_and_swaps() {
        assert_eq!(parse_backend("sim"), Ok(BackendSpec::Sim));
        assert_eq!(
            parse_backend("serial:/dev/ttyUSB0:sts:3"),
            Ok(BackendSpec::Serial {
                port: "/dev/ttyUSB0".into(),
                protocol: BusProtocol::Sts,
                id: 3,
                baud: 1_000_000,
                zero_tick: 2048
            })
        );
        let (t, c) =
            parse_scheduled_swap("elbow=serial:/dev/ttyUSB0:dxl:7:4000000@2.5").expect("parse");
        assert_eq!(t, 2.5);
        assert!(
            matches!(c, ControlCommand::Swap { ref joint, backend: BackendSpec::Serial { baud: 4_000_000, id: 7, .. } } if joint == "elbow")
        );
        assert!(matches!(
            parse_backend("serial:virtual:bus0:sts:2"),
            Ok(BackendSpec::Serial { ref port, id: 2, .. }) if port == "virtual:bus0"
        ));
        assert_eq!(
            parse_backend("serial:/dev/x:foo:1"),
            Err(CommandError::Protocol {
                input: "serial:/dev/x:foo:1".into(),
                protocol: "foo".into()
            })
        );
        let e = parse_backend("serial:/dev/x:sts:300").expect_err("id out of range");
        assert_eq!(
            e.to_string(),
            r#""serial:/dev/x:sts:300": ID "300" is not in 0 ..= 252"#
        );
        // A scheduled swap's error names the option and keeps the backend's reason.
        let e = parse_scheduled_swap("elbow=serial:/dev/x:sts:300@1").expect_err("bad id");
        assert!(
            matches!(e, CommandError::SwapBackend(ref b) if matches!(**b, CommandError::Id { .. }))
        );
        assert!(
            e.to_string()
                .starts_with("--swap \"serial:/dev/x:sts:300\": ID"),
            "{e}"
        );
        assert!(parse_scheduled_swap("elbow=sim").is_err());
        assert!(parse_command("swap elbow sim").is_ok());
        assert!(parse_command("swop elbow sim").is_err());
        assert_eq!(
            parse_command("speed 2.5"),
            Ok(ControlCommand::Pace(Pace::Speed(Some(2.5))))
        );
        assert!(parse_command("speed 20").is_err());
        assert!(parse_command("speed 0.01").is_err());
        assert_eq!(
            parse_command("step 10"),
            Ok(ControlCommand::Pace(Pace::Step(10)))
        );
        assert!(parse_command("step 0").is_err());
        assert!(matches!(
            parse_command("gains elbow 10 0.5 0.1"),
            Ok(ControlCommand::Gains { ref joint, gains }) if joint == "elbow" && gains.kp == 10.0
        ));
        assert!(matches!(
            parse_command("gains elbow -1 0 0"),
            Err(CommandError::Gains { ref source, .. }) if source.problems[0].0 == "kp"
        ));
        assert!(parse_command("gains elbow x 0 0").is_err());
    }

    #[test]
    fn a_serial_server_is_one_port() {
        assert!(matches!(
            parse_backend("serial:tcp://10.0.0.5:4000:sts:3:500000"),
            Ok(BackendSpec::Serial { ref port, id: 3, baud: 500_000, .. }) if port == "tcp://10.0.0.5:4000"
        ));
        assert!(matches!(
            parse_backend("serial:rfc2217://bench:4001:dxl:7"),
            Ok(BackendSpec::Serial { ref port, id: 7, baud: 57_600, .. }) if port == "rfc2217://bench:4001"
        ));
    }
}
