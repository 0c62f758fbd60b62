//! The supervisor: the one owner of every joint's health. It keeps, per joint, the
//! replies its service owes (`replies.rs`), its health, restart budget and backoff,
//! monitors and recent conditions (`watch.rs`), and for the whole arm the e-stop
//! latch and a policy's request to stop the run. Executors and buses report what
//! they observe (a reply, a silence, a sample's status and readings, the torques
//! delivered, a bus transaction, a link change, an operator's command) and the
//! supervisor decides (`failures.rs`, `away.rs`, `observe.rs`, `links.rs`); the plant carries
//! out what it decides (a safe state, a restart, following a servo) and logs the
//! events.
//!
//! The monitors themselves (what is implausible, when a following error trips) are
//! pure functions in `crate::supervision`; the rule for silence is in `replies.rs`.

mod away;
mod failures;
mod links;
mod observe;
mod replies;
mod watch;

pub(crate) use replies::{Replies, Tick};
pub(crate) use watch::Condition;

use crate::report::JointHealth;
use crate::scene::Scene;
use watch::Watch;

/// Every joint's supervision, the e-stop and the run's stop request.
pub struct Supervisor {
    pub(crate) replies: Replies,
    watch: Vec<Watch>,
    /// Latched e-stop: when, and why.
    estop: Option<(f64, String)>,
    /// Set when a joint's policy stops the whole run.
    stop_requested: Option<String>,
}

impl Supervisor {
    /// Supervision of `scene`'s joints (`copies` times over, in the plant's order).
    /// `stall_grace`: how long correlated silence of several services is forgiven as
    /// a machine stall, s (real time), or never (`None`: lockstep).
    pub fn new(scene: &Scene, copies: usize, stall_grace: Option<f64>) -> Self {
        let watch: Vec<Watch> = (0..copies)
            .flat_map(|_| scene.joints.iter())
            .map(|c| Watch::new(c.supervision, c.on_link_loss))
            .collect();
        Self {
            replies: Replies::new(watch.len(), stall_grace),
            watch,
            estop: None,
            stop_requested: None,
        }
    }

    /// Joint `i`'s health now.
    pub fn health(&self, i: usize) -> JointHealth {
        self.watch[i].health
    }

    /// How many times joint `i`'s service has been restarted.
    pub fn restarts(&self, i: usize) -> u32 {
        self.watch[i].restarts
    }

    /// Periods of silence after which joint `i`'s service is hung.
    pub(crate) fn silent_periods(&self, i: usize) -> u32 {
        self.watch[i].spec.silent_periods
    }

    /// The latched e-stop: when, and why.
    pub fn estop(&self) -> Option<&(f64, String)> {
        self.estop.as_ref()
    }

    /// Why a joint's policy stopped the run, if one did.
    pub fn stop_requested(&self) -> Option<&str> {
        self.stop_requested.as_deref()
    }
}
