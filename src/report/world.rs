//! What the world saw in a run with a scene `world`: each object's final pose and
//! hardest contact, each link's contacts. Plain data.

use serde::{Deserialize, Serialize};

/// A pose: position (m) and roll/pitch/yaw (rad, URDF convention).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub xyz: [f64; 3],
    pub rpy: [f64; 3],
}

/// One object of the world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectReport {
    pub name: String,
    pub final_pose: Pose,
    /// The largest normal force on it from any one thing it touched, N.
    pub max_contact_force_n: f64,
    /// When the arm held it: squeezed between two or more links, touching nothing
    /// else; (from, to) s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grasped: Vec<(f64, f64)>,
}

/// One link's contacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkContactReport {
    pub name: String,
    /// Contacts begun (with anything: ground, objects, other links).
    pub contacts: u64,
    /// The largest normal force on it from any one thing it touched, N.
    pub max_contact_force_n: f64,
    /// The deepest it went into anything, m.
    pub max_depth_m: f64,
    /// Time it spent touching anything, s.
    pub contact_s: f64,
}
