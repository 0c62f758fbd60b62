//! PID position controller with velocity feed-forward, optional gravity compensation
//! and anti-windup (conditional integration plus a clamp on the integral term).

use super::{ControlInput, JointController, PidConfig};

/// The running controller.
pub struct Pid {
    cfg: PidConfig,
    torque_limit: f64,
    integral: f64,
}

impl Pid {
    /// `torque_limit` is the servo's stall torque, N·m.
    pub fn new(cfg: PidConfig, torque_limit: f64) -> Self {
        Self {
            cfg,
            torque_limit,
            integral: 0.0,
        }
    }

    /// The integral term, N·m.
    pub fn integral(&self) -> f64 {
        self.integral
    }
}

impl JointController for Pid {
    fn update(&mut self, i: &ControlInput) -> f64 {
        let c = &self.cfg;
        let e = i.setpoint.pos - i.measured.pos;
        let de = i.setpoint.vel - i.measured.vel;
        let ff = c.velocity_ff * i.setpoint.vel
            - if c.gravity_compensation {
                i.gravity_torque
            } else {
                0.0
            };
        let pd = c.kp * e + c.kd * de + ff;
        let ilim = c.integral_limit_nm.unwrap_or(self.torque_limit);
        let candidate = (self.integral + c.ki * e * i.dt).clamp(-ilim, ilim);
        let unsat = pd + candidate;
        let out = unsat.clamp(-self.torque_limit, self.torque_limit);
        // Anti-windup: integrate only while the output is not saturated in the
        // direction the error pushes it.
        let winding =
            (unsat > self.torque_limit && e > 0.0) || (unsat < -self.torque_limit && e < 0.0);
        if !winding {
            self.integral = candidate;
        }
        out
    }

    fn reset(&mut self) {
        self.integral = 0.0;
    }

    fn kind(&self) -> &'static str {
        "pid"
    }

    fn set_gains(&mut self, g: &super::Gains) -> bool {
        self.cfg.kp = g.kp;
        self.cfg.ki = g.ki;
        self.cfg.kd = g.kd;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Measured, Setpoint};

    fn input(e: f64, dt: f64) -> ControlInput {
        ControlInput {
            t: 0.0,
            dt,
            setpoint: Setpoint {
                pos: e,
                vel: 0.0,
                acc: 0.0,
            },
            measured: Measured::default(),
            gravity_torque: 0.0,
        }
    }

    #[test]
    fn integral_does_not_wind_up_while_saturated() {
        let cfg = PidConfig {
            kp: 100.0,
            ki: 50.0,
            kd: 0.0,
            velocity_ff: 0.0,
            gravity_compensation: false,
            integral_limit_nm: None,
        };
        let mut pid = Pid::new(cfg, 1.0);
        for _ in 0..1000 {
            assert_eq!(pid.update(&input(1.0, 0.001)), 1.0);
        }
        assert_eq!(
            pid.integral(),
            0.0,
            "integrator grew while the output was saturated"
        );
    }

    #[test]
    fn integral_removes_constant_offset() {
        let cfg = PidConfig {
            kp: 1.0,
            ki: 10.0,
            kd: 0.0,
            velocity_ff: 0.0,
            gravity_compensation: false,
            integral_limit_nm: Some(0.5),
        };
        let mut pid = Pid::new(cfg, 10.0);
        let mut out = 0.0;
        for _ in 0..10_000 {
            out = pid.update(&input(0.01, 0.001));
        }
        // kp·e = 0.01; integral is clamped at 0.5.
        assert!((out - 0.51).abs() < 1e-9, "{out}");
    }

    #[test]
    fn new_gains_act_at_once_and_keep_the_integrator() {
        let cfg = PidConfig {
            kp: 1.0,
            ki: 10.0,
            kd: 0.0,
            velocity_ff: 0.0,
            gravity_compensation: false,
            integral_limit_nm: None,
        };
        let mut pid = Pid::new(cfg, 100.0);
        for _ in 0..100 {
            pid.update(&input(0.1, 0.001));
        }
        let held = pid.integral();
        assert!(held > 0.0);
        assert!(pid.set_gains(&crate::control::Gains {
            kp: 5.0,
            ki: 0.0,
            kd: 0.0
        }));
        let out = pid.update(&input(0.1, 0.001));
        assert!((out - (5.0 * 0.1 + held)).abs() < 1e-12, "{out}");
        assert_eq!(pid.integral(), held, "ki = 0 freezes the integrator");
    }

    #[test]
    fn gravity_compensation_cancels_gravity_torque() {
        let cfg = PidConfig {
            kp: 0.0,
            ki: 0.0,
            kd: 0.0,
            velocity_ff: 0.0,
            gravity_compensation: true,
            integral_limit_nm: None,
        };
        let mut pid = Pid::new(cfg, 10.0);
        let mut i = input(0.0, 0.001);
        i.gravity_torque = -2.5;
        assert_eq!(pid.update(&i), 2.5);
    }
}
