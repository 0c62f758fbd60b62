//! Judging a host's reactions on a served run, from the report alone: the servo's
//! status changes and silences are in the event log (`servo_status`, `servo_power`),
//! the host's torque-off writes and its writes to a silent servo in the served bus's
//! figures.

use crate::report::{Report, ServedJointReport};

fn served<'a>(r: &'a Report, joint: &str) -> Result<&'a ServedJointReport, String> {
    r.served
        .as_ref()
        .ok_or_else(|| "not a served run (armhil serve)".to_string())?
        .joints
        .iter()
        .find(|j| j.joint == joint)
        .ok_or_else(|| format!("{joint} was not served"))
}

/// Each error bit raised on `joint` is followed by a torque-off write within `ms`.
pub(super) fn torque_off(r: &Report, joint: &str, ms: f64) -> (bool, String) {
    let j = match served(r, joint) {
        Ok(j) => j,
        Err(e) => return (false, e),
    };
    let raised: Vec<f64> = r
        .events
        .iter()
        .filter(|e| e.joint == joint && e.kind == "servo_status" && e.detail.contains("error bits"))
        .map(|e| e.t)
        .collect();
    if raised.is_empty() {
        return (false, "the servo never raised an error bit".into());
    }
    let mut late = Vec::new();
    let mut took = Vec::new();
    for &t in &raised {
        match j.torque_off_at.iter().find(|&&w| w + 1e-9 >= t) {
            Some(&w) if (w - t) * 1e3 <= ms + 1e-6 => took.push((w - t) * 1e3),
            Some(&w) => late.push(format!(
                "bit at {t:.3} s: torque off {:.1} ms later",
                (w - t) * 1e3
            )),
            None => late.push(format!("bit at {t:.3} s: torque never turned off")),
        }
    }
    if late.is_empty() {
        let worst = took.iter().copied().fold(0.0, f64::max);
        (
            true,
            format!("{} error(s), torque off within {worst:.1} ms", raised.len()),
        )
    } else {
        (false, late.join("; "))
    }
}

/// After each silence of `joint` begins, no write reaches it later than `ms` into it.
pub(super) fn stops_writing(r: &Report, joint: &str, ms: f64) -> (bool, String) {
    let j = match served(r, joint) {
        Ok(j) => j,
        Err(e) => return (false, e),
    };
    let mut spans = Vec::new();
    let mut from = None;
    for e in r
        .events
        .iter()
        .filter(|e| e.joint == joint && e.kind == "servo_power")
    {
        if e.detail.contains("silent") {
            from = Some(e.t);
        } else if let Some(f) = from.take() {
            spans.push((f, e.t));
        }
    }
    if let Some(f) = from {
        spans.push((f, f64::INFINITY));
    }
    if spans.is_empty() {
        return (false, "the servo never went silent".into());
    }
    let mut bad = Vec::new();
    for &(f, u) in &spans {
        if let Some(&w) = j
            .writes_while_silent_at
            .iter()
            .rfind(|&&w| w + 1e-9 >= f && w < u)
            && (w - f) * 1e3 > ms + 1e-6
        {
            bad.push(format!("silent from {f:.3} s: still written at {w:.3} s"));
        }
    }
    if bad.is_empty() {
        (
            true,
            format!("{} silence(s), writes stopped within {ms} ms", spans.len()),
        )
    } else {
        (false, bad.join("; "))
    }
}
