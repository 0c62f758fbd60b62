//! Joint targets commanded from outside the run, as a stream (ROS 2's joint command
//! topic, `crate::telemetry::ros2`): a position (and velocity) for the joint's own
//! controller to track, and/or an effort. A stream at the sender's rate is state, not
//! a queue of commands: each joint's latest target wins, in one [`Targets`] cell that
//! the writer (a Zenoh callback thread) updates and the executor reads once per
//! physics step, copying only when its version changed (a [`Latest`] cell, read
//! without ever waiting on the writer). The control channel stays
//! for commands at human rate.

use std::sync::Arc;

use crate::sys::latest::Latest;

/// What a joint is commanded to do (SI units: rad or m, rad/s or m/s, N·m or N).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Target {
    /// Position to track; its velocity feeds forward when given.
    pub pos: Option<f64>,
    pub vel: Option<f64>,
    /// Effort: added to the controller's output, or, without a position, the
    /// joint's torque itself (the controller is bypassed).
    pub effort: Option<f64>,
}

impl Target {
    /// A target with nothing in it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.pos.is_none() && self.effort.is_none()
    }

    /// Every value given is finite.
    pub fn is_finite(&self) -> bool {
        [self.pos, self.vel, self.effort]
            .iter()
            .flatten()
            .all(|v| v.is_finite())
    }

    /// The torque to apply when the joint's controller asks for `controller` N·m.
    pub fn torque(&self, controller: f64) -> f64 {
        match (self.pos, self.effort) {
            (None, Some(e)) => e,
            (Some(_), Some(e)) => controller + e,
            (_, None) => controller,
        }
    }
}

/// The latest target of each joint, shared between the writer and the run.
#[derive(Clone)]
pub struct Targets {
    /// Where the targets come from, for events (e.g. `ROS 2 /joint_commands`).
    source: Arc<str>,
    names: Arc<[String]>,
    cell: Latest<Vec<Option<Target>>>,
}

impl Targets {
    /// A cell per joint, in the run's joint order, for targets from `source`.
    pub fn new(source: impl Into<String>, names: Vec<String>) -> Self {
        let n = names.len();
        Self {
            source: source.into().into(),
            names: names.into(),
            cell: Latest::new(vec![None; n]),
        }
    }

    /// Where the targets come from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Joint `name`'s index.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Sets joint `i`'s target (the latest wins); an empty target or an unknown
    /// index changes nothing.
    pub fn set(&self, i: usize, t: Target) {
        if t.is_empty() || i >= self.names.len() {
            return;
        }
        self.cell.update(|v| v[i] = Some(t));
    }

    /// Copies every joint's target into `out` if anything changed since version
    /// `seen` (then updated). Never waits: while the writer holds the cell, this is
    /// false and the news is taken next step.
    pub fn changed(&self, seen: &mut u64, out: &mut Vec<Option<Target>>) -> bool {
        self.cell.try_changed_into(seen, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(p: f64) -> Target {
        Target {
            pos: Some(p),
            ..Default::default()
        }
    }

    #[test]
    fn the_latest_target_wins_and_is_copied_once() {
        let t = Targets::new("test", vec!["a".into(), "b".into()]);
        let (mut seen, mut out) = (0, Vec::new());
        assert!(!t.changed(&mut seen, &mut out));
        t.set(1, pos(0.1));
        t.set(1, pos(0.2));
        assert!(t.changed(&mut seen, &mut out));
        assert_eq!(out, vec![None, Some(pos(0.2))]);
        assert!(!t.changed(&mut seen, &mut out), "no news, no copy");
        t.set(5, pos(1.0));
        t.set(0, Target::default());
        assert!(
            !t.changed(&mut seen, &mut out),
            "unknown joint, empty target"
        );
        assert_eq!(t.index("b"), Some(1));
        assert_eq!(t.index("c"), None);
    }

    #[test]
    fn effort_alone_is_the_torque_with_a_position_it_feeds_forward() {
        let e = Target {
            effort: Some(0.3),
            ..Default::default()
        };
        assert_eq!(e.torque(1.0), 0.3);
        let pe = Target {
            effort: Some(0.3),
            ..pos(0.0)
        };
        assert_eq!(pe.torque(1.0), 1.3);
        assert_eq!(pos(0.0).torque(1.0), 1.0);
        assert!(
            !Target {
                vel: Some(f64::NAN),
                ..pos(0.0)
            }
            .is_finite()
        );
    }
}
