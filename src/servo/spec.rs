//! A servo as a datasheet gives it (scene `servo: (...)`): gearing, torque-speed
//! envelope, inertia, friction, encoder. Data only; the model that acts on it is
//! [`super::ServoModel`].

use serde::Deserialize;

/// A servo model as a datasheet gives it (output-side figures unless stated).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServoSpec {
    /// Gear reduction motor:output, > 0 (e.g. 345 for the STS3215). Reflects the rotor
    /// inertia to the joint as armature = rotor_inertia · ratio².
    pub gear_ratio: f64,
    /// Stall torque at the output shaft, N·m, > 0. Also the torque limit.
    pub stall_torque_nm: f64,
    /// No-load speed at the output shaft, rad/s, > 0. Available torque falls linearly
    /// to zero at this speed (DC motor curve).
    pub no_load_speed_rad_s: f64,
    /// Rotor inertia on the motor side, kg·m², ≥ 0.
    pub rotor_inertia_kgm2: f64,
    /// Viscous damping at the joint, N·m·s/rad, ≥ 0.
    pub damping_nm_s_per_rad: f64,
    /// Coulomb friction at the joint, N·m, ≥ 0.
    pub friction_nm: f64,
    /// Output-shaft encoder resolution, ticks per revolution, in [16, 1048576].
    pub encoder_ticks_per_rev: u32,
    /// Gear backlash, half-width, rad, in [0, 0.1]: the output moves ±backlash freely.
    #[serde(default)]
    pub backlash_rad: f64,
    /// Encoder noise standard deviation, ticks, in [0, 100].
    #[serde(default)]
    pub noise_ticks: f64,
    /// Resolution of the reported velocity, rad/s, ≥ 0 (0 = exact).
    #[serde(default)]
    pub velocity_resolution_rad_s: f64,
    /// The servo's built-in position loop used by the Hold safe state: stiffness, N·m/rad.
    #[serde(default = "default_hold_kp")]
    pub hold_kp: f64,
    /// ... and damping, N·m·s/rad.
    #[serde(default = "default_hold_kd")]
    pub hold_kd: f64,
}

fn default_hold_kp() -> f64 {
    20.0
}
fn default_hold_kd() -> f64 {
    0.5
}
