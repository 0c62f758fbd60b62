//! The emulated servo's mechanics: the servo firmware (`servo::firmware`: profile,
//! position PID, protections) driving a geared DC motor with nothing attached, whose
//! torque falls with speed (to zero at the no-load speed), with viscous losses in
//! the gearbox and the servo's thermal model. Positions are in encoder ticks.
//!
//! Overload comes only from the torque the motor really delivers: a free move has
//! full torque only while it accelerates, so no move of an unloaded servo trips it.

use crate::servo::Thermal;
use crate::servo::firmware::{Drive, Firmware, Present};

/// Motor parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotorParams {
    /// Encoder ticks per revolution.
    pub ticks_per_rev: f64,
    /// No-load speed, ticks/s.
    pub max_speed: f64,
    /// Acceleration at stall torque with nothing attached, ticks/s².
    pub max_accel: f64,
    /// Viscous loss of the gearbox beyond the motor's back-EMF, 1/s (deceleration
    /// per tick/s).
    pub damping: f64,
}

impl MotorParams {
    /// A Feetech STS3215 at 12 V: 46 rpm no-load; 3.35 N·m stall on 0.028 kg·m² of
    /// reflected rotor inertia (the SO-101 model's figures).
    pub fn sts3215() -> Self {
        Self {
            ticks_per_rev: 4096.0,
            max_speed: 46.0 / 60.0 * 4096.0,
            max_accel: 3.35 / 0.028 / std::f64::consts::TAU * 4096.0,
            damping: 0.5,
        }
    }

    /// A Dynamixel XM430-W350 at 12 V: 46 rpm no-load, 4.1 N·m stall.
    pub fn xm430() -> Self {
        Self {
            ticks_per_rev: 4096.0,
            max_speed: 46.0 / 60.0 * 4096.0,
            max_accel: 4.1 / 0.03 / std::f64::consts::TAU * 4096.0,
            damping: 0.5,
        }
    }
}

/// Motor state.
#[derive(Debug, Clone, PartialEq)]
pub struct Motor {
    pub params: MotorParams,
    /// Position, ticks.
    pub pos: f64,
    /// Velocity, ticks/s.
    pub vel: f64,
    /// Delivered torque, signed fraction of stall.
    pub load: f64,
    thermal: Thermal,
    firmware: Firmware,
}

impl Motor {
    pub fn new(params: MotorParams, pos: f64) -> Self {
        Self {
            params,
            pos,
            vel: 0.0,
            load: 0.0,
            thermal: Thermal::default(),
            firmware: Firmware::new(pos),
        }
    }

    /// New register settings from the host.
    pub fn set(&mut self, d: Drive) {
        self.firmware.set(d, self.pos);
    }

    pub fn drive(&self) -> &Drive {
        self.firmware.drive()
    }

    pub fn temperature_c(&self) -> f64 {
        self.thermal.temp_c
    }

    /// Advances `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        let p = self.params;
        let u = self.firmware.output(dt, self.pos, self.vel);
        // A DC motor: the drive `u` minus the back-EMF of its speed, so torque falls to
        // zero at the no-load speed under full drive, and brakes the motor otherwise.
        let delivered = (u - self.vel / p.max_speed).clamp(-1.0, 1.0);
        self.load = delivered;
        let acc = delivered * p.max_accel - p.damping * self.vel;
        self.vel += acc * dt;
        self.pos += self.vel * dt;
        self.thermal.step(delivered, dt);
        self.firmware.protect(dt, delivered, self.thermal.temp_c);
    }

    /// What the servo reports now.
    pub fn present(&self) -> Present {
        self.firmware
            .present(self.pos, self.vel, self.load, self.thermal.temp_c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servo::firmware::Flags;

    fn on(m: &mut Motor, goal: f64) {
        let mut d = *m.drive();
        d.torque_on = true;
        d.enables += 1;
        d.goal = goal;
        m.set(d);
    }

    #[test]
    fn reaches_its_goal_at_no_more_than_its_speed() {
        let mut m = Motor::new(MotorParams::sts3215(), 2048.0);
        on(&mut m, 3048.0);
        let mut max_v: f64 = 0.0;
        for _ in 0..2000 {
            m.step(0.001);
            max_v = max_v.max(m.vel.abs());
        }
        assert!((m.pos - 3048.0).abs() < 2.0, "{}", m.pos);
        assert!(max_v <= m.params.max_speed + 1e-6);
        assert!(
            max_v > 0.5 * m.params.max_speed,
            "should move at speed: {max_v}"
        );
    }

    #[test]
    fn torque_off_does_not_track() {
        let mut m = Motor::new(MotorParams::xm430(), 0.0);
        let mut d = *m.drive();
        d.goal = 1000.0;
        m.set(d);
        for _ in 0..1000 {
            m.step(0.001);
        }
        assert_eq!(m.pos, 0.0);
    }

    #[test]
    fn settles_on_the_goal_after_a_full_speed_move() {
        for goal in [2948.0, 0.0, 4095.0, 2100.0] {
            let mut m = Motor::new(MotorParams::sts3215(), 2048.0);
            on(&mut m, goal);
            for _ in 0..1500 {
                m.step(0.001);
            }
            assert!(
                (m.pos - goal).abs() <= 1.0,
                "goal {goal}: at {} moving {}",
                m.pos,
                m.vel
            );
            assert!(m.vel.abs() < 5.0);
        }
    }

    #[test]
    fn free_moves_back_to_back_never_trip_overload() {
        // The gripper case: a ~1600-tick move, then three small ones in a row.
        let mut m = Motor::new(MotorParams::sts3215(), 2048.0);
        for goal in [3648.0, 3400.0, 3650.0, 3420.0] {
            on(&mut m, goal);
            for _ in 0..800 {
                m.step(0.001);
                assert!(!m.present().flags.has(Flags::OVERLOAD), "goal {goal}");
            }
        }
        assert!(m.present().torque_on);
    }
}
