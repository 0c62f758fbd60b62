//! The facts of a run where it ends, from their owners: each joint's statistics,
//! link figures and the injected faults' records from the plant, its health,
//! restarts and the e-stop from the supervisor, the event log. The verdict (passed,
//! expectations, recovery times) is given from them by `verdict.rs`.

use super::plant::Plant;
use super::supervisor::Supervisor;
use crate::report::{FaultRecord, JointReport, Report};
use crate::scene::Scene;

/// The report of the run so far, without its verdict (`passed` false, no
/// expectations checked, no recovery times).
pub(crate) fn facts(
    plant: &Plant,
    sup: &Supervisor,
    scene: &Scene,
    executor: &str,
    wall_time_s: f64,
    aborted: Option<String>,
) -> Report {
    let joints: Vec<JointReport> = plant
        .joints()
        .iter()
        .enumerate()
        .map(|(i, j)| JointReport {
            name: j.name().to_string(),
            backend: j.backend_label(),
            controller: j.controller_kind().into(),
            rate_hz: 1.0 / j.period(),
            state: sup.health(i),
            rms_error_rad: j.stats().rms_error(),
            max_error_rad: j.stats().max_error,
            peak_torque_nm: j.stats().peak_torque,
            saturated_fraction: j.stats().saturated_fraction(),
            deadline_misses: j.stats().deadline_misses,
            garbled_replies: j.stats().garbled_replies,
            commanded_by: j.commanded_by().map(String::from),
            restarts: sup.restarts(i),
            max_command_age_s: j.stats().max_command_age_s,
            at_limit_fraction: if j.stats().steps == 0 {
                0.0
            } else {
                j.stats().limit_steps as f64 / j.stats().steps as f64
            },
            min_pos_rad: j.stats().min_pos,
            max_pos_rad: j.stats().max_pos,
            link: j.followed().map(|h| {
                crate::report::LinkReport::new(
                    h.transactions,
                    h.errors,
                    h.timeouts,
                    &h.latencies_us,
                )
            }),
        })
        .collect();
    let mut report = Report {
        armhil_version: env!("CARGO_PKG_VERSION").into(),
        scene: scene.name.clone(),
        scene_file: scene.source.display().to_string(),
        executor: executor.into(),
        seed: scene.seed,
        steps: plant.steps(),
        sim_time_s: plant.t(),
        wall_time_s,
        real_time_factor: if wall_time_s > 0.0 {
            plant.t() / wall_time_s
        } else {
            0.0
        },
        passed: false,
        aborted,
        step_lateness_us: None,
        missed_steps: None,
        joints,
        faults: Vec::new(),
        estop: sup.estop().map(|(t, why)| format!("at {t:.4} s: {why}")),
        expectations: Vec::new(),
        recording: None,
        live: None,
        ros2: None,
        served: None,
        objects: Vec::new(),
        links: Vec::new(),
        events: plant.events().to_vec(),
    };
    (report.links, report.objects) = plant.world_report();
    report.faults = plant
        .faults()
        .iter()
        .map(|f| {
            let j = &plant.joints()[f.joint];
            let latency = f.detected_at.map(|d| (d - f.spec.at).max(0.0));
            let ended_at = if f.spec.one_shot() {
                f.ended_at
            } else {
                f.cleared_at
            };
            FaultRecord {
                joint: j.name().to_string(),
                kind: f.spec.kind.name().into(),
                detail: f.spec.kind.describe(),
                at: f.spec.at,
                until: f.spec.until,
                detection_latency_s: latency,
                detection_latency_periods: latency.map(|l| l / j.period()),
                ended_at,
                effective: f.effective,
                recovery_s: None,
                toward_host: j.backend_label().starts_with("served:"),
            }
        })
        .collect();
    report
}
