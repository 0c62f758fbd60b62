//! Steering a run from Foxglove: what clients publish and the parameters they set
//! become commands on the run's one control channel, the very commands the GUI's
//! buttons and the CLI's stdin send. A client publishes command lines (`estop`,
//! `reset`, `fault wrist:hang@1`, `swap elbow sim`, `gains elbow 40 0 2`, `pause`,
//! `step 10`, `speed 2`, ...) on any topic it advertises, as a JSON string, as
//! `{"command": "..."}`, or as plain text; parameters are each PID joint's gains
//! (`JOINT.kp`, `JOINT.ki`, `JOINT.kd`) and the lockstep pace (`speed`, `paused`);
//! services `/armhil/command` (`{"command": "..."}`), `/armhil/estop` and
//! `/armhil/reset` (no arguments) answer whether the command was taken.
//! Anything malformed or unknown, and a command the channel has no room for, is
//! refused with a reason sent back to that client alone; nothing is applied half.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam::channel::{Sender, TrySendError};
use foxglove::websocket::{
    AnyClient, ChannelView, Client, ClientChannel, GetParametersResponder, Parameter,
    ParameterHandler, ParameterValue, ServerListener, SetParametersResponder, Status,
};

use super::shapes;
use crate::control::Gains;
use crate::runtime::command::{ControlCommand, Pace, SPEED_RANGE, parse_command};

/// What the run is steered to, as far as the server knows: the parameters' values.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Steered {
    /// (joint, its gains; `None`: not a PID).
    pub gains: Vec<(String, Option<Gains>)>,
    /// Simulated s per wall s; `None`: as fast as the machine allows.
    pub speed: Option<f64>,
    pub paused: bool,
}

impl Steered {
    /// Every parameter, or those named (all when `names` is empty).
    fn parameters(&self, names: &[String]) -> Vec<Parameter> {
        let mut all = vec![
            Parameter::float64("speed", self.speed.unwrap_or(0.0)),
            Parameter::bool("paused", self.paused),
        ];
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
    fn command(&self, p: &Parameter) -> Result<ControlCommand, String> {
        let number = || match &p.value {
            Some(ParameterValue::Float64(x)) => Ok(*x),
            Some(ParameterValue::Integer(x)) => Ok(*x as f64),
            _ => Err(format!("{}: expected a number", p.name)),
        };
        match p.name.as_str() {
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
    fn took(&mut self, c: &ControlCommand) {
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

/// Counts for the report.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub clients: AtomicU64,
    pub commands: AtomicU64,
    pub refused: AtomicU64,
}

/// The server's listener and parameter handler.
pub(super) struct Steer {
    control: Sender<ControlCommand>,
    pub steered: Arc<Mutex<Steered>>,
    pub tally: Arc<Tally>,
    shapes: foxglove::Channel<foxglove::messages::SceneUpdate>,
    update: foxglove::messages::SceneUpdate,
    /// Set (and notified) when a client first subscribes to a channel.
    subscribed: (Mutex<bool>, Condvar),
}

impl Steer {
    /// Waits until some client has subscribed to a channel.
    pub(super) fn wait_for_subscriber(&self) {
        let (lock, cv) = &self.subscribed;
        let Ok(mut s) = lock.lock() else { return };
        while !*s {
            match cv.wait(s) {
                Ok(g) => s = g,
                Err(_) => return,
            }
        }
    }

    pub(super) fn new(
        control: Sender<ControlCommand>,
        steered: Steered,
        shapes: foxglove::Channel<foxglove::messages::SceneUpdate>,
        update: foxglove::messages::SceneUpdate,
    ) -> Self {
        Self {
            control,
            steered: Arc::new(Mutex::new(steered)),
            tally: Arc::new(Tally::default()),
            shapes,
            update,
            subscribed: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Puts `c` on the control channel, or says why not.
    fn send(&self, c: ControlCommand) -> Result<(), String> {
        let taken = c.clone();
        match self.control.try_send(c) {
            Ok(()) => {
                self.tally.commands.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut s) = self.steered.lock() {
                    s.took(&taken);
                }
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                Err("the run has not taken the previous commands yet; try again".into())
            }
            Err(TrySendError::Disconnected(_)) => Err("the run has ended".into()),
        }
    }

    fn refused(&self) {
        self.tally.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The parameters named (all when `names` is empty), as they are now.
    fn values(&self, names: &[String]) -> Vec<Parameter> {
        self.steered
            .lock()
            .map(|s| s.parameters(names))
            .unwrap_or_default()
    }
}

/// The services clients may call: (name, the command line it sends; `None`: the
/// request's own `{"command": "..."}`).
const SERVICES: [(&str, Option<&str>); 3] = [
    ("/armhil/command", None),
    ("/armhil/estop", Some("estop")),
    ("/armhil/reset", Some("reset")),
];

/// The JSON schema of `/armhil/command`'s request.
const COMMAND_SCHEMA: &str =
    r#"{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}"#;
/// The JSON schema of a service's answer.
const ANSWER_SCHEMA: &str = r#"{"type":"object","properties":{"accepted":{"type":"string"}}}"#;

/// The run's services, each sending its command through `steer`.
pub(super) fn services(steer: &Arc<Steer>) -> Vec<foxglove::websocket::service::Service> {
    use foxglove::Schema;
    use foxglove::websocket::service::{Service, ServiceSchema};
    SERVICES
        .iter()
        .map(|&(name, fixed)| {
            let request = match fixed {
                None => COMMAND_SCHEMA,
                Some(_) => r#"{"type":"object"}"#,
            };
            let schema = ServiceSchema::new("armhil.Command")
                .with_request(
                    "json",
                    Schema::new("armhil.CommandRequest", "jsonschema", request.as_bytes()),
                )
                .with_response(
                    "json",
                    Schema::new(
                        "armhil.CommandAnswer",
                        "jsonschema",
                        ANSWER_SCHEMA.as_bytes(),
                    ),
                );
            let steer = steer.clone();
            Service::builder(name, schema)
                .handler_fn(move |req| steer.call(fixed, req.encoding(), req.payload()))
        })
        .collect()
}

impl Steer {
    /// A service call: the fixed command, or the request's; the answer names the
    /// command taken, or the call fails with the reason.
    fn call(&self, fixed: Option<&str>, encoding: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let line = match fixed {
            Some(line) => line.to_string(),
            None => command_line(encoding, payload)?,
        };
        let result = parse_command(&line)
            .map_err(|e| e.to_string())
            .and_then(|c| self.send(c));
        match result {
            Ok(()) => Ok(serde_json::json!({ "accepted": line })
                .to_string()
                .into_bytes()),
            Err(why) => {
                self.refused();
                Err(format!("command refused: {why}"))
            }
        }
    }
}

/// A published message as a command line: a JSON string or `{"command": "..."}`
/// (encoding `json`), else UTF-8 text.
pub(super) fn command_line(encoding: &str, payload: &[u8]) -> Result<String, String> {
    if encoding == "json" {
        return match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(serde_json::Value::String(s)) => Ok(s),
            Ok(serde_json::Value::Object(o)) => match o.get("command") {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                _ => Err(r#"expected {"command": "..."} or a JSON string"#.into()),
            },
            Ok(_) => Err(r#"expected {"command": "..."} or a JSON string"#.into()),
            Err(e) => Err(format!("not JSON: {e}")),
        };
    }
    std::str::from_utf8(payload)
        .map(|s| s.trim().to_string())
        .map_err(|_| "not UTF-8 text".into())
}

impl ServerListener for Steer {
    fn on_message_data(&self, client: Client, channel: &ClientChannel, payload: &[u8]) {
        let result = command_line(&channel.encoding, payload)
            .and_then(|line| parse_command(&line).map_err(|e| e.to_string()))
            .and_then(|c| self.send(c));
        if let Err(why) = result {
            self.refused();
            client.send_status(Status::error(format!(
                "{}: command refused: {why}",
                channel.topic
            )));
        }
    }

    fn on_subscribe(&self, client: Client, channel: ChannelView) {
        // The arm's shapes never change: each subscriber gets them once.
        if channel.topic() == shapes::TOPIC {
            self.shapes.log_to_sink(&self.update, client.sink_id());
        }
        // Subscribed already: a run waiting for its first client may start.
        let (lock, cv) = &self.subscribed;
        if let Ok(mut s) = lock.lock() {
            *s = true;
            cv.notify_all();
        }
    }

    fn on_client_connect(&self) {
        self.tally.clients.fetch_add(1, Ordering::Relaxed);
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
    fn command_lines_come_as_json_strings_objects_or_text() {
        assert_eq!(command_line("json", br#""estop""#), Ok("estop".into()));
        assert_eq!(
            command_line("json", br#"{"command": "reset"}"#),
            Ok("reset".into())
        );
        assert_eq!(command_line("text", b" pause\n"), Ok("pause".into()));
        assert!(command_line("json", b"{").is_err());
        assert!(command_line("json", b"[1]").is_err());
        assert!(command_line("text", &[0xff, 0xfe]).is_err());
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
