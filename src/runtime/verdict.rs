//! The verdict, given where a run ends, from its report's facts: how long each
//! injected fault's joint took to be OK again after the fault ended, the scene's
//! expectations checked, and whether the run passed. A scene with expectations
//! passes when every one holds (a fault it injects on purpose may leave a joint
//! FAULTED); a scene without passes when the run was not aborted, no e-stop latched
//! and every joint ended OK.

use crate::report::{JointHealth, Report};
use crate::scene::Scene;

/// Fills in `report`'s verdict for `scene`.
pub(crate) fn judge(scene: &Scene, report: &mut Report) {
    for k in 0..report.faults.len() {
        let f = &report.faults[k];
        let recovery = f
            .ended_at
            .and_then(|e| crate::expect::ok_again(report, &f.joint, e).map(|t| t - e));
        report.faults[k].recovery_s = recovery;
    }
    report.passed = if scene.expect.is_empty() {
        report.aborted.is_none()
            && report.estop.is_none()
            && report.joints.iter().all(|j| j.state == JointHealth::Ok)
    } else {
        report.expectations = crate::expect::check_all(&scene.expect, report);
        report.aborted.is_none() && report.expectations.iter().all(|v| v.passed)
    };
}
