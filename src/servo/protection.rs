//! A servo's own protections, written once: the emulated firmware of served joints
//! and virtual servos uses them, and so does the simulated servo of each of armhil's
//! own drives. Overload comes from the torque the motor really delivers held at or
//! above a fraction of its maximum for a time (a stall against a limit, an obstacle,
//! a jam or a held payload), never from position error alone; overheat from the
//! winding temperature. A tripped condition that cuts torque stays latched until the
//! host turns torque on again.

/// Protection conditions, with the bit layout of the Feetech status byte (the
/// Dynamixel table maps them onto its Hardware Error Status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    pub const VOLTAGE: u8 = 1 << 0;
    pub const ENCODER: u8 = 1 << 1;
    pub const OVERHEAT: u8 = 1 << 2;
    pub const OVERCURRENT: u8 = 1 << 3;
    pub const OVERLOAD: u8 = 1 << 5;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// What the protections are set to (from the servo's EEPROM).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protection {
    /// Delivered torque (fraction of maximum) at or above which the overload timer runs.
    pub overload_fraction: f64,
    /// How long the overload must last before the protection trips, s.
    pub overload_time_s: f64,
    /// The output cap after an overload that does not cut torque (fraction).
    pub protective_fraction: f64,
    /// Winding temperature limit, °C.
    pub temp_limit_c: f64,
    /// Conditions that cut torque when they trip (the rest only raise their bit).
    pub cut: Flags,
}

impl Default for Protection {
    /// The STS3215's factory settings: overload at 80 % for 2 s, protective torque
    /// 20 %, 70 °C, and overheat, overcurrent and overload cut torque (Unloading
    /// Condition 44).
    fn default() -> Self {
        Self {
            overload_fraction: 0.8,
            overload_time_s: 2.0,
            protective_fraction: 0.2,
            temp_limit_c: 70.0,
            cut: Flags(44),
        }
    }
}

/// The protections' state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Guard {
    /// Time the delivered torque has stayed at or above the overload threshold, s.
    overload_s: f64,
    /// Conditions that tripped (kept until cleared by a new torque enable).
    latched: Flags,
    /// Conditions present now (overheat while hot).
    now: Flags,
}

impl Guard {
    /// After a cycle in which the motor, `driven` or not, delivered `delivered`
    /// (signed fraction of maximum) with its winding at `temp_c`.
    pub fn step(&mut self, p: &Protection, dt: f64, driven: bool, delivered: f64, temp_c: f64) {
        if driven && delivered.abs() >= p.overload_fraction {
            self.overload_s += dt;
        } else {
            self.overload_s = 0.0;
        }
        // (With a little slack for the sum of many small steps.)
        if self.overload_s + 1e-9 >= p.overload_time_s {
            self.latched.0 |= Flags::OVERLOAD;
        }
        self.now = Flags::default();
        if temp_c >= p.temp_limit_c {
            self.now.0 |= Flags::OVERHEAT;
            if p.cut.has(Flags::OVERHEAT) {
                self.latched.0 |= Flags::OVERHEAT;
            }
        }
    }

    /// The conditions that tripped and stay.
    pub fn latched(&self) -> Flags {
        self.latched
    }

    /// The conditions to report (latched ones and those present now).
    pub fn flags(&self) -> Flags {
        Flags(self.latched.0 | self.now.0)
    }

    /// Whether a latched condition cuts torque under `p`.
    pub fn cuts(&self, p: &Protection) -> bool {
        self.latched.0 & p.cut.0 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_needs_real_torque_held_for_the_protection_time() {
        let p = Protection::default();
        let mut g = Guard::default();
        // 1.999 s at 90 %, a dip, then 2 s more: only the unbroken 2 s trips.
        for _ in 0..1999 {
            g.step(&p, 0.001, true, 0.9, 25.0);
        }
        g.step(&p, 0.001, true, 0.5, 25.0);
        assert!(!g.cuts(&p));
        for _ in 0..1999 {
            g.step(&p, 0.001, true, -0.9, 25.0);
        }
        assert!(!g.cuts(&p));
        g.step(&p, 0.001, true, -0.9, 25.0);
        assert!(g.cuts(&p) && g.flags().has(Flags::OVERLOAD));
        // A motor that is not driven never overloads; heat alone trips overheat.
        let mut cold = Guard::default();
        for _ in 0..5000 {
            cold.step(&p, 0.001, false, 1.0, 69.9);
        }
        assert_eq!(cold.flags(), Flags::default());
        cold.step(&p, 0.001, false, 0.0, 70.0);
        assert!(cold.cuts(&p) && cold.flags().has(Flags::OVERHEAT));
    }
}
