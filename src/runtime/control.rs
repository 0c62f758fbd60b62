//! The run's control channel: the one way to change a running simulation. The CLI
//! sends on it now (scheduled `--swap` and commands typed on stdin); the GUI will send
//! the same messages.

use crate::scene::{BackendSpec, BusProtocol};

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
}

/// Applies one command to the plant (bus changes follow in the real-time executor).
/// Returns a controller fault the executor must forward to joint `.0`'s service.
pub(crate) fn apply(
    plant: &mut crate::runtime::plant::Plant,
    c: ControlCommand,
) -> Option<(usize, crate::faults::FaultSpec)> {
    let find = |plant: &mut crate::runtime::plant::Plant, joint: &str, what: &str| {
        let i = plant.joints.iter().position(|j| j.name == joint);
        if i.is_none() {
            plant.event(
                usize::MAX,
                &format!("{what}_refused"),
                format!("no joint named '{joint}'"),
            );
        }
        i
    };
    match c {
        ControlCommand::Fault(spec) => match plant.inject(spec) {
            Ok((i, f)) if f.kind.in_controller() => return Some((i, f)),
            Ok(_) => {}
            Err(e) => plant.event(usize::MAX, "fault_refused", e),
        },
        ControlCommand::Swap { joint, backend } => {
            let i = find(plant, &joint, "swap")?;
            if let Err(e) = plant.swap(i, &backend) {
                plant.event(i, "swap_refused", e);
            }
        }
        ControlCommand::EStop => plant.latch_estop("operator e-stop".into()),
        ControlCommand::Reset => {
            if let Err(e) = plant.reset_estop() {
                plant.event(usize::MAX, "reset_refused", e);
            }
        }
        ControlCommand::ResetJoint(joint) => {
            let i = find(plant, &joint, "reset")?;
            if let Err(e) = plant.reset_joint(i) {
                plant.event(i, "reset_refused", e);
            }
        }
    }
    None
}

/// Commands waiting: they come at human rate, a handful at most.
pub const CAPACITY: usize = 16;

/// Parses a backend: `sim`, or `serial:PORT:sts|dxl:ID[:BAUD]` (BAUD defaults to
/// 1000000 for sts, 57600 for dxl). PORT may be `virtual:NAME`, an emulated bus.
pub fn parse_backend(s: &str) -> Result<BackendSpec, String> {
    if s == "sim" {
        return Ok(BackendSpec::Sim);
    }
    let rest = s
        .strip_prefix("serial:")
        .ok_or_else(|| format!("{s:?}: expected `sim` or `serial:PORT:sts|dxl:ID[:BAUD]`"))?;
    let mut parts: Vec<&str> = rest.split(':').collect();
    // `virtual:NAME` is one port (an emulated bus in this process).
    if parts.len() > 1 && parts[0] == "virtual" {
        let name = parts.remove(1);
        parts[0] = &rest[.."virtual:".len() + name.len()];
    }
    let (port, proto, id, baud) = match parts.as_slice() {
        [p, pr, id] => (*p, *pr, *id, None),
        [p, pr, id, b] => (*p, *pr, *id, Some(*b)),
        _ => return Err(format!("{s:?}: expected `serial:PORT:sts|dxl:ID[:BAUD]`")),
    };
    let protocol = match proto {
        "sts" => BusProtocol::Sts,
        "dxl" => BusProtocol::Dxl,
        other => return Err(format!("{s:?}: protocol {other:?} is not sts or dxl")),
    };
    let id: u8 = id
        .parse()
        .ok()
        .filter(|v| *v <= 252)
        .ok_or_else(|| format!("{s:?}: ID {id:?} is not in 0 ..= 252"))?;
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
            .ok_or_else(|| format!("{s:?}: baud {b:?} is not in 9600 ..= 10500000"))?,
    };
    if port.is_empty() {
        return Err(format!("{s:?}: empty port"));
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
pub fn parse_scheduled_swap(s: &str) -> Result<(f64, ControlCommand), String> {
    let (lhs, t) = s
        .rsplit_once('@')
        .ok_or_else(|| format!("--swap {s:?}: expected JOINT=BACKEND@SECONDS"))?;
    let (joint, backend) = lhs
        .split_once('=')
        .ok_or_else(|| format!("--swap {s:?}: expected JOINT=BACKEND@SECONDS"))?;
    let t: f64 = t
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("--swap {s:?}: time {t:?} is not a number of seconds >= 0"))?;
    Ok((
        t,
        ControlCommand::Swap {
            joint: joint.to_string(),
            backend: parse_backend(backend).map_err(|e| format!("--swap {e}"))?,
        },
    ))
}

/// Parses a command typed on stdin: `swap JOINT BACKEND`.
pub fn parse_command(line: &str) -> Result<ControlCommand, String> {
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
        _ => Err(format!(
            "{line:?}: expected `swap JOINT sim|serial:PORT:sts|dxl:ID[:BAUD]`, `fault JOINT:KIND[(ARG)]@AT[..UNTIL]`, `estop`, `reset` or `reset JOINT`"
        )),
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
        assert!(parse_backend("serial:/dev/x:foo:1").is_err());
        assert!(parse_backend("serial:/dev/x:sts:300").is_err());
        assert!(parse_scheduled_swap("elbow=sim").is_err());
        assert!(parse_command("swap elbow sim").is_ok());
        assert!(parse_command("swop elbow sim").is_err());
    }
}
