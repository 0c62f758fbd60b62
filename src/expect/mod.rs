//! Expectations: what a scene says must hold at the end of its run, e.g.
//! `expect: [JointState(joint: "elbow", state: Faulted, within_ms: 5, after: 2.0),
//! Tracking(joints: Others, rms_below: 0.02), NoDeadlineMisses(joints: Others),
//! Recovered(joint: "elbow", within_ms: 100)]`.
//!
//! Scenes with a `world` can judge contacts and objects: `NoCollision(links: All)`,
//! `MaxContactForce(link: "gripper", below_n: 20)`, `ObjectAt(object: "cube", xyz:
//! (0.25, 0.15, 0.015), tol_m: 0.01)`, `Grasped(object: "cube", from_s: 2, to_s: 4)`.
//!
//! Served runs (`armhil serve`) can also judge the host software's reactions:
//! `HostTorqueOff(joint: "gripper", within_ms: 100)`,
//! `HostStopsWriting(joint: "elbow_flex", within_ms: 200)`.
//!
//! They are checked against the run's [`Report`] only (its joints, event log and fault
//! records), so a report saved as JSON can be re-judged later. "Others" means the
//! joints that no fault was injected on: the ones that must not notice.

use crate::report::{JointHealth, Report, Verdict};

mod host;
pub mod spec;
mod world;

pub use spec::{Expectation, Joints, Links};

impl Expectation {
    /// Short text of the expectation for tables and JUnit names.
    pub fn label(&self) -> String {
        match self {
            Expectation::JointState {
                joint,
                state,
                within_ms,
                after,
            } => format!(
                "JointState({joint} -> {} within {within_ms} ms after {after} s)",
                state.as_str()
            ),
            Expectation::FinalState { joint, state } => {
                format!("FinalState({joint} = {})", state.as_str())
            }
            Expectation::Tracking { joints, rms_below } => {
                format!("Tracking({} rms < {rms_below})", joints_label(joints))
            }
            Expectation::NoDeadlineMisses { joints } => {
                format!("NoDeadlineMisses({})", joints_label(joints))
            }
            Expectation::Recovered { joint, within_ms } => {
                format!("Recovered({joint} within {within_ms} ms)")
            }
            Expectation::FaultsDetected { within_ms } => match within_ms {
                Some(ms) => format!("FaultsDetected(within {ms} ms)"),
                None => "FaultsDetected".into(),
            },
            Expectation::EStop { latched } => format!("EStop(latched: {latched})"),
            Expectation::HostTorqueOff { joint, within_ms } => {
                format!("HostTorqueOff({joint} within {within_ms} ms of an error bit)")
            }
            Expectation::HostStopsWriting { joint, within_ms } => {
                format!("HostStopsWriting({joint} within {within_ms} ms of silence)")
            }
            Expectation::NoCollision { links } => match links {
                Links::All => "NoCollision(all links)".into(),
                Links::Only(v) => format!("NoCollision({})", v.join(", ")),
            },
            Expectation::MaxContactForce { link, below_n } => {
                format!("MaxContactForce({link} < {below_n} N)")
            }
            Expectation::ObjectAt { object, xyz, tol_m } => format!(
                "ObjectAt({object} within {tol_m} m of ({}, {}, {}))",
                xyz[0], xyz[1], xyz[2]
            ),
            Expectation::Grasped {
                object,
                from_s,
                to_s,
            } => format!("Grasped({object} from {from_s} s to {to_s} s)"),
        }
    }

    /// Range and name checks; `push(field, message)` records each problem.
    pub fn validate(
        &self,
        f: &str,
        joints: &[&str],
        duration_s: f64,
        push: &mut dyn FnMut(String, String),
    ) {
        let joint = |name: &str, push: &mut dyn FnMut(String, String)| {
            if let Some(m) = crate::faults::spec::unknown_joint(name, joints) {
                push(format!("{f}.joint"), m);
            }
        };
        let ms = |field: &str, v: f64, push: &mut dyn FnMut(String, String)| {
            if !v.is_finite() || v < 0.0 || v > duration_s * 1000.0 {
                push(
                    format!("{f}.{field}"),
                    format!(
                        "{v} is out of range: expected 0 ..= {} ms (the run's duration)",
                        duration_s * 1000.0
                    ),
                );
            }
        };
        match self {
            Expectation::JointState {
                joint: j,
                within_ms,
                after,
                ..
            } => {
                joint(j, push);
                ms("within_ms", *within_ms, push);
                if !after.is_finite() || *after < 0.0 || *after > duration_s {
                    push(
                        format!("{f}.after"),
                        format!("{after} is out of range: expected 0 ..= {duration_s} s"),
                    );
                }
            }
            Expectation::FinalState { joint: j, .. } => joint(j, push),
            Expectation::Recovered {
                joint: j,
                within_ms,
            } => {
                joint(j, push);
                ms("within_ms", *within_ms, push);
            }
            Expectation::Tracking {
                joints: set,
                rms_below,
            } => {
                if let Joints::Only(v) = set {
                    for j in v {
                        joint(j, push);
                    }
                }
                if !rms_below.is_finite() || *rms_below <= 0.0 {
                    push(
                        format!("{f}.rms_below"),
                        format!("{rms_below} is out of range: expected > 0 rad"),
                    );
                }
            }
            Expectation::NoDeadlineMisses {
                joints: Joints::Only(v),
            } => {
                for j in v {
                    joint(j, push);
                }
            }
            Expectation::FaultsDetected { within_ms: Some(v) } => ms("within_ms", *v, push),
            Expectation::HostTorqueOff {
                joint: j,
                within_ms,
            }
            | Expectation::HostStopsWriting {
                joint: j,
                within_ms,
            } => {
                joint(j, push);
                ms("within_ms", *within_ms, push);
            }
            _ => {}
        }
    }

    /// Checks of the world expectations: the scene has a world, the links and objects
    /// they name exist, and their numbers are in range.
    pub fn validate_world(
        &self,
        f: &str,
        world: Option<(&[&str], &[&str])>,
        duration_s: f64,
        push: &mut dyn FnMut(String, String),
    ) {
        let (links, objects): (&[&str], &[&str]) = match (self, world) {
            (
                Expectation::NoCollision { .. }
                | Expectation::MaxContactForce { .. }
                | Expectation::ObjectAt { .. }
                | Expectation::Grasped { .. },
                None,
            ) => {
                return push(
                    f.to_string(),
                    "judges contacts, but the scene has no `world: (...)`".into(),
                );
            }
            (_, Some(w)) => w,
            (_, None) => return,
        };
        let known = |field: String,
                     name: &str,
                     set: &[&str],
                     what: &str,
                     push: &mut dyn FnMut(String, String)| {
            if !set.contains(&name) {
                push(
                    field,
                    format!("unknown {what} {name:?}: expected one of {set:?}"),
                );
            }
        };
        let positive = |field: String, v: f64, unit: &str, push: &mut dyn FnMut(String, String)| {
            if !(v.is_finite() && v > 0.0) {
                push(field, format!("{v} is out of range: expected > 0 {unit}"));
            }
        };
        match self {
            Expectation::NoCollision {
                links: Links::Only(v),
            } => {
                for (k, l) in v.iter().enumerate() {
                    known(format!("{f}.links[{k}]"), l, links, "link", push);
                }
            }
            Expectation::MaxContactForce { link, below_n } => {
                known(format!("{f}.link"), link, links, "link", push);
                positive(format!("{f}.below_n"), *below_n, "N", push);
            }
            Expectation::ObjectAt { object, xyz, tol_m } => {
                known(format!("{f}.object"), object, objects, "object", push);
                positive(format!("{f}.tol_m"), *tol_m, "m", push);
                for (k, v) in xyz.iter().enumerate() {
                    if !v.is_finite() {
                        push(
                            format!("{f}.xyz[{k}]"),
                            format!("{v} is not a finite number"),
                        );
                    }
                }
            }
            Expectation::Grasped {
                object,
                from_s,
                to_s,
            } => {
                known(format!("{f}.object"), object, objects, "object", push);
                if !(0.0..=duration_s).contains(from_s) {
                    push(
                        format!("{f}.from_s"),
                        format!("{from_s} is out of range: expected 0 ..= {duration_s} s"),
                    );
                }
                if !(*to_s >= *from_s && *to_s <= duration_s) {
                    push(
                        format!("{f}.to_s"),
                        format!(
                            "{to_s} is out of range: expected from_s ({from_s}) ..= {duration_s} s"
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    /// Judges this expectation on a finished run.
    pub fn check(&self, r: &Report) -> Verdict {
        let (passed, detail) = match self {
            Expectation::JointState {
                joint,
                state,
                within_ms,
                after,
            } => {
                let until = after + within_ms / 1000.0 + 1e-9;
                let hit = state_changes(r, joint)
                    .into_iter()
                    .find(|(t, s)| *s == *state && *t + 1e-9 >= *after && *t <= until);
                match hit {
                    Some((t, _)) => (
                        true,
                        format!(
                            "{} at {t:.4} s ({:.1} ms after {after} s)",
                            state.as_str(),
                            (t - after) * 1e3
                        ),
                    ),
                    None => (
                        false,
                        format!(
                            "never {} in [{after}, {until:.4}] s; transitions: {}",
                            state.as_str(),
                            transitions_text(r, joint)
                        ),
                    ),
                }
            }
            Expectation::FinalState { joint, state } => {
                match r.joints.iter().find(|j| &j.name == joint) {
                    Some(j) => (j.state == *state, format!("ended {}", j.state.as_str())),
                    None => (false, "no such joint in the report".into()),
                }
            }
            Expectation::Tracking { joints, rms_below } => {
                let mut worst: Option<(String, f64)> = None;
                for j in select(r, joints) {
                    let e = r
                        .joints
                        .iter()
                        .find(|x| x.name == j)
                        .map_or(f64::INFINITY, |x| x.rms_error_rad);
                    if worst.as_ref().is_none_or(|(_, w)| e > *w) {
                        worst = Some((j, e));
                    }
                }
                match worst {
                    Some((j, e)) => (e < *rms_below, format!("worst {j}: rms {e:.5}")),
                    None => (true, "no joints selected".into()),
                }
            }
            Expectation::NoDeadlineMisses { joints } => {
                let missed: Vec<String> = select(r, joints)
                    .into_iter()
                    .filter_map(|j| {
                        r.joints
                            .iter()
                            .find(|x| x.name == j && x.deadline_misses > 0)
                            .map(|x| format!("{} ({})", x.name, x.deadline_misses))
                    })
                    .collect();
                (
                    missed.is_empty(),
                    if missed.is_empty() {
                        "none".into()
                    } else {
                        format!("misses: {}", missed.join(", "))
                    },
                )
            }
            Expectation::Recovered { joint, within_ms } => recovered(r, joint, *within_ms),
            Expectation::FaultsDetected { within_ms } => {
                let bad: Vec<String> = r
                    .faults
                    .iter()
                    .filter(|f| !f.toward_host)
                    .filter(|f| match (f.detection_latency_s, within_ms) {
                        (None, _) => true,
                        (Some(l), Some(ms)) => l * 1e3 > *ms + 1e-6,
                        (Some(_), None) => false,
                    })
                    .map(|f| {
                        format!(
                            "{} on {} at {} s: {}",
                            f.kind,
                            f.joint,
                            f.at,
                            f.detection_latency_s
                                .map_or("undetected".into(), |l| format!("{:.1} ms", l * 1e3))
                        )
                    })
                    .collect();
                (
                    bad.is_empty(),
                    if bad.is_empty() {
                        format!("{} of {} detected", r.faults.len(), r.faults.len())
                    } else {
                        bad.join("; ")
                    },
                )
            }
            Expectation::EStop { latched } => {
                let got = r.estop.is_some();
                (
                    got == *latched,
                    r.estop.clone().unwrap_or_else(|| "no e-stop".into()),
                )
            }
            Expectation::HostTorqueOff { joint, within_ms } => {
                host::torque_off(r, joint, *within_ms)
            }
            Expectation::HostStopsWriting { joint, within_ms } => {
                host::stops_writing(r, joint, *within_ms)
            }
            Expectation::NoCollision { links } => world::no_collision(r, links),
            Expectation::MaxContactForce { link, below_n } => world::max_force(r, link, *below_n),
            Expectation::ObjectAt { object, xyz, tol_m } => {
                world::object_at(r, object, *xyz, *tol_m)
            }
            Expectation::Grasped {
                object,
                from_s,
                to_s,
            } => world::grasped(r, object, *from_s, *to_s),
        };
        Verdict {
            expectation: self.label(),
            passed,
            detail,
        }
    }
}

fn joints_label(j: &Joints) -> String {
    match j {
        Joints::All => "All".into(),
        Joints::Others => "Others".into(),
        Joints::Only(v) => v.join(", "),
    }
}

/// Joint names of a set, in report order.
fn select(r: &Report, set: &Joints) -> Vec<String> {
    r.joints
        .iter()
        .map(|j| j.name.clone())
        .filter(|n| match set {
            Joints::All => true,
            Joints::Others => !r.faults.iter().any(|f| &f.joint == n),
            Joints::Only(v) => v.contains(n),
        })
        .collect()
}

/// (time, new state) of every state change of `joint`.
pub fn state_changes(r: &Report, joint: &str) -> Vec<(f64, JointHealth)> {
    r.events
        .iter()
        .filter(|e| e.joint == joint)
        .filter_map(|e| e.state.map(|s| (e.t, s)))
        .collect()
}

fn transitions_text(r: &Report, joint: &str) -> String {
    let v = state_changes(r, joint);
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|(t, s)| format!("{} at {t:.4}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// When `joint` is first OK at or after `from` s: `from` itself if it is OK then,
/// else its next change to OK; `None` if it never is.
pub fn ok_again(r: &Report, joint: &str, from: f64) -> Option<f64> {
    let changes = state_changes(r, joint);
    let at_from = changes
        .iter()
        .rev()
        .find(|(t, _)| *t <= from + 1e-12)
        .map_or(JointHealth::Ok, |(_, s)| *s);
    if at_from == JointHealth::Ok {
        return Some(from);
    }
    changes
        .iter()
        .find(|(t, s)| *t > from + 1e-12 && *s == JointHealth::Ok)
        .map(|(t, _)| *t)
}

/// The state `joint` ends the run in, from its event log.
fn final_state(r: &Report, joint: &str) -> JointHealth {
    state_changes(r, joint)
        .last()
        .map_or(JointHealth::Ok, |(_, s)| *s)
}

fn recovered(r: &Report, joint: &str, within_ms: f64) -> (bool, String) {
    let ends: Vec<f64> = r
        .faults
        .iter()
        .filter(|f| f.joint == joint)
        .filter_map(|f| f.ended_at)
        .collect();
    if r.faults
        .iter()
        .any(|f| f.joint == joint && f.ended_at.is_none())
    {
        return (false, "a fault on it never ended".into());
    }
    let Some(end) = ends.into_iter().reduce(f64::max) else {
        return (false, "no fault was injected on it".into());
    };
    if final_state(r, joint) != JointHealth::Ok {
        return (
            false,
            format!(
                "ends {} (last fault ended at {end:.4} s); transitions: {}",
                final_state(r, joint).as_str(),
                transitions_text(r, joint)
            ),
        );
    }
    match ok_again(r, joint, end) {
        Some(t) => {
            let ms = (t - end) * 1e3;
            (
                ms <= within_ms + 1e-6,
                format!("OK {ms:.1} ms after its last fault ended at {end:.4} s"),
            )
        }
        None => (
            false,
            format!(
                "not OK at the end (last fault ended at {end:.4} s); transitions: {}",
                transitions_text(r, joint)
            ),
        ),
    }
}

/// Judges all expectations.
pub fn check_all(exp: &[Expectation], r: &Report) -> Vec<Verdict> {
    exp.iter().map(|e| e.check(r)).collect()
}
