//! The parameters a client sees and sets (Foxglove's *Parameters* panel): each PID
//! joint's gains (`JOINT.kp`, `JOINT.ki`, `JOINT.kd`) and the lockstep pace (`speed`,
//! `paused`; lockstep only: a real-time run keeps the wall clock's pace, and says so
//! to a client that tries). Setting one sends its command on the run's control
//! channel (all of a request's or none); gains changed by anyone (the GUI, stdin,
//! another client) come back through the run's `gains` events, so what clients read
//! stays true.

use foxglove::websocket::{
    AnyClient, GetParametersResponder, Parameter, ParameterHandler, ParameterValue,
    SetParametersResponder,
};

use super::steer::Steer;
use crate::control::Gains;
use crate::runtime::command::{ControlCommand, Pace, SPEED_RANGE};

/// What the run is steered to, as far as the server knows: the parameters' values.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Steered {
    /// (joint, its gains; `None`: not a PID).
    pub gains: Vec<(String, Option<Gains>)>,
    /// Simulated s per wall s; `None`: as fast as the machine allows.
    pub speed: Option<f64>,
    pub paused: bool,
    /// A real-time run keeps the wall clock's pace: no `speed` or `paused` then.
    pub realtime: bool,
}

impl Steered {
    /// Every parameter, or those named (all when `names` is empty).
    pub(super) fn parameters(&self, names: &[String]) -> Vec<Parameter> {
        let mut all = Vec::new();
        if !self.realtime {
            all.push(Parameter::float64("speed", self.speed.unwrap_or(0.0)));
            all.push(Parameter::bool("paused", self.paused));
        }
        for (j, g) in &self.gains {
            if let Some(g) = g {
                for (k, v) in [("kp", g.kp), ("ki", g.ki), ("kd", g.kd)] {
                    all.push(Parameter::float64(format!("{j}.{k}"), v));
                }
            }
        }
        if !names.is_empty() {
            all.retain(|p| names.contains(&p.name));
        }
        all
    }

    /// The command that sets parameter `p`, or why not.
    pub(super) fn command(&self, p: &Parameter) -> Result<ControlCommand, String> {
        let number = || match &p.value {
            Some(ParameterValue::Float64(x)) => Ok(*x),
            Some(ParameterValue::Integer(x)) => Ok(*x as f64),
            _ => Err(format!("{}: expected a number", p.name)),
        };
        match p.name.as_str() {
            "speed" | "paused" if self.realtime => Err(format!(
                "{}: a real-time run keeps the wall clock's pace",
                p.name
            )),
            "speed" => {
                let x = number()?;
                if x == 0.0 {
                    return Ok(ControlCommand::Pace(Pace::Speed(None)));
                }
                if !SPEED_RANGE.contains(&x) {
                    return Err(format!(
                        "speed {x} is not in {} ..= {} (0: as fast as possible)",
                        SPEED_RANGE.start(),
                        SPEED_RANGE.end()
                    ));
                }
                Ok(ControlCommand::Pace(Pace::Speed(Some(x))))
            }
            "paused" => match p.value {
                Some(ParameterValue::Bool(true)) => Ok(ControlCommand::Pace(Pace::Pause)),
                Some(ParameterValue::Bool(false)) => Ok(ControlCommand::Pace(Pace::Resume)),
                _ => Err("paused: expected true or false".into()),
            },
            name => {
                let (joint, k) = name
                    .rsplit_once('.')
                    .ok_or_else(|| format!("{name}: no such parameter"))?;
                let Some((_, Some(g))) = self.gains.iter().find(|(j, _)| j == joint) else {
                    return Err(format!(
                        "{name}: no such parameter (no PID joint named {joint:?})"
                    ));
                };
                let mut gains = *g;
                let x = number()?;
                match k {
                    "kp" => gains.kp = x,
                    "ki" => gains.ki = x,
                    "kd" => gains.kd = x,
                    _ => return Err(format!("{name}: expected {joint}.kp, .ki or .kd")),
                }
                gains
                    .validate()
                    .map_err(|e| format!("{name}: {e}"))
                    .map(|()| ControlCommand::Gains {
                        joint: joint.to_string(),
                        gains,
                    })
            }
        }
    }

    /// Takes in what a command the run accepted changes (the server sent it).
    pub(super) fn took(&mut self, c: &ControlCommand) {
        match c {
            ControlCommand::Gains { joint, gains } => {
                if let Some((_, g)) = self.gains.iter_mut().find(|(j, _)| j == joint) {
                    *g = Some(*gains);
                }
            }
            ControlCommand::Pace(Pace::Speed(s)) => self.speed = *s,
            ControlCommand::Pace(Pace::Pause | Pace::Step(_)) => self.paused = true,
            ControlCommand::Pace(Pace::Resume) => self.paused = false,
            _ => {}
        }
    }
}

impl ParameterHandler for Steer {
    fn get(
        &self,
        _client: AnyClient,
        names: Vec<String>,
        _request_id: Option<String>,
        responder: GetParametersResponder,
    ) {
        responder.respond(self.values(&names));
    }

    fn set(
        &self,
        client: AnyClient,
        parameters: Vec<Parameter>,
        _request_id: Option<String>,
        responder: SetParametersResponder,
    ) {
        // Every parameter is checked before any is sent: all or none.
        let current = self.steered.lock().map(|s| s.clone());
        let commands: Result<Vec<ControlCommand>, String> = match &current {
            Ok(s) => parameters.iter().map(|p| s.command(p)).collect(),
            Err(_) => Err("the server's state is unavailable".into()),
        };
        let result = commands.and_then(|cs| cs.into_iter().try_for_each(|c| self.send(c)));
        if let Err(why) = result {
            self.refused();
            client.send_error(format!("parameters refused: {why}"));
        }
        let names: Vec<String> = parameters.into_iter().map(|p| p.name).collect();
        responder.respond(self.values(&names));
    }
}

/// Gains events the run logs (`kp X ki Y kd Z`, from any client, the GUI or stdin)
/// keep the parameters true: (joint, gains).
pub(super) fn gains_from_event(e: &crate::report::Event) -> Option<(String, Gains)> {
    if e.kind != "gains" {
        return None;
    }
    let w: Vec<&str> = e.detail.split_whitespace().collect();
    match w.as_slice() {
        ["kp", kp, "ki", ki, "kd", kd] => Some((
            e.joint.clone(),
            Gains {
                kp: kp.parse().ok()?,
                ki: ki.parse().ok()?,
                kd: kd.parse().ok()?,
            },
        )),
        _ => None,
    }
}

impl Steer {
    /// Takes in a gains change the run logged; the changed parameters, if any.
    pub(super) fn observe(&self, e: &crate::report::Event) -> Vec<Parameter> {
        let Some((joint, gains)) = gains_from_event(e) else {
            return Vec::new();
        };
        let Ok(mut s) = self.steered.lock() else {
            return Vec::new();
        };
        s.took(&ControlCommand::Gains {
            joint: joint.clone(),
            gains,
        });
        s.parameters(&[
            format!("{joint}.kp"),
            format!("{joint}.ki"),
            format!("{joint}.kd"),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn as_map(ps: &[Parameter]) -> BTreeMap<String, Option<ParameterValue>> {
        ps.iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect()
    }

    fn steered() -> Steered {
        Steered {
            gains: vec![
                (
                    "elbow".into(),
                    Some(Gains {
                        kp: 40.0,
                        ki: 0.0,
                        kd: 2.0,
                    }),
                ),
                ("wrist".into(), None),
            ],
            speed: Some(1.0),
            paused: false,
            realtime: false,
        }
    }

    #[test]
    fn a_real_time_run_has_no_pace_to_set() {
        let s = Steered {
            realtime: true,
            speed: None,
            ..steered()
        };
        let m = as_map(&s.parameters(&[]));
        assert!(
            !m.contains_key("speed") && !m.contains_key("paused"),
            "{m:?}"
        );
        for p in [
            Parameter::float64("speed", 2.0),
            Parameter::bool("paused", true),
        ] {
            let e = s.command(&p).expect_err(&p.name);
            assert!(e.contains("keeps the wall clock's pace"), "{e}");
        }
    }

    #[test]
    fn parameters_are_the_pace_and_each_pid_joints_gains() {
        let m = as_map(&steered().parameters(&[]));
        let names: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["elbow.kd", "elbow.ki", "elbow.kp", "paused", "speed"]
        );
        assert_eq!(m["elbow.kp"], Some(ParameterValue::Float64(40.0)));
        assert_eq!(as_map(&steered().parameters(&["speed".into()])).len(), 1);
    }

    #[test]
    fn setting_a_gain_sends_all_three_and_bad_values_are_refused_with_the_name() {
        let s = steered();
        assert_eq!(
            s.command(&Parameter::float64("elbow.kp", 55.0)),
            Ok(ControlCommand::Gains {
                joint: "elbow".into(),
                gains: Gains {
                    kp: 55.0,
                    ki: 0.0,
                    kd: 2.0
                }
            })
        );
        assert_eq!(
            s.command(&Parameter::integer("speed", 2)),
            Ok(ControlCommand::Pace(Pace::Speed(Some(2.0))))
        );
        assert_eq!(
            s.command(&Parameter::bool("paused", true)),
            Ok(ControlCommand::Pace(Pace::Pause))
        );
        for (p, why) in [
            (Parameter::float64("speed", 50.0), "speed 50"),
            (Parameter::float64("wrist.kp", 1.0), "no PID joint"),
            (Parameter::float64("elbow.kx", 1.0), "elbow.kx"),
            (Parameter::string("elbow.kp", "high"), "expected a number"),
            (Parameter::float64("elbow.kp", -1.0), "elbow.kp"),
            (Parameter::float64("nonsense", 1.0), "no such parameter"),
        ] {
            let e = s.command(&p).expect_err(&p.name);
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn a_gains_event_updates_the_parameters() {
        let e = crate::report::Event {
            t: 1.0,
            joint: "elbow".into(),
            kind: "gains".into(),
            detail: "kp 12 ki 0.5 kd 1".into(),
            state: None,
            latency_s: None,
        };
        assert_eq!(
            gains_from_event(&e),
            Some((
                "elbow".into(),
                Gains {
                    kp: 12.0,
                    ki: 0.5,
                    kd: 1.0
                }
            ))
        );
        let mut s = steered();
        let (joint, gains) = gains_from_event(&e).expect("gains");
        s.took(&ControlCommand::Gains { joint, gains });
        assert_eq!(s.gains[0].1.map(|g| g.kp), Some(12.0));
    }
}
