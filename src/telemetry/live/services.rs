//! The run's services (Foxglove's *Service Call* panel): `/armhil/command` takes
//! `{"command": "..."}` (the stdin vocabulary), `/armhil/estop` and `/armhil/reset`
//! take nothing; each answers `{"accepted": LINE}` or fails with the reason, and sends
//! through the same control channel as everything else a client does.

use std::sync::Arc;

use super::steer::{Steer, command_line};
use crate::runtime::command::parse_command;

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
