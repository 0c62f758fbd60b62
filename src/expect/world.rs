//! Judging contacts and objects (scenes with a `world`), from the report alone: its
//! `links[]` (contacts begun, largest force) and `objects[]` (final pose, the spans
//! the arm held each one).

use super::spec::Links;
use crate::report::{LinkContactReport, ObjectReport, Report};

fn link<'a>(r: &'a Report, name: &str) -> Result<&'a LinkContactReport, String> {
    if r.links.is_empty() {
        return Err("the scene has no world (no contacts are recorded)".into());
    }
    r.links
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| format!("no link {name:?} in the report"))
}

fn object<'a>(r: &'a Report, name: &str) -> Result<&'a ObjectReport, String> {
    r.objects
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| format!("no object {name:?} in the report"))
}

pub(super) fn no_collision(r: &Report, links: &Links) -> (bool, String) {
    if r.links.is_empty() {
        return (
            false,
            "the scene has no world (no contacts are recorded)".into(),
        );
    }
    let mut hit = Vec::new();
    for l in &r.links {
        let chosen = match links {
            Links::All => true,
            Links::Only(v) => v.contains(&l.name),
        };
        if chosen && l.contacts > 0 {
            hit.push(format!(
                "{} ({} contacts, max {:.2} N)",
                l.name, l.contacts, l.max_contact_force_n
            ));
        }
    }
    let firsts: Vec<String> = r
        .events
        .iter()
        .filter(|e| e.kind == "contact_begin")
        .take(3)
        .map(|e| format!("{} at {:.3} s", e.detail, e.t))
        .collect();
    if hit.is_empty() {
        (true, "no contact".into())
    } else {
        (
            false,
            format!("{}; first: {}", hit.join(", "), firsts.join("; ")),
        )
    }
}

pub(super) fn max_force(r: &Report, name: &str, below: f64) -> (bool, String) {
    match link(r, name) {
        Ok(l) => (
            l.max_contact_force_n < below,
            format!("max {:.2} N", l.max_contact_force_n),
        ),
        Err(e) => (false, e),
    }
}

pub(super) fn object_at(r: &Report, name: &str, xyz: [f64; 3], tol: f64) -> (bool, String) {
    match object(r, name) {
        Ok(o) => {
            let p = o.final_pose.xyz;
            let d = ((p[0] - xyz[0]).powi(2) + (p[1] - xyz[1]).powi(2) + (p[2] - xyz[2]).powi(2))
                .sqrt();
            (
                d <= tol,
                format!(
                    "ended at ({:.4}, {:.4}, {:.4}), {:.4} m away",
                    p[0], p[1], p[2], d
                ),
            )
        }
        Err(e) => (false, e),
    }
}

pub(super) fn grasped(r: &Report, name: &str, from: f64, to: f64) -> (bool, String) {
    let o = match object(r, name) {
        Ok(o) => o,
        Err(e) => return (false, e),
    };
    let spans = o
        .grasped
        .iter()
        .map(|(a, b)| format!("{a:.3}-{b:.3} s"))
        .collect::<Vec<_>>()
        .join(", ");
    let held = o
        .grasped
        .iter()
        .any(|&(a, b)| a <= from + 1e-9 && b + 1e-9 >= to);
    let spans = if spans.is_empty() {
        "never".into()
    } else {
        spans
    };
    (held, format!("held {spans}"))
}
