//! Commanded joints on the plant: a joint whose target comes from outside the run
//! (ROS 2's joint command topic) instead of its trajectory. The one rule for "where
//! is joint `i` meant to be now" lives here ([`Plant::target`]): everything that
//! judges or drives a joint against its goal (the controller's setpoint, the
//! statistics, a real servo's goal, the fault effects) asks it. The joint's own
//! service still closes the loop at its own rate, so supervision, safe states and
//! faults act as on any joint; a position beyond the joint's limits is held at the
//! limit, and the first command walks the joint onto it (as after a restart) rather
//! than stepping.

use super::*;
use crate::runtime::commanded::Target;

impl Plant {
    /// Joint `i`'s target now: its commanded position (clamped to its limits), its
    /// present state while it is commanded an effort alone (nothing to follow), or
    /// else its trajectory.
    pub fn target(&self, i: usize) -> crate::control::Setpoint {
        let j = &self.joints[i];
        match j.commanded {
            Some(Target {
                pos: Some(p), vel, ..
            }) => crate::control::Setpoint {
                pos: p.clamp(j.limits.0, j.limits.1),
                vel: vel.unwrap_or(0.0),
                acc: 0.0,
            },
            Some(Target {
                effort: Some(_), ..
            }) => {
                let st = self.world.joint_state(i);
                crate::control::Setpoint {
                    pos: st.pos,
                    vel: st.vel,
                    acc: 0.0,
                }
            }
            _ => self.traj.sample(i, self.t),
        }
    }

    /// Joint `i` is commanded `t` from now on (the latest wins). The first command
    /// is an event, and the joint walks onto it from where it is.
    pub fn command_target(&mut self, i: usize, t: Target, source: &str) {
        let Some(j) = self.joints.get_mut(i) else {
            return;
        };
        if t.is_empty() || !t.is_finite() || j.commanded == Some(t) {
            return;
        }
        let first = j.commanded.is_none();
        j.commanded = Some(t);
        if first {
            j.commanded_by = Some(source.to_string());
            let what = match (t.pos, t.effort) {
                (Some(_), Some(_)) => "position and effort",
                (Some(_), None) => "position",
                _ => "effort",
            };
            self.event(i, "commanded", format!("{what} from {source} from now on"));
            if t.pos.is_some() {
                self.resume(i);
            }
        }
    }
}
