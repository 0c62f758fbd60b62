//! Contacts as the run tells them (scenes with a `world`): begin and end events for
//! each pair of things (links, objects, the ground), and per-link and per-object
//! figures for the report. A contact ends only after it has been gone for
//! [`END_AFTER_S`], so a part resting lightly does not flicker in the event log.

use crate::physics::{Touch, Toucher};
use crate::report::{LinkContactReport, ObjectReport, world::Pose};

/// A contact absent this long has ended, s.
pub const END_AFTER_S: f64 = 0.01;

/// One pair in contact.
#[derive(Debug, Clone)]
struct Open {
    a: Toucher,
    b: Toucher,
    since: f64,
    last_seen: f64,
    max_force_n: f64,
}

/// The run's contact bookkeeping.
#[derive(Debug, Clone, Default)]
pub(super) struct ContactLog {
    link_names: Vec<String>,
    object_names: Vec<String>,
    open: Vec<Open>,
    links: Vec<LinkContactReport>,
    object_force: Vec<f64>,
    /// Per object: held since (s), and the spans it was held.
    held_since: Vec<Option<f64>>,
    held: Vec<Vec<(f64, f64)>>,
    /// Per link: touching anything this step (reused, not allocated per step).
    touching_links: Vec<bool>,
}

/// An event to log: (kind, detail).
pub(super) type ContactEvent = (&'static str, String);

impl ContactLog {
    pub(super) fn new(link_names: Vec<String>, object_names: Vec<String>) -> Self {
        Self {
            links: link_names
                .iter()
                .map(|n| LinkContactReport {
                    name: n.clone(),
                    contacts: 0,
                    max_contact_force_n: 0.0,
                    max_depth_m: 0.0,
                    contact_s: 0.0,
                })
                .collect(),
            object_force: vec![0.0; object_names.len()],
            held_since: vec![None; object_names.len()],
            held: vec![Vec::new(); object_names.len()],
            touching_links: vec![false; link_names.len()],
            link_names,
            object_names,
            open: Vec::new(),
        }
    }

    pub(super) fn name(&self, t: Toucher) -> &str {
        match t {
            Toucher::Link(k) => self.link_names.get(k).map_or("?", String::as_str),
            Toucher::Object(k) => self.object_names.get(k).map_or("?", String::as_str),
            Toucher::Ground => "ground",
        }
    }

    /// After the step that ended at `t` (of `dt` s) with `touches`.
    pub(super) fn step(&mut self, t: f64, dt: f64, touches: &[Touch], out: &mut Vec<ContactEvent>) {
        let mut touching_links = std::mem::take(&mut self.touching_links);
        touching_links.fill(false);
        for x in touches {
            for (me, force, depth) in [(x.a, x.force_n, x.depth_m), (x.b, x.force_n, x.depth_m)] {
                match me {
                    Toucher::Link(k) => {
                        if let Some(l) = self.links.get_mut(k) {
                            l.max_contact_force_n = l.max_contact_force_n.max(force);
                            l.max_depth_m = l.max_depth_m.max(depth);
                            touching_links[k] = true;
                        }
                    }
                    Toucher::Object(k) => {
                        if let Some(f) = self.object_force.get_mut(k) {
                            *f = f.max(force);
                        }
                    }
                    Toucher::Ground => {}
                }
            }
            match self.open.iter_mut().find(|o| (o.a, o.b) == (x.a, x.b)) {
                Some(o) => {
                    o.last_seen = t;
                    o.max_force_n = o.max_force_n.max(x.force_n);
                }
                None => {
                    for k in [x.a, x.b] {
                        if let Toucher::Link(k) = k
                            && let Some(l) = self.links.get_mut(k)
                        {
                            l.contacts += 1;
                        }
                    }
                    out.push((
                        "contact_begin",
                        format!("{} touches {}", self.name(x.a), self.name(x.b)),
                    ));
                    self.open.push(Open {
                        a: x.a,
                        b: x.b,
                        since: t,
                        last_seen: t,
                        max_force_n: x.force_n,
                    });
                }
            }
        }
        for (l, on) in self.links.iter_mut().zip(&touching_links) {
            if *on {
                l.contact_s += dt;
            }
        }
        self.touching_links = touching_links;
        let mut k = 0;
        while k < self.open.len() {
            let o = &self.open[k];
            if t - o.last_seen >= END_AFTER_S - 1e-9 {
                out.push((
                    "contact_end",
                    format!(
                        "{} left {} after {:.3} s, max {:.2} N",
                        self.name(o.a),
                        self.name(o.b),
                        o.last_seen - o.since,
                        o.max_force_n
                    ),
                ));
                self.open.remove(k);
            } else {
                k += 1;
            }
        }
        self.holding(t);
    }

    /// Which objects the arm holds now: in contact with two or more links and with
    /// nothing else (the ground, another object).
    fn holding(&mut self, t: f64) {
        for k in 0..self.held.len() {
            let me = Toucher::Object(k);
            let mut links = Vec::new();
            let mut other = false;
            for o in self.open.iter().filter(|o| o.a == me || o.b == me) {
                match if o.a == me { o.b } else { o.a } {
                    Toucher::Link(l) => {
                        if !links.contains(&l) {
                            links.push(l);
                        }
                    }
                    _ => other = true,
                }
            }
            let now = links.len() >= 2 && !other;
            match (now, self.held_since[k]) {
                (true, None) => self.held_since[k] = Some(t),
                (false, Some(since)) => {
                    self.held[k].push((since, t));
                    self.held_since[k] = None;
                }
                _ => {}
            }
        }
    }

    /// The objects' names, in scene order.
    pub(super) fn object_names(&self) -> &[String] {
        &self.object_names
    }

    /// The report's `links[]` and `objects[]`, with the objects' final poses
    /// (translation, quaternion xyzw).
    pub(super) fn report(
        &self,
        t: f64,
        poses: &[crate::physics::BodyPose],
    ) -> (Vec<LinkContactReport>, Vec<ObjectReport>) {
        let objects = self
            .object_names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let (p, q) = poses
                    .get(k)
                    .copied()
                    .unwrap_or(([0.0; 3], [0.0, 0.0, 0.0, 1.0]));
                ObjectReport {
                    name: name.clone(),
                    final_pose: Pose {
                        xyz: p.map(f64::from),
                        rpy: rpy(q),
                    },
                    max_contact_force_n: self.object_force[k],
                    grasped: self.held[k]
                        .iter()
                        .copied()
                        .chain(self.held_since[k].map(|since| (since, t)))
                        .collect(),
                }
            })
            .collect();
        (self.links.clone(), objects)
    }
}

/// Roll/pitch/yaw (R = Rz·Ry·Rx) of a unit quaternion (x, y, z, w).
pub fn rpy(q: [f32; 4]) -> [f64; 3] {
    let [x, y, z, w] = q.map(f64::from);
    let (roll, pitch, yaw) =
        nalgebra::UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(w, x, y, z))
            .euler_angles();
    [roll, pitch, yaw]
}

#[cfg(test)]
mod tests {
    #[test]
    fn rpy_reads_back_the_urdf_angles_of_a_quaternion() {
        let q = nalgebra::UnitQuaternion::from_euler_angles(0.1, -0.2, 0.3);
        let got = super::rpy([q.i as f32, q.j as f32, q.k as f32, q.w as f32]);
        for (g, want) in got.iter().zip([0.1, -0.2, 0.3]) {
            assert!((g - want).abs() < 1e-6, "{got:?}");
        }
    }
}
