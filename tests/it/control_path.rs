//! Nothing on the control path is lost silently: commands that meet a full service
//! inbox wait their turn, in order, and past the waiting room they are refused with an
//! event (and never remembered for restarts).

use armhil::control::Gains;
use armhil::runtime::command::ControlCommand;
use armhil::runtime::{self, RunOptions};

use crate::common::*;

fn rms(r: &armhil::report::Report, name: &str) -> f64 {
    joint(r, name).rms_error_rad
}

/// arm6 for 1.5 s with `gains` sent to the elbow all at once at t = 0.5 s.
fn run_with_burst(gains: &[Gains]) -> armhil::report::Report {
    let schedule = gains
        .iter()
        .map(|g| {
            (
                0.5,
                ControlCommand::Gains {
                    joint: "elbow_pitch".into(),
                    gains: *g,
                },
            )
        })
        .collect();
    let opts = RunOptions {
        duration_s: Some(1.5),
        schedule,
        ..RunOptions::default()
    };
    runtime::run(&scene("scenes/arm6.ron"), &opts, &mut |_, _| {}).expect("run")
}

#[test]
fn a_burst_of_commands_is_delivered_in_order_and_the_overflow_refused_with_an_event() {
    let _g = shared();
    let base = run_with_burst(&[]);
    let good = scene("scenes/arm6.ron")
        .joints
        .iter()
        .find(|j| j.name == "elbow_pitch")
        .expect("elbow")
        .controller
        .gains()
        .expect("a PID has gains");
    let zero = Gains {
        kp: 0.0,
        ki: 0.0,
        kd: 0.0,
    };
    // The service inbox takes 8, the waiting room 64: 72 are accepted, the 73rd is
    // refused. The last accepted one restores the gains; the refused one (zero) must
    // not act, and nothing accepted may be dropped on the way.
    let mut burst = vec![zero; 71];
    burst.push(good);
    burst.push(zero);
    let r = run_with_burst(&burst);
    let refused: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.kind == "command_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].joint, "elbow_pitch");
    assert!(
        refused[0].detail.contains("64 messages"),
        "{}",
        refused[0].detail
    );
    assert_eq!(r.events.iter().filter(|e| e.kind == "gains").count(), 73);
    let (b, g) = (rms(&base, "elbow_pitch"), rms(&r, "elbow_pitch"));
    assert!(
        g < 1.5 * b + 1e-4,
        "elbow ends on its good gains: rms {g} against {b} without the burst"
    );
    // The test can tell: had the last message been lost (or the refused one acted),
    // the elbow would have run on zero gains.
    let lost = run_with_burst(&[good, zero]);
    assert!(
        rms(&lost, "elbow_pitch") > 5.0 * b,
        "zero gains track badly: {} against {b}",
        rms(&lost, "elbow_pitch")
    );
}
