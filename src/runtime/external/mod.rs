//! External joint services over Zenoh (`controller: External(key: ..)`): the joint's
//! controller is any program, in any language Zenoh serves, on this machine or
//! another. armhil publishes each sample on `{key}/sample` and takes the answer from
//! `{key}/command`; the service holds the liveliness token `{key}/alive` while it
//! runs, so its going away is known at once: its joint waits OFFLINE, and a probe of
//! its `Presence` finds it when it returns. Payloads are fixed little-endian binary
//! with a version byte ([`payload`]); management messages (gains) go on
//! `{key}/manage` as the process wire's JSON.
//!
//! The link is the body of a [`JointService`](super::service::JointService), as a
//! service process is: supervision, safe states, restarts and both executors work
//! unchanged. In lockstep the executor waits for the answer in place (deterministic
//! for a deterministic controller) up to a wall-clock bound, past which the sample
//! is unanswered; in real time the service's thread waits, and silence is judged on
//! the run's clock.
//!
//! One Zenoh session per run ([`open`]): a peer listening on 127.0.0.1 only unless
//! told otherwise, multicast scouting off, connecting where told.

#[cfg(feature = "zenoh")]
mod link;
pub mod payload;
#[cfg(feature = "zenoh")]
mod presence;

#[cfg(feature = "zenoh")]
pub use link::{Link, open};
pub use payload::{Command, CommandMode};
#[cfg(feature = "zenoh")]
pub use presence::Presence;

/// Where the run's Zenoh session listens and connects.
#[derive(Debug, Clone, PartialEq)]
pub struct ZenohOptions {
    /// Endpoints to listen on (default `tcp/127.0.0.1:7447`: this machine only).
    pub listen: Vec<String>,
    /// Endpoints to connect to (a router, or a service's own listener).
    pub connect: Vec<String>,
    /// A Zenoh configuration file (JSON5) to start from; the options above apply on top.
    pub config: Option<std::path::PathBuf>,
}

impl Default for ZenohOptions {
    fn default() -> Self {
        Self {
            listen: vec!["tcp/127.0.0.1:7447".into()],
            connect: Vec::new(),
            config: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("zenoh config {field}: {why}")]
    Config { field: String, why: String },
    #[error("zenoh: cannot open the session: {0}")]
    Open(String),
    #[error("zenoh: cannot declare {key}: {why}")]
    Declare { key: String, why: String },
}

/// What a link has seen go wrong on the wire (malformed or out-of-sequence
/// payloads), for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireCounts {
    pub malformed: u64,
    pub out_of_sequence: u64,
}
