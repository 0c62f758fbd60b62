//! A joint's supervision settings as a scene states them (`supervision: (...)` on a
//! drive): restart budget and backoff, the silence that counts as a hang, and the
//! following-error limit. Data and range checks only; the monitors that use them are
//! in [`super::monitors`], the decisions in the runtime's supervisor.

/// Supervision settings of one joint (scene `supervision: (...)`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisionSpec {
    /// Restarts allowed within `restart_window_s` before the joint latches FAULTED,
    /// 0..=100 (0: the first failure latches).
    #[serde(default = "d_max_restarts")]
    pub max_restarts: u32,
    /// Window of the restart budget, s, in (0, 3600].
    #[serde(default = "d_window")]
    pub restart_window_s: f64,
    /// Time in the safe state before a restart, s, in [0, 10].
    #[serde(default = "d_delay")]
    pub restart_delay_s: f64,
    /// Control periods without a reply after which a service is hung, 1..=100.
    #[serde(default = "d_silent")]
    pub silent_periods: u32,
    /// Following-error limit at standstill, rad (m for prismatic), in (0, 10].
    #[serde(default = "d_fe")]
    pub following_error_rad: f64,
    /// Extra following error allowed per rad/s of setpoint speed, s, in [0, 10]
    /// (a joint lagging its trajectory by a fixed time has an error ∝ speed).
    #[serde(default = "d_fe_speed")]
    pub following_error_per_rad_s: f64,
    /// How long the limit must be exceeded before the joint trips, s, in [0, 10].
    #[serde(default = "d_fe_trip")]
    pub following_error_trip_s: f64,
}

fn d_max_restarts() -> u32 {
    3
}
fn d_window() -> f64 {
    10.0
}
fn d_delay() -> f64 {
    0.02
}
fn d_silent() -> u32 {
    3
}
fn d_fe() -> f64 {
    0.1
}
fn d_fe_speed() -> f64 {
    0.1
}
fn d_fe_trip() -> f64 {
    0.05
}

impl Default for SupervisionSpec {
    fn default() -> Self {
        Self {
            max_restarts: d_max_restarts(),
            restart_window_s: d_window(),
            restart_delay_s: d_delay(),
            silent_periods: d_silent(),
            following_error_rad: d_fe(),
            following_error_per_rad_s: d_fe_speed(),
            following_error_trip_s: d_fe_trip(),
        }
    }
}

impl SupervisionSpec {
    /// Range checks; `push(field, message)` records each problem.
    pub fn validate(&self, f: &str, push: &mut dyn FnMut(String, String)) {
        let mut range = |name: &str, v: f64, lo: f64, lo_open: bool, hi: f64, unit: &str| {
            let below = if lo_open { v <= lo } else { v < lo };
            if !v.is_finite() || below || v > hi {
                let open = if lo_open { "(" } else { "[" };
                push(
                    format!("{f}.supervision.{name}"),
                    format!("{v} is out of range: expected {open}{lo}, {hi}] {unit}"),
                );
            }
        };
        range(
            "max_restarts",
            self.max_restarts as f64,
            0.0,
            false,
            100.0,
            "",
        );
        range(
            "restart_window_s",
            self.restart_window_s,
            0.0,
            true,
            3600.0,
            "s",
        );
        range(
            "restart_delay_s",
            self.restart_delay_s,
            0.0,
            false,
            10.0,
            "s",
        );
        range(
            "silent_periods",
            self.silent_periods as f64,
            1.0,
            false,
            100.0,
            "periods",
        );
        range(
            "following_error_rad",
            self.following_error_rad,
            0.0,
            true,
            10.0,
            "rad",
        );
        range(
            "following_error_per_rad_s",
            self.following_error_per_rad_s,
            0.0,
            false,
            10.0,
            "s",
        );
        range(
            "following_error_trip_s",
            self.following_error_trip_s,
            0.0,
            false,
            10.0,
            "s",
        );
    }
}
