//! What a scene can expect of its run (`expect: [...]`), as data. Judging a report
//! against them is [`super::check_all`].

use serde::{Deserialize, Serialize};

use crate::report::JointHealth;

/// A set of joints.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum Joints {
    /// Every joint.
    All,
    /// The joints no fault was injected on.
    Others,
    /// These joints.
    Only(Vec<String>),
}

/// A set of links.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum Links {
    /// Every link.
    All,
    /// These links.
    Only(Vec<String>),
}

/// One expectation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum Expectation {
    /// `joint` enters `state` within `within_ms` ms after `after` s (simulated).
    JointState {
        joint: String,
        state: JointHealth,
        within_ms: f64,
        #[serde(default)]
        after: f64,
    },
    /// `joint` is in `state` when the run ends.
    FinalState { joint: String, state: JointHealth },
    /// RMS tracking error of each of `joints` below `rms_below` (rad, m).
    Tracking { joints: Joints, rms_below: f64 },
    /// No deadline misses on any of `joints`.
    NoDeadlineMisses { joints: Joints },
    /// After `joint`'s last fault ends (its clear, or its detection for a one-shot
    /// panic/hang), the joint is OK again within `within_ms` ms and stays OK to the end.
    Recovered { joint: String, within_ms: f64 },
    /// Every injected fault was detected, each within `within_ms` ms if given.
    FaultsDetected {
        #[serde(default)]
        within_ms: Option<f64>,
    },
    /// The e-stop latched (`true`) or never did (`false`).
    EStop { latched: bool },
    /// Served runs (`armhil serve`): each time `joint`'s servo raised an error bit,
    /// the host wrote Torque Enable = 0 to it within `within_ms` ms.
    HostTorqueOff { joint: String, within_ms: f64 },
    /// Served runs: each time `joint`'s servo went silent (no power), the host
    /// stopped writing to it within `within_ms` ms (until it answered again).
    HostStopsWriting { joint: String, within_ms: f64 },
    /// Scenes with a world: none of `links` touched anything (the ground, an object,
    /// another link) during the run.
    NoCollision { links: Links },
    /// Scenes with a world: the largest contact force on `link` stayed below
    /// `below_n` N.
    MaxContactForce { link: String, below_n: f64 },
    /// Scenes with a world: `object` ends the run within `tol_m` m of `xyz`.
    ObjectAt {
        object: String,
        xyz: [f64; 3],
        tol_m: f64,
    },
    /// Scenes with a world: the arm held `object` (squeezed between two or more of its
    /// links, touching nothing else) the whole time from `from_s` to `to_s`.
    Grasped {
        object: String,
        from_s: f64,
        to_s: f64,
    },
}
