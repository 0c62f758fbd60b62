//! Trajectories: timed joint-space waypoints (monotone cubic interpolation: continuous
//! velocity, no overshoot past a waypoint, so a path inside the limits stays inside),
//! per-joint sinusoids faded in without a velocity step, and hold.

use super::Setpoint;
use crate::scene::{JointConfig, TrajectorySpec};

/// One joint's reference over time.
#[derive(Debug, Clone, PartialEq)]
pub enum JointTrajectory {
    Hold(f64),
    Spline {
        t: Vec<f64>,
        q: Vec<f64>,
        m: Vec<f64>,
    },
    Sine {
        center: f64,
        amplitude: f64,
        omega: f64,
        phase: f64,
        ramp_s: f64,
    },
}

/// References for every actuated joint, index-aligned with `Scene::joints`.
#[derive(Debug, Clone)]
pub struct Trajectory {
    pub joints: Vec<JointTrajectory>,
}

impl Trajectory {
    /// Builds per-joint references from validated segments; unnamed joints hold.
    pub fn new(spec: &[TrajectorySpec], joints: &[JointConfig]) -> Self {
        let idx = |n: &str| joints.iter().position(|j| j.name == n);
        let mut out: Vec<JointTrajectory> = joints
            .iter()
            .map(|j| JointTrajectory::Hold(j.initial))
            .collect();
        for seg in spec {
            match seg {
                TrajectorySpec::Hold { .. } => {}
                TrajectorySpec::Waypoints {
                    joints: names,
                    points,
                } => {
                    for (k, n) in names.iter().enumerate() {
                        let Some(i) = idx(n) else { continue };
                        let mut t = Vec::with_capacity(points.len() + 1);
                        let mut q = Vec::with_capacity(points.len() + 1);
                        if points.first().is_some_and(|p| p.t > 0.0) {
                            t.push(0.0);
                            q.push(joints[i].initial);
                        }
                        for p in points {
                            t.push(p.t);
                            q.push(p.q.get(k).copied().unwrap_or(joints[i].initial));
                        }
                        out[i] = JointTrajectory::spline(t, q);
                    }
                }
                TrajectorySpec::Sine {
                    joint,
                    amplitude,
                    freq_hz,
                    center,
                    phase,
                    ramp_s,
                } => {
                    if let Some(i) = idx(joint) {
                        out[i] = JointTrajectory::Sine {
                            center: center.unwrap_or(joints[i].initial),
                            amplitude: *amplitude,
                            omega: std::f64::consts::TAU * freq_hz,
                            phase: *phase,
                            ramp_s: *ramp_s,
                        };
                    }
                }
            }
        }
        Self { joints: out }
    }

    /// Setpoint of joint `i` at time `t`.
    pub fn sample(&self, i: usize, t: f64) -> Setpoint {
        self.joints[i].sample(t)
    }
}

impl JointTrajectory {
    /// Monotone cubic (Fritsch–Carlson) through the points, zero velocity at the ends.
    pub fn spline(t: Vec<f64>, q: Vec<f64>) -> Self {
        let n = t.len();
        let mut m = vec![0.0; n];
        if n >= 3 {
            let d: Vec<f64> = (0..n - 1)
                .map(|k| (q[k + 1] - q[k]) / (t[k + 1] - t[k]))
                .collect();
            for k in 1..n - 1 {
                if d[k - 1] * d[k] > 0.0 {
                    let (h0, h1) = (t[k] - t[k - 1], t[k + 1] - t[k]);
                    let (w1, w2) = (2.0 * h1 + h0, h1 + 2.0 * h0);
                    m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k]);
                }
            }
        }
        JointTrajectory::Spline { t, q, m }
    }

    /// The reference at time `t` (s).
    pub fn sample(&self, time: f64) -> Setpoint {
        match self {
            JointTrajectory::Hold(q) => Setpoint {
                pos: *q,
                vel: 0.0,
                acc: 0.0,
            },
            JointTrajectory::Spline { t, q, m } => {
                let n = t.len();
                if n == 0 {
                    return Setpoint::default();
                }
                if time <= t[0] {
                    return Setpoint {
                        pos: q[0],
                        vel: 0.0,
                        acc: 0.0,
                    };
                }
                if time >= t[n - 1] {
                    return Setpoint {
                        pos: q[n - 1],
                        vel: 0.0,
                        acc: 0.0,
                    };
                }
                let k = t.partition_point(|&x| x <= time) - 1;
                let h = t[k + 1] - t[k];
                let s = (time - t[k]) / h;
                let (s2, s3) = (s * s, s * s * s);
                let (p0, p1, m0, m1) = (q[k], q[k + 1], m[k] * h, m[k + 1] * h);
                let pos = (2.0 * s3 - 3.0 * s2 + 1.0) * p0
                    + (s3 - 2.0 * s2 + s) * m0
                    + (-2.0 * s3 + 3.0 * s2) * p1
                    + (s3 - s2) * m1;
                let dpos = (6.0 * s2 - 6.0 * s) * p0
                    + (3.0 * s2 - 4.0 * s + 1.0) * m0
                    + (-6.0 * s2 + 6.0 * s) * p1
                    + (3.0 * s2 - 2.0 * s) * m1;
                let ddpos = (12.0 * s - 6.0) * p0
                    + (6.0 * s - 4.0) * m0
                    + (-12.0 * s + 6.0) * p1
                    + (6.0 * s - 2.0) * m1;
                Setpoint {
                    pos,
                    vel: dpos / h,
                    acc: ddpos / (h * h),
                }
            }
            JointTrajectory::Sine {
                center,
                amplitude,
                omega,
                phase,
                ramp_s,
            } => {
                // Fade-in r(t) = smoothstep over ramp_s; q = c + A·r·(sin(ωt+φ) − sin φ)
                // so q(0) = c and q'(0) = 0.
                let (r, dr, ddr) = if *ramp_s <= 0.0 || time >= *ramp_s {
                    (1.0, 0.0, 0.0)
                } else {
                    let x = (time / ramp_s).max(0.0);
                    (
                        x * x * (3.0 - 2.0 * x),
                        6.0 * x * (1.0 - x) / ramp_s,
                        (6.0 - 12.0 * x) / (ramp_s * ramp_s),
                    )
                };
                let w = omega * time + phase;
                let base = if *ramp_s > 0.0 { phase.sin() } else { 0.0 };
                let f = w.sin() - base;
                let df = omega * w.cos();
                let ddf = -omega * omega * w.sin();
                Setpoint {
                    pos: center + amplitude * r * f,
                    vel: amplitude * (dr * f + r * df),
                    acc: amplitude * (ddr * f + 2.0 * dr * df + r * ddf),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spline_passes_through_waypoints_without_overshoot() {
        let tr = JointTrajectory::spline(vec![0.0, 1.0, 2.0, 3.0], vec![0.0, 1.0, 1.0, -0.5]);
        for (t, q) in [(0.0, 0.0), (1.0, 1.0), (2.0, 1.0), (3.0, -0.5)] {
            assert!((tr.sample(t).pos - q).abs() < 1e-12);
        }
        let mut prev = tr.sample(0.0).pos;
        for k in 1..=3000 {
            let s = tr.sample(k as f64 * 1e-3);
            assert!(
                s.pos <= 1.0 + 1e-12 && s.pos >= -0.5 - 1e-12,
                "overshoot at {k}: {}",
                s.pos
            );
            // velocity is the derivative of position
            let fd = (s.pos - prev) / 1e-3;
            assert!(
                (fd - s.vel).abs() < 0.01,
                "vel mismatch at {k}: {fd} vs {}",
                s.vel
            );
            prev = s.pos;
        }
    }

    #[test]
    fn sine_starts_at_center_with_zero_velocity() {
        let tr = JointTrajectory::Sine {
            center: 0.2,
            amplitude: 0.5,
            omega: 3.0,
            phase: 1.0,
            ramp_s: 0.5,
        };
        let s = tr.sample(0.0);
        assert!((s.pos - 0.2).abs() < 1e-12 && s.vel.abs() < 1e-12);
        let late = tr.sample(10.0);
        let expect = 0.2 + 0.5 * ((3.0f64 * 10.0 + 1.0).sin() - 1.0f64.sin());
        assert!((late.pos - expect).abs() < 1e-12);
    }
}
