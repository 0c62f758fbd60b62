//! Seeded fault schedules (`armhil fuzz-faults`): each seed draws a random schedule
//! of faults on distinct joints, the scene runs in lockstep with that seed, and the
//! run is checked against invariants that must hold for *any* schedule:
//!
//! 1. no panic escapes the joint services (and the run is not aborted);
//! 2. joints without a fault keep every deadline, end OK and stay within their
//!    tracking bound: their fault-free RMS error × 3, or + `margin`, whichever is
//!    larger; + 4 × `margin` for a joint mechanically downstream of a faulted one
//!    (its whole base moves when, say, the shoulder goes limp: that disturbance is
//!    physics, not a containment failure); and no tracking bound when the arm struck
//!    the world (a link made more contacts than in the fault-free run: a limp arm
//!    fell onto the table, a joint that lost its encoder drove the arm into it),
//!    whose reaction reaches every joint through the base;
//! 3. every fault that had an effect is detected (ground truth decides "effect",
//!    see `Plant::track_effect`);
//! 4. the event log is complete: one onset per fault, one clear per fault that ends
//!    within the run and none otherwise, and each joint's state changes chain
//!    (every change starts from the state the previous one left).
//!
//! Same scene and seed, same schedule and same run: a failing seed replays exactly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{FaultKind, FaultSpec, ServoErrorBit};
use crate::report::{JointHealth, Report};
use crate::scene::Scene;

/// Fuzzing settings.
#[derive(Debug, Clone, Copy)]
pub struct FuzzConfig {
    /// Faults per schedule, 1..=this (at most one per joint, and at most joints - 1,
    /// so some joint is always healthy).
    pub max_faults: usize,
    /// Tracking bound slack for healthy joints, rad.
    pub margin_rad: f64,
}

impl Default for FuzzConfig {
    fn default() -> Self {
        Self {
            max_faults: 3,
            margin_rad: 0.03,
        }
    }
}

/// The schedule seed `seed` draws for `scene` (simulated joints only).
pub fn draw(scene: &Scene, seed: u64, cfg: &FuzzConfig) -> Vec<FaultSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_5eed);
    let candidates: Vec<usize> = (0..scene.joints.len())
        .filter(|&i| scene.joints[i].backend == crate::scene::BackendSpec::Sim)
        .collect();
    if candidates.len() < 2 || scene.duration_s < 1.0 {
        return Vec::new();
    }
    let n = rng.random_range(1..=cfg.max_faults.min(candidates.len() - 1).max(1));
    let mut pool = candidates;
    let mut out = Vec::new();
    for _ in 0..n {
        let i = pool.swap_remove(rng.random_range(0..pool.len()));
        let j = &scene.joints[i];
        let period_ms = 1000.0 / j.rate_hz;
        let at = round_ms(rng.random_range(0.3..(scene.duration_s - 0.8).max(0.31)));
        let len = rng.random_range(0.05..0.6);
        let until = Some(round_ms((at + len).min(scene.duration_s)));
        // Scenes with a world draw jams too (the gear train locks against the
        // controller, as a part caught in it would).
        let kinds = if scene.world.is_some() { 10 } else { 9 };
        let kind = match rng.random_range(0..kinds) {
            0 => FaultKind::Panic,
            1 => FaultKind::Hang,
            2 => FaultKind::Slow {
                ms: round_ms(period_ms * rng.random_range(1.3..2.5)),
            },
            3 => FaultKind::EncoderStuck,
            4 => FaultKind::EncoderNoise {
                sigma_rad: round_ms(rng.random_range(0.02..0.1)),
            },
            5 => FaultKind::EncoderOffset {
                rad: round_ms(rng.random_range(0.03..0.3))
                    * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
            },
            6 => FaultKind::TorqueSag {
                factor: round_ms(rng.random_range(0.0..0.3)),
            },
            7 => FaultKind::ServoError {
                bit: [
                    ServoErrorBit::Overload,
                    ServoErrorBit::Overheat,
                    ServoErrorBit::Voltage,
                ][rng.random_range(0..3)],
            },
            8 => FaultKind::PowerLoss,
            _ => FaultKind::Jam,
        };
        // A service in its own process may abort or crash instead of panicking (a
        // draw only such joints make, so other scenes' seeds keep their schedules).
        let kind = if kind == FaultKind::Panic
            && j.isolation == crate::control::spec::Isolation::Process
        {
            [FaultKind::Panic, FaultKind::Abort, FaultKind::Crash][rng.random_range(0..3)]
        } else {
            kind
        };
        // Panics, hangs, aborts and crashes: half one-shot (a restart cures them),
        // half windowed.
        let until = if matches!(
            kind,
            FaultKind::Panic | FaultKind::Hang | FaultKind::Abort | FaultKind::Crash
        ) && rng.random_bool(0.5)
        {
            None
        } else {
            until
        };
        out.push(FaultSpec {
            at,
            until,
            joint: j.name.clone(),
            kind,
        });
    }
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// Rounds to 1e-3 so schedules print (and replay) exactly.
fn round_ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Invariant violations of a run of `scene` (with `faults` added) against its
/// fault-free `baseline`.
pub fn violations(
    scene: &Scene,
    faults: &[FaultSpec],
    report: &Report,
    baseline: &Report,
    cfg: &FuzzConfig,
) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(a) = &report.aborted {
        v.push(format!("run aborted: {a}"));
    }
    // 2. Healthy joints.
    let struck = report
        .links
        .iter()
        .zip(&baseline.links)
        .any(|(a, b)| a.contacts > b.contacts);
    for j in &report.joints {
        if faults.iter().any(|f| f.joint == j.name) {
            continue;
        }
        if j.deadline_misses > 0 {
            v.push(format!(
                "healthy joint {} missed {} deadlines",
                j.name, j.deadline_misses
            ));
        }
        let base = baseline
            .joints
            .iter()
            .find(|b| b.name == j.name)
            .map_or(0.0, |b| b.rms_error_rad);
        let downstream = faults
            .iter()
            .any(|f| downstream_of(scene, &f.joint, &j.name));
        let margin = if downstream {
            4.0 * cfg.margin_rad
        } else {
            cfg.margin_rad
        };
        let bound = (3.0 * base).max(base + margin);
        if j.rms_error_rad > bound && !struck {
            v.push(format!(
                "healthy joint {} tracking rms {:.4} rad over its bound {bound:.4} (fault-free {base:.4})",
                j.name, j.rms_error_rad
            ));
        }
        if j.state != JointHealth::Ok {
            v.push(format!(
                "healthy joint {} ended {}",
                j.name,
                j.state.as_str()
            ));
        }
    }
    // 3. Detection.
    for f in &report.faults {
        if f.effective && f.detection_latency_s.is_none() {
            v.push(format!(
                "{} on {} at {} s had an effect but was not detected",
                f.detail, f.joint, f.at
            ));
        }
    }
    // 4. The event log.
    let dt = 1.0 / scene.physics.rate_hz;
    let end = report.sim_time_s;
    for f in faults {
        let matches = |kind: &str| {
            report
                .events
                .iter()
                .filter(|e| e.kind == kind && e.joint == f.joint)
                .filter(|e| {
                    e.detail.starts_with(f.kind.name()) || e.detail.starts_with(&f.kind.describe())
                })
                .count()
        };
        let onsets = matches("fault_onset");
        if onsets != 1 {
            v.push(format!(
                "{} on {}: {onsets} onset events (expected 1)",
                f.kind.describe(),
                f.joint
            ));
        }
        let clears = matches("fault_clear");
        let want = usize::from(f.until.is_some_and(|u| u <= end - dt * 0.5));
        if clears != want {
            v.push(format!(
                "{} on {}: {clears} clear events (expected {want})",
                f.kind.describe(),
                f.joint
            ));
        }
    }
    for j in &report.joints {
        let mut state = JointHealth::Ok;
        for e in report
            .events
            .iter()
            .filter(|e| e.joint == j.name && e.kind == "state")
        {
            let from = e.detail.split(" -> ").next().unwrap_or("");
            if from != state.as_str() {
                v.push(format!(
                    "{}: state change at {:.4} s starts from {from}, but the joint was {}",
                    j.name,
                    e.t,
                    state.as_str()
                ));
            }
            match e.state {
                Some(s) => state = s,
                None => v.push(format!(
                    "{}: state event without a state at {:.4} s",
                    j.name, e.t
                )),
            }
        }
        if state != j.state {
            v.push(format!(
                "{}: event log ends {} but the report says {}",
                j.name,
                state.as_str(),
                j.state.as_str()
            ));
        }
    }
    v
}

/// Whether joint `b` sits on a link that joint `a` moves.
pub fn downstream_of(scene: &Scene, a: &str, b: &str) -> bool {
    let kin = |name: &str| {
        scene
            .joints
            .iter()
            .find(|j| j.name == name)
            .map(|j| &scene.arm.joints[j.kin])
    };
    let (Some(ja), Some(jb)) = (kin(a), kin(b)) else {
        return false;
    };
    // Walk from b's parent link towards the base; a moves b if it passes a's child.
    let mut link = jb.parent;
    for _ in 0..=scene.arm.joints.len() {
        if link == ja.child {
            return true;
        }
        match scene.arm.joints.iter().find(|k| k.child == link) {
            Some(k) => link = k.parent,
            None => return false,
        }
    }
    false
}

/// The command that replays one seed's schedule exactly.
pub fn replay_command(scene_file: &str, seed: u64, faults: &[FaultSpec]) -> String {
    let mut s = format!("armhil run {scene_file} --headless --seed {seed}");
    for f in faults {
        s.push_str(&format!(" --fault '{}'", f.cli()));
    }
    s
}
