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
    /// The servo's own protections (overload, overheat), STS3215 factory settings by
    /// default; `None`: a servo that never protects itself.
    #[serde(default = "default_protection")]
    pub protection: Option<ProtectionSpec>,
}

fn default_protection() -> Option<ProtectionSpec> {
    Some(ProtectionSpec::default())
}

/// A servo's protections as its settings give them. Tripped, the servo cuts its
/// torque and raises the condition's error bit; armhil's own driver turns torque back
/// on `restart_s` after an overload, and once the winding has cooled
/// [`COOLED_K`] below the limit after an overheat (a host on a served bus decides
/// for itself).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSpec {
    /// Delivered torque, fraction of the stall torque, in (0, 1], at or above which
    /// the overload timer runs.
    #[serde(default = "d_overload_fraction")]
    pub overload_fraction: f64,
    /// How long the overload must last before it trips, s, in (0, 60].
    #[serde(default = "d_overload_time")]
    pub overload_time_s: f64,
    /// Winding temperature limit, °C, in (25, 200].
    #[serde(default = "d_temp_limit")]
    pub temp_limit_c: f64,
    /// Time after an overload trip before the driver turns torque back on, s, in
    /// [0, 600].
    #[serde(default = "d_restart")]
    pub restart_s: f64,
}

/// How far below its limit the winding must cool before torque comes back, K.
pub const COOLED_K: f64 = 5.0;

fn d_overload_fraction() -> f64 {
    0.8
}
fn d_overload_time() -> f64 {
    2.0
}
fn d_temp_limit() -> f64 {
    70.0
}
fn d_restart() -> f64 {
    1.0
}

impl Default for ProtectionSpec {
    fn default() -> Self {
        Self {
            overload_fraction: d_overload_fraction(),
            overload_time_s: d_overload_time(),
            temp_limit_c: d_temp_limit(),
            restart_s: d_restart(),
        }
    }
}

impl ProtectionSpec {
    /// Range checks, reporting `(field, message)`.
    pub fn validate(&self, field: &str, problem: &mut dyn FnMut(String, String)) {
        let checks = [
            (
                "overload_fraction",
                self.overload_fraction,
                0.0,
                1.0,
                false,
                "",
            ),
            (
                "overload_time_s",
                self.overload_time_s,
                0.0,
                60.0,
                false,
                " s",
            ),
            ("temp_limit_c", self.temp_limit_c, 25.0, 200.0, false, " °C"),
            ("restart_s", self.restart_s, 0.0, 600.0, true, " s"),
        ];
        for (name, v, lo, hi, lo_in, unit) in checks {
            let ok = v <= hi && (v > lo || (lo_in && v == lo));
            if !ok {
                let open = if lo_in { ">=" } else { ">" };
                problem(
                    format!("{field}.{name}"),
                    format!("{v} is out of range: expected {open} {lo} and <= {hi}{unit}"),
                );
            }
        }
    }
}

fn default_hold_kp() -> f64 {
    20.0
}
fn default_hold_kd() -> f64 {
    0.5
}

/// Which servo family a served bus emulates.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq, Default)]
pub enum ServedFamily {
    /// Feetech STS3215 (the SO-101's servos).
    #[default]
    Sts,
    /// Dynamixel XM430-W350, Protocol 2.0.
    Dxl,
}

/// Baud rates a served bus may model (each family's standard rates).
pub const SERVED_BAUDS: [u32; 11] = [
    9_600, 19_200, 38_400, 57_600, 115_200, 128_000, 250_000, 500_000, 1_000_000, 2_000_000,
    4_000_000,
];

/// The scene's `serve: (...)` section: how `armhil serve` presents the arm's joints
/// to a host as servos on one bus. Every field has a default; the command line
/// overrides each.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ServeSpec {
    /// Servo family, `Sts` (default) or `Dxl`.
    #[serde(default)]
    pub protocol: ServedFamily,
    /// Modelled line rate, bit/s, one of [`SERVED_BAUDS`]; default 1 Mbps.
    #[serde(default)]
    pub baud: Option<u32>,
    /// Servo ID per joint name, 0..=252; default 1..N in the scene's joint order. A
    /// joint not named is not served when any is named.
    #[serde(default)]
    pub ids: std::collections::BTreeMap<String, u8>,
    /// Make this path a symlink to the pseudo-terminal.
    #[serde(default)]
    pub link: Option<String>,
    /// Homing offset per joint as shipped, ticks, -2047..=2047 (STS: Present =
    /// Actual − Offset; joint position 0 reads 2048 either way).
    #[serde(default)]
    pub homing_offsets: std::collections::BTreeMap<String, i32>,
    /// EEPROM file (kept between runs), relative to the scene file.
    #[serde(default)]
    pub eeprom: Option<String>,
}

impl ServeSpec {
    /// Range checks against the scene's joint names, reporting `(field, message)`.
    pub fn validate(&self, field: &str, joints: &[&str], problem: &mut dyn FnMut(String, String)) {
        if let Some(b) = self.baud
            && !SERVED_BAUDS.contains(&b)
        {
            problem(
                format!("{field}.baud"),
                format!("{b} is not a servo baud rate; expected one of {SERVED_BAUDS:?}"),
            );
        }
        let mut seen = std::collections::BTreeMap::new();
        for (name, &id) in &self.ids {
            if !joints.contains(&name.as_str()) {
                problem(
                    format!("{field}.ids.{name}"),
                    format!("no actuated joint named {name:?}; expected one of {joints:?}"),
                );
            }
            if id > 252 {
                problem(
                    format!("{field}.ids.{name}"),
                    format!("ID {id} out of range; expected 0..=252"),
                );
            }
            if let Some(other) = seen.insert(id, name) {
                problem(
                    format!("{field}.ids.{name}"),
                    format!("ID {id} is also {other:?}'s; each servo needs its own"),
                );
            }
        }
        for (name, &o) in &self.homing_offsets {
            if !joints.contains(&name.as_str()) {
                problem(
                    format!("{field}.homing_offsets.{name}"),
                    format!("no actuated joint named {name:?}; expected one of {joints:?}"),
                );
            }
            if !(-2047..=2047).contains(&o) {
                problem(
                    format!("{field}.homing_offsets.{name}"),
                    format!("{o} out of range; expected -2047..=2047 ticks"),
                );
            }
        }
        if self.link.as_deref() == Some("") {
            problem(format!("{field}.link"), "must name a path".into());
        }
    }
}
