//! The emulated servo's mechanics: its own position loop driving a motor with a speed
//! limit, an acceleration limit set by the stall torque, load and a first-order
//! thermal model. Positions are in encoder ticks.

/// Motor parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotorParams {
    /// Encoder ticks per revolution.
    pub ticks_per_rev: f64,
    /// No-load speed, ticks/s.
    pub max_speed: f64,
    /// Acceleration at stall torque, ticks/s².
    pub max_accel: f64,
    /// Position-loop gain, 1/s (speed command per tick of error).
    pub kp: f64,
    /// Thermal: °C/s of heating at 100 % load, and cooling rate constant, 1/s.
    pub heat_rate: f64,
    pub cool_rate: f64,
    pub ambient_c: f64,
}

impl MotorParams {
    /// A Feetech STS3215 at 12 V: 46 rpm no-load.
    pub fn sts3215() -> Self {
        Self {
            ticks_per_rev: 4096.0,
            max_speed: 46.0 / 60.0 * 4096.0,
            max_accel: 60_000.0,
            kp: 80.0,
            heat_rate: 2.0,
            cool_rate: 0.02,
            ambient_c: 25.0,
        }
    }

    /// A Dynamixel XM430-W350 at 12 V: 46 rpm no-load.
    pub fn xm430() -> Self {
        Self {
            ticks_per_rev: 4096.0,
            max_speed: 46.0 / 60.0 * 4096.0,
            max_accel: 50_000.0,
            kp: 80.0,
            heat_rate: 1.5,
            cool_rate: 0.02,
            ambient_c: 25.0,
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
    /// Goal, ticks.
    pub goal: f64,
    pub torque_on: bool,
    /// Load, fraction of stall torque, signed, in [-1, 1].
    pub load: f64,
    pub temperature_c: f64,
    /// Speed cap from the goal-speed register, ticks/s (0 = no cap).
    pub speed_cap: f64,
    /// Time spent at full torque, s (decays when below): overload protection trips
    /// after [`OVERLOAD_S`] of sustained saturation, as real servos do.
    pub saturated_s: f64,
}

/// Sustained full-torque time after which a servo reports overload, s.
pub const OVERLOAD_S: f64 = 0.5;

impl Motor {
    pub fn new(params: MotorParams, pos: f64) -> Self {
        Self {
            params,
            pos,
            vel: 0.0,
            goal: pos,
            torque_on: false,
            load: 0.0,
            temperature_c: params.ambient_c,
            speed_cap: 0.0,
            saturated_s: 0.0,
        }
    }

    /// Advances `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        let p = self.params;
        let target_vel = if self.torque_on {
            let vmax = if self.speed_cap > 0.0 {
                self.speed_cap.min(p.max_speed)
            } else {
                p.max_speed
            };
            (p.kp * (self.goal - self.pos)).clamp(-vmax, vmax)
        } else {
            0.0
        };
        // Available acceleration falls with speed when driving (DC motor curve);
        // braking has the full stall torque.
        let dv = target_vel - self.vel;
        let headroom = if dv * self.vel > 0.0 {
            (1.0 - self.vel.abs() / p.max_speed).max(0.05)
        } else {
            1.0
        };
        let amax = if self.torque_on {
            p.max_accel * headroom
        } else {
            p.max_accel * 0.2
        };
        let step = dv.clamp(-amax * dt, amax * dt);
        self.load = if self.torque_on {
            (step / (p.max_accel * dt).max(1e-9)).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        // Holding against the position error costs torque too.
        if self.torque_on {
            let hold = ((self.goal - self.pos) / 50.0).clamp(-1.0, 1.0);
            if self.load.abs() < hold.abs() {
                self.load = hold;
            }
        }
        self.saturated_s = if self.load.abs() >= 0.999 {
            self.saturated_s + dt
        } else {
            (self.saturated_s - dt).max(0.0)
        };
        self.vel += step;
        self.pos += self.vel * dt;
        let heat =
            p.heat_rate * self.load * self.load - p.cool_rate * (self.temperature_c - p.ambient_c);
        self.temperature_c += heat * dt;
    }

    /// Overload protection has tripped.
    pub fn overloaded(&self) -> bool {
        self.saturated_s >= OVERLOAD_S
    }

    pub fn moving(&self) -> bool {
        self.vel.abs() > 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_its_goal_at_no_more_than_its_speed() {
        let mut m = Motor::new(MotorParams::sts3215(), 2048.0);
        m.torque_on = true;
        m.goal = 3048.0;
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
        m.goal = 1000.0;
        for _ in 0..1000 {
            m.step(0.001);
        }
        assert_eq!(m.pos, 0.0);
    }
}

#[cfg(test)]
mod settle_tests {
    use super::*;

    #[test]
    fn settles_on_the_goal_after_a_full_speed_move() {
        for goal in [2948.0, 0.0, 4095.0, 2100.0] {
            let mut m = Motor::new(MotorParams::sts3215(), 2048.0);
            m.torque_on = true;
            m.goal = goal;
            for _ in 0..1000 {
                m.step(0.001);
            }
            assert!((m.pos - goal).abs() <= 1.0, "goal {goal}: at {}", m.pos);
            assert!(m.vel.abs() < 5.0);
        }
    }
}
