//! Live sessions, as the GUI runs them: a run on its own thread, steered only through
//! the control channel, observed through snapshots and the sample feed. Headless.

use std::time::{Duration, Instant};

use crate::common::*;
use armhil::app::session::{Session, SessionOptions};
use armhil::control::Gains;
use armhil::report::JointHealth;
use armhil::runtime::Executor;
use armhil::runtime::command::{ControlCommand, Pace, parse_backend, parse_command};

/// Refreshes `s` until `cond` holds; panics with `what` after `limit`.
fn wait_for(s: &mut Session, limit: Duration, what: &str, cond: impl Fn(&Session) -> bool) {
    let start = Instant::now();
    loop {
        s.refresh();
        if cond(s) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; t = {}, events: {:#?}",
            s.snapshot.t,
            s.events
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn live_joint<'a>(s: &'a Session, name: &str) -> &'a armhil::runtime::live::LiveJoint {
    s.snapshot
        .joints
        .iter()
        .find(|j| j.name == name)
        .unwrap_or_else(|| panic!("no joint {name}"))
}

#[test]
fn a_paced_session_keeps_wall_clock_pace_and_pauses_steps_and_speeds_up_on_command() {
    let _g = shared();
    let mut s = Session::start(scene("scenes/arm6.ron"), SessionOptions::default());
    wait_for(&mut s, Duration::from_secs(5), "running", |s| {
        s.snapshot.t > 0.05
    });
    // At 1x, simulated time follows the wall clock.
    let (w0, t0) = (Instant::now(), s.snapshot.t);
    std::thread::sleep(Duration::from_millis(400));
    s.refresh();
    let rate = (s.snapshot.t - t0) / w0.elapsed().as_secs_f64();
    assert!((0.8..1.1).contains(&rate), "1x ran at {rate}x");
    assert_eq!(s.snapshot.speed, Some(1.0));

    s.send(ControlCommand::Pace(Pace::Pause)).expect("send");
    wait_for(&mut s, Duration::from_secs(2), "paused", |s| {
        s.snapshot.paused
    });
    let held = s.snapshot.steps;
    std::thread::sleep(Duration::from_millis(100));
    s.refresh();
    assert_eq!(s.snapshot.steps, held, "a paused run does not step");
    s.send(ControlCommand::Pace(Pace::Step(10))).expect("send");
    wait_for(&mut s, Duration::from_secs(2), "ten single steps", |s| {
        s.snapshot.steps == held + 10
    });
    std::thread::sleep(Duration::from_millis(100));
    s.refresh();
    assert_eq!(s.snapshot.steps, held + 10, "exactly ten");

    s.send(parse_command("speed 5").expect("parse"))
        .expect("send");
    s.send(ControlCommand::Pace(Pace::Resume)).expect("send");
    wait_for(&mut s, Duration::from_secs(2), "resumed", |s| {
        !s.snapshot.paused && s.snapshot.speed == Some(5.0)
    });
    let (w0, t0) = (Instant::now(), s.snapshot.t);
    std::thread::sleep(Duration::from_millis(400));
    s.refresh();
    let rate = (s.snapshot.t - t0) / w0.elapsed().as_secs_f64();
    assert!((4.0..5.5).contains(&rate), "5x ran at {rate}x");

    // The plots' history has every control period of every joint, in order.
    let wrist = s
        .snapshot
        .joints
        .iter()
        .position(|j| j.name == "wrist_roll")
        .expect("joint");
    let h = &s.history.joints[wrist];
    assert!(h.len() > 1000, "{} samples", h.len());
    assert!(h.iter().zip(h.iter().skip(1)).all(|(a, b)| b.t > a.t));
    let window = s.history.window(wrist, s.snapshot.t - 1.0, 200);
    assert!(
        window.len() <= 202 && window.len() >= 100,
        "{}",
        window.len()
    );
    assert!(
        s.events
            .iter()
            .any(|e| e.kind == "pace" && e.detail == "paused")
    );
    s.stop();
    assert!(s.finished());
    assert!(s.snapshot.report.is_some(), "a stopped run still reports");
}

#[test]
fn a_lockstep_session_refuses_a_serial_swap_and_says_why() {
    let _g = shared();
    let mut s = Session::start(scene("scenes/arm6.ron"), SessionOptions::default());
    s.send(ControlCommand::Swap {
        joint: "elbow_pitch".into(),
        backend: parse_backend("serial:virtual:ls:sts:1").expect("backend"),
    })
    .expect("send");
    wait_for(&mut s, Duration::from_secs(5), "refusal", |s| {
        s.events.iter().any(|e| e.kind == "swap_refused")
    });
    let e = s
        .events
        .iter()
        .find(|e| e.kind == "swap_refused")
        .expect("event");
    assert_eq!(e.joint, "elbow_pitch");
    assert!(e.detail.contains("real-time"), "{}", e.detail);
    s.refresh();
    assert_eq!(live_joint(&s, "elbow_pitch").backend, "sim");
}

/// What the GUI's buttons do, through the same channel: inject a fault, swap a joint
/// to a (virtual) real servo and back, latch and release the e-stop, retune gains.
#[test]
fn the_gui_control_channel_injects_faults_swaps_to_a_virtual_servo_and_latches_the_estop() {
    let _g = exclusive();
    let mut s = Session::start(
        scene("scenes/sts3215_arm.ron"),
        SessionOptions {
            executor: Executor::Realtime,
            rt_priority: Some(20),
            duration_s: Some(30.0),
            ..SessionOptions::default()
        },
    );
    let limit = Duration::from_secs(5);
    wait_for(&mut s, limit, "running", |s| s.snapshot.t > 0.2);
    assert_eq!(s.snapshot.executor, "realtime");

    // A fault: power loss on the elbow for 0.4 s from now.
    s.send(parse_command("fault elbow_flex:power_loss@0..0.4").expect("parse"))
        .expect("send");
    wait_for(&mut s, limit, "the fault acts", |s| {
        s.events
            .iter()
            .any(|e| e.joint == "elbow_flex" && e.kind == "fault_onset")
            && live_joint(s, "elbow_flex").state != JointHealth::Ok
    });
    wait_for(&mut s, limit, "the elbow recovers", |s| {
        s.events
            .iter()
            .any(|e| e.joint == "elbow_flex" && e.kind == "fault_clear")
            && live_joint(s, "elbow_flex").state == JointHealth::Ok
    });

    // A swap to an emulated STS servo on an in-process bus, then back.
    s.send(ControlCommand::Swap {
        joint: "shoulder_pan".into(),
        backend: parse_backend("serial:virtual:guitest:sts:1").expect("backend"),
    })
    .expect("send");
    wait_for(&mut s, limit, "the servo drives the joint", |s| {
        let j = live_joint(s, "shoulder_pan");
        j.backend == "serial:virtual:guitest:sts:1"
            && j.mode == "servo"
            && j.state == JointHealth::Ok
            && j.link_latency_us.is_some_and(|us| us > 0.0)
    });
    s.send(parse_command("swap shoulder_pan sim").expect("parse"))
        .expect("send");
    wait_for(&mut s, limit, "back on the simulated servo", |s| {
        let j = live_joint(s, "shoulder_pan");
        j.backend == "sim" && j.mode == "controller"
    });

    // The e-stop holds every joint until reset.
    s.send(ControlCommand::EStop).expect("send");
    wait_for(&mut s, limit, "e-stop latched", |s| {
        s.snapshot.estop.is_some() && s.snapshot.joints.iter().all(|j| j.mode == "hold")
    });
    s.send(ControlCommand::Reset).expect("send");
    wait_for(&mut s, limit, "e-stop released", |s| {
        s.snapshot.estop.is_none() && s.snapshot.joints.iter().all(|j| j.mode == "controller")
    });

    // Live gains: acknowledged in the log and shown in the table.
    let g = Gains {
        kp: 25.0,
        ki: 5.0,
        kd: 0.3,
    };
    s.send(ControlCommand::Gains {
        joint: "wrist_flex".into(),
        gains: g,
    })
    .expect("send");
    wait_for(&mut s, limit, "new gains", |s| {
        live_joint(s, "wrist_flex").gains == Some(g)
    });
    // Pacing is refused in real time, with a reason.
    s.send(ControlCommand::Pace(Pace::Pause)).expect("send");
    wait_for(&mut s, limit, "pause refused", |s| {
        s.events.iter().any(|e| e.kind == "pace_refused")
    });
    assert!(!s.snapshot.paused);
    s.stop();
    let r = s.snapshot.report.clone().expect("report");
    for j in &r.joints {
        assert_ne!(j.state, JointHealth::Faulted, "{}", j.name);
    }
}

/// The GUI's app with every frame frozen for 200 ms (as a dragged window or a GPU
/// stall would): the real-time run behind it misses no control period, because the
/// app only reads what the run publishes.
#[test]
fn a_frozen_frame_delays_no_control_period() {
    use armhil::app::live::{LivePlugin, LiveSession};
    use bevy::MinimalPlugins;
    use bevy::app::{App, Update};
    let _g = exclusive();
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(LivePlugin::run(
            scene("scenes/arm6.ron"),
            SessionOptions {
                executor: Executor::Realtime,
                rt_priority: Some(20),
                duration_s: Some(2.0),
                ..SessionOptions::default()
            },
        ))
        .add_systems(Update, || std::thread::sleep(Duration::from_millis(200)));
    let start = Instant::now();
    let mut frames = 0;
    while !app.world().resource::<LiveSession>().0.snapshot.finished {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the run did not end"
        );
        app.update();
        frames += 1;
    }
    // Slow frames indeed: 2 s of run in about ten of them.
    assert!(frames <= 14, "{frames} frames");
    // (Samples published just before the end may have come after the last frame.)
    app.world_mut().resource_mut::<LiveSession>().0.refresh();
    let s = &app.world().resource::<LiveSession>().0;
    let r = s.snapshot.report.clone().expect("report");
    assert!((r.sim_time_s - 2.0).abs() < 0.01, "{}", r.sim_time_s);
    let misses: u64 = r.joints.iter().map(|j| j.deadline_misses).sum();
    // A run that waited for frames would miss ~200 periods per 1 kHz joint per frame:
    // nearly all of the ~8,500 here. The bound separates that from this VM's own
    // noise, which a wall-clock test cannot avoid: a host stall of a few ms costs every
    // joint a few periods (CI has seen 3 and 45 in 2 s; on 2026-12-02, when the bare
    // 1 ms loop showed p99.9 of 2-6 ms, 187-294). Under 10 % of the periods is far
    // from frame-bound. (That nothing on the control path waits for the observer is an
    // invariant of the code: taps never block, snapshots use try_lock.)
    assert!(
        misses < 850,
        "{misses} deadline misses with frozen frames: {:#?}",
        r.joints
    );
    // Every control period of every joint reached the observer's history.
    let wrist = r
        .joints
        .iter()
        .position(|j| j.name == "wrist_roll")
        .expect("joint");
    let n = s.history.joints[wrist].len();
    assert!(
        (1990..=2001).contains(&n),
        "{n} samples of a 1 kHz joint in 2 s"
    );
}

/// `armhil replay` under the hood: a session over a recording shows the recorded
/// joints at any instant (the arm posed from them), plays at a chosen speed, and
/// refuses to be steered.
#[test]
fn a_replay_session_scrubs_and_plays_a_recording() {
    use armhil::runtime::{self, RunOptions};
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("r.mcap");
    let mut sc = scene("scenes/arm6.ron");
    sc.faults
        .push(armhil::faults::parse_cli_fault("elbow_pitch:power_loss@0.5..0.8").expect("fault"));
    let opts = RunOptions {
        duration_s: Some(2.0),
        record: Some(armhil::telemetry::recorder::to_file(&file)),
        ..RunOptions::default()
    };
    runtime::run(&sc, &opts, &mut |_, _| {}).expect("run");
    let rec = armhil::recording::read(&file).expect("read");
    let elbow_rec = rec.joints["elbow_pitch"].clone();
    let mut s = Session::replay(sc.clone(), rec);
    assert!(s.is_replay());
    s.replay_mut().expect("replay").seek(1.2345);
    s.refresh();
    assert!((s.snapshot.t - 1.2345).abs() < 1e-12);
    let at = elbow_rec
        .iter()
        .rev()
        .find(|x| x.t <= 1.2345)
        .expect("sample");
    let e = live_joint(&s, "elbow_pitch");
    assert_eq!(
        (e.measured, e.setpoint, e.torque),
        (at.measured, at.setpoint, at.torque)
    );
    assert_eq!(e.backend, "recorded");
    // The arm is posed from the recorded positions.
    let mut w = armhil::physics::ArmWorld::new(&sc);
    let q: Vec<f64> = s.snapshot.joints.iter().map(|j| j.measured).collect();
    w.set_positions(&q);
    let want = w.link_poses();
    assert_eq!(s.snapshot.links.len(), want.len());
    for (a, b) in s.snapshot.links.iter().zip(&want) {
        for k in 0..3 {
            assert!((a.0[k] - b.0[k]).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
    // Events up to now only; scrubbing back takes later ones away.
    assert!(s.events.iter().any(|e| e.kind == "fault_onset"));
    assert!(s.events.iter().all(|e| e.t <= 1.2345 + 1e-9));
    s.replay_mut().expect("replay").seek(0.3);
    s.refresh();
    assert!(
        !s.events.iter().any(|e| e.kind == "fault_onset"),
        "scrubbed back before the fault"
    );
    // Plot windows come straight from the recording.
    let win = s.window(4, 0.0, 0.3, 10_000);
    assert!(
        win.len() >= 290 && win.iter().all(|x| x.t <= 0.3 + 1e-9),
        "{}",
        win.len()
    );
    // Play at 2x.
    s.send(ControlCommand::Pace(Pace::Speed(Some(2.0))))
        .expect("speed");
    s.send(ControlCommand::Pace(Pace::Resume)).expect("play");
    s.refresh();
    let (w0, t0) = (Instant::now(), s.snapshot.t);
    std::thread::sleep(Duration::from_millis(300));
    s.refresh();
    let rate = (s.snapshot.t - t0) / w0.elapsed().as_secs_f64();
    assert!((1.6..2.2).contains(&rate), "played at {rate}x");
    assert!(!s.snapshot.paused);
    // Nothing to steer in a recording.
    let e = s.send(ControlCommand::EStop).expect_err("refused");
    assert_eq!(e, armhil::app::session::SendError::Replay, "{e}");
}

#[test]
fn a_live_session_shows_the_world_objects_in_the_jaw_and_the_links_touching() {
    let _g = shared();
    let mut s = Session::start(scene("scenes/so101_pick.ron"), SessionOptions::default());
    // Paused, then stepped to exactly 5.1 s: between the lift (4.8 s) and the pan
    // across, the cube is in the jaw.
    s.send(ControlCommand::Pace(Pace::Pause)).expect("send");
    wait_for(&mut s, Duration::from_secs(5), "paused", |s| {
        s.snapshot.paused
    });
    let held = s.snapshot.steps;
    s.send(ControlCommand::Pace(Pace::Step((5100 - held) as u32)))
        .expect("send");
    wait_for(&mut s, Duration::from_secs(60), "stepped to 5.1 s", |s| {
        s.snapshot.steps == 5100
    });
    let snap = &s.snapshot;
    assert_eq!(snap.objects.len(), 1);
    assert!(snap.objects[0].0[2] > 0.05, "cube at {:?}", snap.objects[0]);
    // Links 5 and 6: the gripper (its fixed finger) and the moving jaw.
    assert!(
        snap.touching.contains(&5) && snap.touching.contains(&6),
        "{:?}",
        snap.touching
    );
    assert!(snap.contacts.iter().all(|c| c.2 >= 0.0) && snap.contacts.len() >= 2);
}
