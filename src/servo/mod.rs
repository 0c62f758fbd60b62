//! The servo actuator model: what sits between a controller's torque command and the
//! joint, and between the joint and what the controller is told.
//!
//! Output side: the torque limit (stall torque) falls linearly with speed to zero at
//! the no-load speed (DC motor curve) when driving, and the full stall torque is
//! available for braking. Sensor side: the output encoder quantises position to
//! `2π / ticks` rad (per metre for prismatic joints), with optional Gaussian noise,
//! and velocity to `velocity_resolution_rad_s`. Gear ratio reflects the rotor inertia
//! into joint armature; backlash and viscous/Coulomb friction are applied by the
//! physics (see `physics`), from the same [`ServoSpec`].

pub mod firmware;
pub mod protection;
pub mod spec;
mod thermal;
pub use thermal::Thermal;

use rand::Rng;

use crate::control::Measured;
use crate::scene::JointKind;
pub use spec::ServoSpec;

/// Runtime model of one servo.
#[derive(Debug, Clone)]
pub struct ServoModel {
    pub spec: ServoSpec,
    /// Position resolution, rad (or m).
    pub resolution: f64,
}

/// The torque actually delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivered {
    /// N·m.
    pub torque: f64,
    /// The command exceeded what the motor could deliver.
    pub saturated: bool,
}

impl ServoModel {
    pub fn new(spec: &ServoSpec, kind: JointKind) -> Self {
        let ticks = spec.encoder_ticks_per_rev as f64;
        let resolution = match kind {
            JointKind::Prismatic => 1.0 / ticks,
            _ => std::f64::consts::TAU / ticks,
        };
        Self {
            spec: spec.clone(),
            resolution,
        }
    }

    /// Rotor inertia reflected to the joint, kg·m².
    pub fn armature(&self) -> f64 {
        self.spec.rotor_inertia_kgm2 * self.spec.gear_ratio * self.spec.gear_ratio
    }

    /// Largest torque deliverable at joint velocity `vel` in the direction of `cmd`.
    pub fn available(&self, cmd: f64, vel: f64) -> f64 {
        let stall = self.spec.stall_torque_nm;
        if cmd * vel > 0.0 {
            stall * (1.0 - vel.abs() / self.spec.no_load_speed_rad_s).max(0.0)
        } else {
            stall
        }
    }

    /// Clamps a command to the torque-speed envelope. NaN commands deliver nothing.
    pub fn deliver(&self, cmd: f64, vel: f64) -> Delivered {
        if !cmd.is_finite() {
            return Delivered {
                torque: 0.0,
                saturated: true,
            };
        }
        let lim = self.available(cmd, vel);
        if cmd.abs() > lim {
            Delivered {
                torque: lim.copysign(cmd),
                saturated: true,
            }
        } else {
            Delivered {
                torque: cmd,
                saturated: false,
            }
        }
    }

    /// What the servo reports for true output position/velocity.
    pub fn measure(&self, pos: f64, vel: f64, torque: f64, rng: &mut impl Rng) -> Measured {
        let noisy = if self.spec.noise_ticks > 0.0 {
            pos + gaussian(rng) * self.spec.noise_ticks * self.resolution
        } else {
            pos
        };
        let q = (noisy / self.resolution).round() * self.resolution;
        let vr = self.spec.velocity_resolution_rad_s;
        let v = if vr > 0.0 {
            (vel / vr).round() * vr
        } else {
            vel
        };
        Measured {
            pos: q,
            vel: v,
            torque,
        }
    }
}

/// Standard normal sample (Box–Muller), from a seeded generator.
pub fn gaussian(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn sts() -> ServoSpec {
        ServoSpec {
            gear_ratio: 345.0,
            stall_torque_nm: 3.35,
            no_load_speed_rad_s: 4.8,
            rotor_inertia_kgm2: 0.028 / (345.0 * 345.0),
            damping_nm_s_per_rad: 0.6,
            friction_nm: 0.052,
            encoder_ticks_per_rev: 4096,
            backlash_rad: 0.0087,
            noise_ticks: 0.0,
            velocity_resolution_rad_s: 0.0,
            hold_kp: 17.8,
            hold_kd: 0.2,
            protection: None,
        }
    }

    #[test]
    fn armature_is_rotor_inertia_times_ratio_squared() {
        let m = ServoModel::new(&sts(), JointKind::Revolute);
        assert!((m.armature() - 0.028).abs() < 1e-12);
    }

    #[test]
    fn torque_falls_with_speed_when_driving_but_not_when_braking() {
        let m = ServoModel::new(&sts(), JointKind::Revolute);
        assert_eq!(m.deliver(10.0, 0.0).torque, 3.35);
        let half = m.deliver(10.0, 2.4);
        assert!((half.torque - 1.675).abs() < 1e-9 && half.saturated);
        assert_eq!(m.deliver(10.0, 9.0).torque, 0.0);
        assert_eq!(m.deliver(-10.0, 2.4).torque, -3.35);
        assert!(!m.deliver(1.0, 0.0).saturated);
        assert_eq!(m.deliver(f64::NAN, 0.0).torque, 0.0);
    }

    #[test]
    fn encoder_quantises_to_ticks() {
        let m = ServoModel::new(&sts(), JointKind::Revolute);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let res = std::f64::consts::TAU / 4096.0;
        let r = m.measure(0.3 * res, 0.0, 0.0, &mut rng);
        assert_eq!(r.pos, 0.0);
        let r = m.measure(10.6 * res, 0.0, 0.0, &mut rng);
        assert!((r.pos - 11.0 * res).abs() < 1e-15);
    }
}
