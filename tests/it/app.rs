//! The Bevy app shell, tested headless with `MinimalPlugins` + `app.update()`.

use bevy::MinimalPlugins;
use bevy::app::App;

use crate::common::*;
use armhil::app::{Sim, SimPlugin, Snapshot};
use armhil::runtime::{self, RunOptions};

fn app(steps_per_update: u32) -> App {
    let scene = scene("scenes/arm6.ron");
    let mut app = App::new();
    app.add_plugins(MinimalPlugins).add_plugins(SimPlugin {
        scene,
        options: RunOptions {
            duration_s: Some(1.0),
            ..RunOptions::default()
        },
        steps_per_update,
    });
    app
}

#[test]
fn each_update_advances_a_batch_of_steps_and_publishes_a_snapshot() {
    let _g = shared();
    let mut app = app(50);
    app.update();
    let snap = app.world().resource::<Snapshot>().clone();
    assert_eq!(snap.steps, 50);
    assert!((snap.t - 0.05).abs() < 1e-9);
    assert_eq!(snap.joints.len(), 6);
    assert_eq!(snap.links.len(), 7);
    app.update();
    assert_eq!(app.world().resource::<Snapshot>().steps, 100);
}

#[test]
fn app_run_matches_the_plain_lockstep_run() {
    let _g = shared();
    let mut app = app(100);
    for _ in 0..20 {
        app.update();
    }
    let sim = app.world().resource::<Sim>();
    let via_app = sim.report.clone().expect("finished after 1000 steps");
    assert!(app.world().resource::<Snapshot>().finished);
    let direct = runtime::run(
        &scene("scenes/arm6.ron"),
        &RunOptions {
            duration_s: Some(1.0),
            ..RunOptions::default()
        },
        &mut |_, _| {},
    )
    .expect("run");
    assert_eq!(via_app.deterministic_json(), direct.deterministic_json());
}
