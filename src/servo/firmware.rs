//! A serial bus servo's own firmware, as its registers configure it: a motion profile
//! toward the goal (speed and acceleration caps), a position PID whose output is a
//! fraction of the motor's maximum torque (clamped to the torque limit), and the
//! protections that watch the torque the motor really delivers and the winding
//! temperature. Positions are in encoder ticks of the servo's raw ("actual") scale.
//!
//! It is what stands behind a served joint (`armhil serve`: the plant runs it against
//! the simulated joint) and behind each emulated servo of `armhil virtual-servo`
//! (against the servo's own motor model). Which registers fill a [`Drive`], and how a
//! [`Present`] is published into registers, is the control table's business
//! (`hardware::virtual_servo::table`), per protocol.
//!
//! Units of the gains: Feetech and ROBOTIS publish none for their P/I/D registers. The
//! scale here is the one the SO-101's MuJoCo model derives for P = 16 (LeRobot's
//! setting) on an STS3215: kp 998.22 N·m/rad and kv 2.731 N·m·s/rad at a 2.94 N·m
//! torque range (`../shared/models/so101/so101_new_calib.xml`, after
//! Gregory119/RBE501-RL-arm-project), i.e. about 0.52 of full torque per tick of error
//! at P = 16, and that kv at D = 32. An assumption stated once, here.

/// Fraction of maximum torque per tick of position error, per unit of P.
pub const KP_PER_UNIT: f64 = 998.22 * (std::f64::consts::TAU / 4096.0) / 2.94 / 16.0;
/// Fraction of maximum torque per tick/s of velocity error, per unit of D.
pub const KD_PER_UNIT: f64 = 2.731 * (std::f64::consts::TAU / 4096.0) / 2.94 / 32.0;
/// Fraction of maximum torque per tick·s of integrated error, per unit of I.
pub const KI_PER_UNIT: f64 = KP_PER_UNIT * 0.1;

pub use super::protection::{Flags, Guard, Protection};

/// Operating mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpMode {
    /// Track the goal position.
    Position,
    /// Track the goal speed (wheel mode).
    Velocity,
    /// Open loop: the output is the goal PWM.
    Pwm,
}

/// What the host asked of the servo through its registers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drive {
    pub torque_on: bool,
    /// Counts the host's writes turning torque on: a new one clears latched faults.
    pub enables: u32,
    pub mode: OpMode,
    /// Goal position, actual ticks (offset applied, clamped to the position limits).
    pub goal: f64,
    /// Position mode: profile speed cap, ticks/s (0 = none). Velocity mode: the
    /// signed target speed.
    pub speed: f64,
    /// Profile acceleration cap, ticks/s² (0 = none).
    pub accel: f64,
    /// PWM mode: the signed output, fraction of maximum.
    pub pwm: f64,
    /// Output cap, fraction of maximum torque, in [0, 1].
    pub torque_limit: f64,
    /// Dead zone around the goal, ticks: (below, above). Within it the motor is not
    /// driven (a zero duty, which brakes it).
    pub dead_zone: (f64, f64),
    /// Position loop gains, register units.
    pub p: f64,
    pub i: f64,
    pub d: f64,
    pub protection: Protection,
}

impl Drive {
    /// Torque off, holding nothing, at `pos`: a servo just powered on.
    pub fn off(pos: f64) -> Self {
        Self {
            torque_on: false,
            enables: 0,
            mode: OpMode::Position,
            goal: pos,
            speed: 0.0,
            accel: 0.0,
            pwm: 0.0,
            torque_limit: 1.0,
            dead_zone: (0.0, 0.0),
            p: 32.0,
            i: 0.0,
            d: 32.0,
            protection: Protection::default(),
        }
    }
}

/// What the servo reports, in its own units before any register encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Present {
    /// Actual position, ticks (the table subtracts or adds the homing offset).
    pub pos: f64,
    /// ticks/s.
    pub vel: f64,
    /// Delivered torque, signed fraction of maximum.
    pub load: f64,
    /// Motor current, A.
    pub current_a: f64,
    pub voltage_v: f64,
    pub temp_c: f64,
    pub moving: bool,
    pub flags: Flags,
    /// Torque is on (false after the host turned it off or a protection cut it).
    pub torque_on: bool,
    /// The servo has power: without it, it answers nothing.
    pub powered: bool,
    /// The [`Drive::enables`] this report follows (so a report made before the
    /// host's latest torque-on cannot undo it).
    pub enables: u32,
    /// Firmware resets so far: each one reloads the registers from EEPROM.
    pub boots: u32,
}

impl Present {
    /// A powered servo at rest at `pos`, cold.
    pub fn at(pos: f64) -> Self {
        Self {
            pos,
            vel: 0.0,
            load: 0.0,
            current_a: 0.0,
            voltage_v: 12.0,
            temp_c: super::thermal::AMBIENT_C,
            moving: false,
            flags: Flags::default(),
            torque_on: false,
            powered: true,
            enables: 0,
            boots: 0,
        }
    }
}

/// Stall current of an STS3215 at 12 V, A (the current reported at full torque).
pub const STALL_CURRENT_A: f64 = 2.7;

/// Speed above which a servo reports itself moving, ticks/s.
const MOVING_TICKS_S: f64 = 20.0;

/// The firmware's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Firmware {
    drive: Drive,
    /// Where the profile is now: position (ticks) and velocity (ticks/s).
    ref_pos: f64,
    ref_vel: f64,
    integral: f64,
    /// The protections' state; what trips stays until the host turns torque on again.
    guard: Guard,
    was_on: bool,
}

impl Firmware {
    /// A servo powered on at `pos` ticks, torque off.
    pub fn new(pos: f64) -> Self {
        Self {
            drive: Drive::off(pos),
            ref_pos: pos,
            ref_vel: 0.0,
            integral: 0.0,
            guard: Guard::default(),
            was_on: false,
        }
    }

    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    /// Takes new register settings; the servo is at `pos`. Turning torque on (a new
    /// enable) clears the latched faults and starts the profile from where the shaft is.
    pub fn set(&mut self, d: Drive, pos: f64) {
        if d.enables != self.drive.enables {
            self.guard = Guard::default();
        }
        self.drive = d;
        if !self.torque_on() {
            self.ref_pos = pos;
            self.ref_vel = 0.0;
            self.integral = 0.0;
        }
    }

    /// Whether the motor is driven: the host turned torque on and no protection cut it.
    pub fn torque_on(&self) -> bool {
        self.drive.torque_on && !self.guard.cuts(&self.drive.protection)
    }

    /// The conditions to report (latched ones and those present now).
    pub fn flags(&self) -> Flags {
        self.guard.flags()
    }

    /// One firmware cycle of `dt` s with the shaft at `pos` ticks moving at `vel`
    /// ticks/s: the output, a signed fraction of the maximum torque.
    pub fn output(&mut self, dt: f64, pos: f64, vel: f64) -> f64 {
        let on = self.torque_on();
        if !on {
            self.was_on = false;
            self.ref_pos = pos;
            self.ref_vel = 0.0;
            self.integral = 0.0;
            return 0.0;
        }
        if !self.was_on {
            self.was_on = true;
            self.ref_pos = pos;
            self.ref_vel = 0.0;
        }
        let d = self.drive;
        let cap = if self.guard.latched().has(Flags::OVERLOAD) {
            d.torque_limit.min(d.protection.protective_fraction)
        } else {
            d.torque_limit
        };
        let u = match d.mode {
            OpMode::Pwm => d.pwm,
            OpMode::Velocity => {
                self.ref_vel = approach(self.ref_vel, d.speed, d.accel, dt);
                d.p.max(1.0) * KP_PER_UNIT * 0.05 * (self.ref_vel - vel)
            }
            OpMode::Position => {
                self.profile(dt);
                let e = self.ref_pos - pos;
                let settled = self.ref_pos == d.goal && self.ref_vel == 0.0;
                if settled && (-d.dead_zone.0..=d.dead_zone.1).contains(&e) {
                    self.integral = 0.0;
                    return 0.0;
                }
                self.integral = (self.integral + e * dt).clamp(-1e4, 1e4);
                d.p * KP_PER_UNIT * e
                    + d.i * KI_PER_UNIT * self.integral
                    + d.d * KD_PER_UNIT * (self.ref_vel - vel)
            }
        };
        if u.is_finite() {
            u.clamp(-cap, cap)
        } else {
            0.0
        }
    }

    /// Moves the profile's reference toward the goal within the speed and
    /// acceleration caps (straight to it when neither is set).
    fn profile(&mut self, dt: f64) {
        let d = self.drive;
        if d.speed <= 0.0 && d.accel <= 0.0 {
            self.ref_pos = d.goal;
            self.ref_vel = 0.0;
            return;
        }
        let vmax = if d.speed > 0.0 {
            d.speed
        } else {
            f64::INFINITY
        };
        let amax = if d.accel > 0.0 {
            d.accel
        } else {
            f64::INFINITY
        };
        let dist = d.goal - self.ref_pos;
        // The fastest speed from which the profile can still stop on the goal, braking
        // by `amax · dt` each cycle (so it arrives at no more than that speed).
        let a = amax.min(1e12);
        let h = 0.5 * a * dt;
        let v_stop = -h + (h * h + 2.0 * a * dist.abs()).sqrt();
        let want = dist.signum() * vmax.min(v_stop);
        self.ref_vel = approach(self.ref_vel, want, d.accel, dt);
        let next = self.ref_pos + self.ref_vel * dt;
        if (d.goal - next) * dist <= 0.0 {
            self.ref_pos = d.goal;
            self.ref_vel = 0.0;
        } else {
            self.ref_pos = next;
        }
    }

    /// The protections, after a cycle: `delivered` is the torque the motor really
    /// gave (signed fraction of maximum), `temp_c` the winding temperature. Overload
    /// comes from sustained real torque (a stall against a limit or an obstacle, a
    /// held payload), never from position error alone.
    pub fn protect(&mut self, dt: f64, delivered: f64, temp_c: f64) {
        let on = self.torque_on();
        self.guard
            .step(&self.drive.protection, dt, on, delivered, temp_c);
    }

    /// What the servo reports now.
    pub fn present(&self, pos: f64, vel: f64, delivered: f64, temp_c: f64) -> Present {
        Present {
            pos,
            vel,
            load: delivered,
            current_a: delivered.abs() * STALL_CURRENT_A,
            voltage_v: 12.0,
            temp_c,
            moving: vel.abs() > MOVING_TICKS_S,
            flags: self.flags(),
            torque_on: self.torque_on(),
            powered: true,
            enables: self.drive.enables,
            boots: 0,
        }
    }
}

/// `v` moved toward `target` by at most `accel · dt` (at once when `accel` is 0).
fn approach(v: f64, target: f64, accel: f64, dt: f64) -> f64 {
    if accel <= 0.0 {
        return target;
    }
    let step = accel * dt;
    v + (target - v).clamp(-step, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(goal: f64) -> Drive {
        Drive {
            torque_on: true,
            enables: 1,
            goal,
            ..Drive::off(0.0)
        }
    }

    #[test]
    fn p16_gives_the_so101_model_stiffness() {
        // 998.22 N·m/rad at 2.94 N·m: one tick of error asks for 0.521 of full
        // torque, two saturate.
        let mut f = Firmware::new(0.0);
        f.set(
            Drive {
                p: 16.0,
                d: 0.0,
                ..on(1.0)
            },
            0.0,
        );
        let u = f.output(0.001, 0.0, 0.0);
        assert!((u - 0.5208).abs() < 0.001, "{u}");
        f.set(
            Drive {
                p: 16.0,
                d: 0.0,
                ..on(2.0)
            },
            0.0,
        );
        assert_eq!(f.output(0.001, 0.0, 0.0), 1.0);
    }

    #[test]
    fn within_the_dead_zone_at_rest_the_motor_is_not_driven() {
        let mut f = Firmware::new(0.0);
        f.set(
            Drive {
                dead_zone: (2.0, 3.0),
                ..on(100.0)
            },
            0.0,
        );
        assert_eq!(f.output(0.001, 98.5, 0.0), 0.0, "1.5 ticks short: inside");
        assert!(f.output(0.001, 96.0, 0.0) > 0.0, "4 ticks short: outside");
        assert!(f.output(0.001, 102.5, 0.0) < 0.0, "2.5 ticks over: outside");
    }

    #[test]
    fn output_is_capped_by_the_torque_limit_and_zero_with_torque_off() {
        let mut f = Firmware::new(0.0);
        f.set(
            Drive {
                torque_limit: 0.5,
                ..on(3000.0)
            },
            0.0,
        );
        assert_eq!(f.output(0.001, 0.0, 0.0), 0.5);
        f.set(
            Drive {
                torque_on: false,
                ..on(3000.0)
            },
            0.0,
        );
        assert_eq!(f.output(0.001, 0.0, 0.0), 0.0);
    }

    #[test]
    fn the_profile_respects_speed_and_acceleration_and_ends_on_the_goal() {
        let mut f = Firmware::new(0.0);
        f.set(
            Drive {
                speed: 1000.0,
                accel: 5000.0,
                ..on(1500.0)
            },
            0.0,
        );
        let (mut last_v, mut max_v, mut max_a) = (0.0f64, 0.0f64, 0.0f64);
        let mut arrival = None;
        for _ in 0..3000 {
            f.output(0.001, f.ref_pos, f.ref_vel);
            max_v = max_v.max(f.ref_vel.abs());
            if f.ref_pos == 1500.0 {
                // The cycle it arrives: from its last speed to rest.
                arrival.get_or_insert(last_v);
            } else {
                max_a = max_a.max((f.ref_vel - last_v).abs() / 0.001);
            }
            last_v = f.ref_vel;
        }
        assert!(max_v <= 1000.0 + 1e-9 && max_v > 999.0, "{max_v}");
        assert!(max_a <= 5000.0 + 1e-6, "{max_a}");
        assert_eq!(f.ref_pos, 1500.0);
        // Braking ends within two cycles' worth of deceleration of rest.
        let v = arrival.expect("arrived");
        assert!(v.abs() <= 2.0 * 5000.0 * 0.001 + 1e-9, "{v}");
    }

    #[test]
    fn a_free_move_never_trips_overload_but_a_held_stall_does_and_cuts_torque() {
        let mut f = Firmware::new(0.0);
        f.set(on(1600.0), 0.0);
        // A free move: full torque only while accelerating (50 ms), then the motor's
        // speed takes the torque away; three in a row.
        for _ in 0..3 {
            for k in 0..600 {
                let delivered = if k < 50 { 1.0 } else { 0.1 };
                f.output(0.001, 0.0, 0.0);
                f.protect(0.001, delivered, 30.0);
            }
        }
        assert!(!f.flags().has(Flags::OVERLOAD) && f.torque_on());
        // A stall: full torque held for the protection time.
        for _ in 0..1999 {
            f.protect(0.001, 1.0, 30.0);
        }
        assert!(!f.flags().has(Flags::OVERLOAD));
        f.protect(0.001, 1.0, 30.0);
        assert!(f.flags().has(Flags::OVERLOAD));
        assert!(
            !f.torque_on(),
            "overload is in the factory unloading condition"
        );
        assert_eq!(f.output(0.001, 0.0, 0.0), 0.0);
        // The host turns torque on again: the fault is cleared.
        f.set(
            Drive {
                enables: 2,
                ..on(1600.0)
            },
            0.0,
        );
        assert!(f.torque_on() && f.flags() == Flags::default());
    }

    #[test]
    fn overload_outside_the_unloading_condition_caps_the_output_at_the_protective_torque() {
        let mut f = Firmware::new(0.0);
        let mut d = on(3000.0);
        d.protection.cut = Flags(Flags::OVERHEAT);
        f.set(d, 0.0);
        for _ in 0..2000 {
            f.protect(0.001, 1.0, 30.0);
        }
        assert!(f.flags().has(Flags::OVERLOAD) && f.torque_on());
        assert_eq!(f.output(0.001, 0.0, 0.0), 0.2);
    }

    #[test]
    fn overheat_is_reported_while_hot_and_cuts_torque() {
        let mut f = Firmware::new(0.0);
        f.set(on(10.0), 0.0);
        f.protect(0.001, 0.0, 69.9);
        assert!(f.torque_on() && !f.flags().has(Flags::OVERHEAT));
        f.protect(0.001, 0.0, 70.0);
        assert!(f.flags().has(Flags::OVERHEAT) && !f.torque_on());
    }
}
