//! Steering a run from Foxglove: what clients publish, the parameters they set
//! (`params`) and the services they call (`services`) become commands on the run's
//! one control channel, the very commands the GUI's buttons and the CLI's stdin send.
//! A client publishes command lines (`estop`, `reset`, `fault wrist:hang@1`, `swap
//! elbow sim`, `gains elbow 40 0 2`, `pause`, `step 10`, `speed 2`, ...) on any topic
//! it advertises, as a JSON string, as `{"command": "..."}`, or as plain text.
//! Anything malformed or unknown, and a command the channel has no room for, is
//! refused with a reason sent back to that client alone; nothing is applied half.
//! [`Steer`] is the server's listener (and parameter handler): it also sends the
//! arm's shapes to each subscriber and lets a run wait for its first client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crossbeam::channel::{Sender, TrySendError};
use foxglove::websocket::{ChannelView, Client, ClientChannel, Parameter, ServerListener, Status};

use super::params::Steered;
use super::shapes;
use crate::runtime::command::{ControlCommand, parse_command};

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
    /// Subscriptions to joints' sample channels now, and whether there are any: the
    /// run hands its tap joints' samples only then (the bulk of its records).
    joint_subscriptions: Mutex<usize>,
    pub samples_wanted: Arc<std::sync::atomic::AtomicBool>,
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
            joint_subscriptions: Mutex::new(0),
            samples_wanted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Counts a subscription to (`+1`) or from (`-1`) a joint's samples.
    fn count_joint_subscription(&self, channel: &ChannelView, change: isize) {
        if !channel
            .topic()
            .starts_with(crate::recording::JOINT_TOPIC_PREFIX)
        {
            return;
        }
        if let Ok(mut n) = self.joint_subscriptions.lock() {
            *n = n.saturating_add_signed(change);
            self.samples_wanted.store(*n > 0, Ordering::Relaxed);
        }
    }

    /// Puts `c` on the control channel, or says why not.
    pub(super) fn send(&self, c: ControlCommand) -> Result<(), String> {
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

    pub(super) fn refused(&self) {
        self.tally.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The parameters named (all when `names` is empty), as they are now.
    pub(super) fn values(&self, names: &[String]) -> Vec<Parameter> {
        self.steered
            .lock()
            .map(|s| s.parameters(names))
            .unwrap_or_default()
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
        self.count_joint_subscription(&channel, 1);
        // Subscribed already: a run waiting for its first client may start.
        let (lock, cv) = &self.subscribed;
        if let Ok(mut s) = lock.lock() {
            *s = true;
            cv.notify_all();
        }
    }

    fn on_unsubscribe(&self, _client: Client, channel: ChannelView) {
        self.count_joint_subscription(&channel, -1);
    }

    fn on_client_connect(&self) {
        self.tally.clients.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
