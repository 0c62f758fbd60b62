//! Winding temperature of a servo: a first-order thermal model driven by copper loss
//! (∝ torque²). Numbers are those of a small 12 V hobby servo such as the STS3215
//! (about 2.7 A at stall through a ~4 Ω winding); good enough to show which joint
//! works hardest and how a held load warms a servo, not a datasheet curve.

/// Ambient temperature, °C.
pub const AMBIENT_C: f64 = 25.0;
/// Copper loss at stall torque, W (I²R at stall current).
const STALL_LOSS_W: f64 = 30.0;
/// Thermal resistance winding → ambient, K/W. Full stall held forever settles at
/// ambient + 75 K.
const R_TH_K_PER_W: f64 = 2.5;
/// Heat capacity of winding and case, J/K (time constant R·C = 50 s).
const C_TH_J_PER_K: f64 = 20.0;

/// Winding temperature state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thermal {
    /// °C.
    pub temp_c: f64,
}

impl Default for Thermal {
    fn default() -> Self {
        Self { temp_c: AMBIENT_C }
    }
}

impl Thermal {
    /// Advances by `dt` s with the servo delivering `load` (torque / stall torque).
    pub fn step(&mut self, load: f64, dt: f64) {
        let load = if load.is_finite() { load } else { 0.0 };
        let heat_w = STALL_LOSS_W * load * load;
        let cool_w = (self.temp_c - AMBIENT_C) / R_TH_K_PER_W;
        self.temp_c += dt * (heat_w - cool_w) / C_TH_J_PER_K;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_stays_at_ambient_and_a_held_stall_warms_towards_its_steady_state() {
        let mut idle = Thermal::default();
        let mut hot = Thermal::default();
        for _ in 0..600_000 {
            idle.step(0.0, 0.001);
            hot.step(1.0, 0.001);
        }
        assert_eq!(idle.temp_c, AMBIENT_C);
        // 600 s = 12 time constants: at ambient + 75 K within a tenth of a degree.
        assert!(
            (hot.temp_c - (AMBIENT_C + 75.0)).abs() < 0.1,
            "{}",
            hot.temp_c
        );
        let mut half = Thermal::default();
        for _ in 0..50_000 {
            half.step(0.5, 0.001);
        }
        // One time constant at quarter loss: 63 % of 18.75 K.
        assert!(
            (half.temp_c - AMBIENT_C - 18.75 * 0.632).abs() < 0.1,
            "{}",
            half.temp_c
        );
    }
}
