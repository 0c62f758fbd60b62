//! The shipped scenes track their default trajectories within 0.02 rad RMS on every
//! joint and never reach a joint limit.

use crate::common::*;
use armhil::runtime::{self, RunOptions};

fn check_tracking(rel: &str) {
    let _g = shared();
    let s = scene(rel);
    let r = runtime::run(&s, &RunOptions::default(), &mut |_, _| {}).expect("run");
    assert!(r.passed, "{rel}: {}", r.table());
    assert!((r.sim_time_s - s.duration_s).abs() < 1e-9);
    for j in &r.joints {
        assert!(
            j.rms_error_rad <= 0.02,
            "{rel} {}: rms {}",
            j.name,
            j.rms_error_rad
        );
        assert_eq!(j.at_limit_fraction, 0.0, "{rel} {} touched a limit", j.name);
        assert_eq!(j.deadline_misses, 0);
    }
    // The trajectory really moves the arm (not a trivially held pose).
    let moved = r
        .joints
        .iter()
        .filter(|j| j.max_pos_rad - j.min_pos_rad > 0.3)
        .count();
    assert!(moved >= 4, "{rel}: only {moved} joints moved 0.3 rad");
}

#[test]
fn arm6_tracks_within_bound() {
    check_tracking("scenes/arm6.ron");
}

#[test]
fn sts3215_arm_tracks_within_bound() {
    check_tracking("scenes/sts3215_arm.ron");
}
