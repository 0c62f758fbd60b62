//! Supervision end to end: every fault kind's detection and reaction (through the
//! shipped scenarios in scenes/faults), reproducibility of faulted runs, the e-stop
//! and operator resets, the following-error trip, runtime controller faults,
//! expectations, `armhil test` with JUnit and `armhil fuzz-faults`.

use crate::common::*;
use armhil::report::{JointHealth, Report};
use armhil::runtime::command::ControlCommand;
use armhil::runtime::{self, RunOptions};
use armhil::scene::Scene;

fn run(s: &Scene) -> Report {
    runtime::run(s, &RunOptions::default(), &mut |_, _| {}).expect("run")
}

fn kinds(r: &Report, joint: &str) -> Vec<String> {
    r.events
        .iter()
        .filter(|e| e.joint == joint)
        .map(|e| e.kind.clone())
        .collect()
}

/// Each simulated fault kind, through its scenario file: the scenario's expectations
/// (detection within its bound, the state it must enter, recovery, containment) all
/// hold, and the reaction is the one that kind calls for.
#[test]
fn every_simulated_fault_kind_is_detected_and_handled_as_its_scenario_expects() {
    let _g = shared();
    // (scenario, joint, reaction events that must appear, events that must not)
    let cases: [(&str, &str, &[&str], &[&str]); 12] = [
        (
            "panic",
            "elbow_pitch",
            &["controller_panic", "restart"],
            &[],
        ),
        (
            "panic_persistent",
            "elbow_pitch",
            &["controller_panic", "restart"],
            &[],
        ),
        (
            "hang",
            "wrist_pitch",
            &["controller_hang", "restart"],
            &["controller_panic"],
        ),
        (
            "slow",
            "wrist_roll",
            &["fault_detected"],
            &["restart", "controller_hang"],
        ),
        ("encoder_stuck", "wrist_roll", &["fault_detected"], &[]),
        (
            "encoder_noise",
            "elbow_pitch",
            &["fault_detected"],
            &["restart"],
        ),
        ("encoder_offset", "wrist_pitch", &["fault_detected"], &[]),
        ("torque_sag", "shoulder_pitch", &["fault_detected"], &[]),
        (
            "jam",
            "elbow_pitch",
            &["fault_detected", "following_error", "restart"],
            &[],
        ),
        (
            "servo_error",
            "elbow_pitch",
            &["fault_detected"],
            &["restart", "following_error"],
        ),
        (
            "power_loss",
            "flange_roll",
            &["fault_detected"],
            &["restart", "following_error"],
        ),
        ("estop", "wrist_pitch", &["controller_panic"], &["restart"]),
    ];
    for (name, joint, must, must_not) in cases {
        let s = scene(&format!("scenes/faults/{name}.ron"));
        assert!(!s.expect.is_empty(), "{name} asserts something");
        let r = run(&s);
        assert!(
            r.passed,
            "{name}:\n{}{}",
            r.summary(),
            r.events
                .iter()
                .map(|e| format!("  [{:.4}] {} {} {}\n", e.t, e.joint, e.kind, e.detail))
                .collect::<String>()
        );
        let k = kinds(&r, joint);
        for m in must {
            assert!(k.iter().any(|x| x == m), "{name}: no {m} on {joint}: {k:?}");
        }
        for m in must_not {
            assert!(
                !k.iter().any(|x| x == m),
                "{name}: unexpected {m} on {joint}: {k:?}"
            );
        }
        // Exactly one onset per fault, and one clear per windowed fault.
        let onsets = k.iter().filter(|x| *x == "fault_onset").count();
        let clears = k.iter().filter(|x| *x == "fault_clear").count();
        let windowed = s.faults.iter().filter(|f| f.until.is_some()).count();
        assert_eq!((onsets, clears), (s.faults.len(), windowed), "{name}");
        assert!(
            r.faults.iter().all(|f| f.detection_latency_s.is_some()),
            "{name}: detected"
        );
    }
}

#[test]
fn a_faulted_run_is_reproducible_from_its_seed() {
    let _g = shared();
    let mut s = scene("scenes/arm6.ron");
    s.duration_s = 6.0;
    let cfg = armhil::faults::fuzz::FuzzConfig::default();
    // A schedule with several faults, as fuzz-faults draws it.
    let seed = (1..100)
        .find(|k| armhil::faults::fuzz::draw(&s, *k, &cfg).len() >= 3)
        .expect("a 3-fault seed");
    s.seed = seed;
    s.faults = armhil::faults::fuzz::draw(&s, seed, &cfg);
    let a = run(&s);
    let b = run(&s);
    assert_eq!(a.deterministic_json(), b.deterministic_json());
    assert!(a.events.iter().filter(|e| e.kind == "fault_onset").count() >= 3);
    // Another seed draws another schedule and another log.
    let mut s2 = s.clone();
    s2.seed = seed + 1;
    s2.faults = armhil::faults::fuzz::draw(&s2, seed + 1, &cfg);
    assert_ne!(s2.faults, s.faults);
    assert_ne!(run(&s2).events, a.events);
}

#[test]
fn the_estop_holds_every_joint_until_reset_and_then_they_resume() {
    let _g = shared();
    let s = scene("scenes/arm6.ron");
    let opts = RunOptions {
        duration_s: Some(4.0),
        schedule: vec![(1.5, ControlCommand::EStop), (2.5, ControlCommand::Reset)],
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let estops: Vec<(f64, &str)> = r
        .events
        .iter()
        .filter(|e| e.kind == "estop")
        .map(|e| (e.t, e.detail.as_str()))
        .collect();
    assert_eq!(estops.len(), 2, "{estops:?}");
    assert!((estops[0].0 - 1.5).abs() < 1e-9 && estops[0].1.starts_with("latched"));
    assert!((estops[1].0 - 2.5).abs() < 1e-9 && estops[1].1.starts_with("reset"));
    assert!(r.estop.is_none(), "released by the reset");
    // Held for a second while the trajectory moved on: the moving joints fell behind,
    // then walked back onto it and finished healthy.
    let base = joint(&r, "base_yaw");
    assert!(base.max_error_rad > 0.2, "held: {}", base.max_error_rad);
    assert!(
        r.joints.iter().all(|j| j.state == JointHealth::Ok),
        "{}",
        r.table()
    );
    // Without the reset it stays latched and the run fails.
    let opts = RunOptions {
        duration_s: Some(3.0),
        schedule: vec![(1.5, ControlCommand::EStop)],
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    assert!(r.estop.as_deref().is_some_and(|e| e.contains("operator")));
    assert!(!r.passed);
}

#[test]
fn an_operator_reset_clears_a_latched_joint() {
    let _g = shared();
    let mut s = scene("scenes/arm6.ron");
    s.duration_s = 4.0;
    s.faults = vec![armhil::faults::parse_cli_fault("elbow_pitch:panic@1..2").expect("fault")];
    let opts = RunOptions {
        schedule: vec![
            (1.5, ControlCommand::ResetJoint("wrist_roll".into())),
            (2.5, ControlCommand::ResetJoint("elbow_pitch".into())),
        ],
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == "reset_refused" && e.joint == "wrist_roll"),
        "a healthy joint has nothing to reset"
    );
    let changes = armhil::expect::state_changes(&r, "elbow_pitch");
    let faulted = changes
        .iter()
        .position(|(_, s)| *s == JointHealth::Faulted)
        .expect("latched");
    assert!(changes[faulted].0 < 1.5);
    assert_eq!(
        changes[faulted + 1..]
            .iter()
            .map(|(_, s)| *s)
            .collect::<Vec<_>>(),
        [JointHealth::Restarting, JointHealth::Ok],
        "{changes:?}"
    );
    assert!((changes[faulted + 1].0 - 2.5).abs() < 1e-9);
    assert_eq!(joint(&r, "elbow_pitch").state, JointHealth::Ok);
}

#[test]
fn the_following_error_limit_trips_a_joint_that_cannot_follow_and_scales_with_speed() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let sag = r#"faults: [(at: 1.0, until: 2.0, joint: "shoulder_pitch", kind: TorqueSag(factor: 0.15))],"#;
    let tight = scenario(
        dir.path(),
        "tight",
        "scenes/arm6.ron",
        &format!("    duration_s: 3.0,\n    {sag}"),
    );
    let r = run(&Scene::load(&tight).expect("scenario"));
    let trip = r
        .events
        .iter()
        .find(|e| e.kind == "following_error" && e.joint == "shoulder_pitch")
        .expect("tripped");
    assert!(trip.t > 1.0 && trip.t < 2.0, "{}", trip.t);
    assert!(trip.detail.contains("over its limit"), "{}", trip.detail);
    // The same sag with a limit opened up: no trip, no restart.
    let loose = scenario(
        dir.path(),
        "loose",
        "scenes/arm6.ron",
        &format!(
            "    duration_s: 3.0,\n    drives: {{\"shoulder_pitch\": (supervision: (following_error_rad: 5.0))}},\n    {sag}"
        ),
    );
    let r = run(&Scene::load(&loose).expect("scenario"));
    assert!(
        !kinds(&r, "shoulder_pitch")
            .iter()
            .any(|k| k == "following_error")
    );
    assert_eq!(joint(&r, "shoulder_pitch").restarts, 0);
}

#[test]
fn controller_faults_injected_while_running_reach_the_service() {
    let _g = shared();
    let s = scene("scenes/arm6.ron");
    let (tx, rx) = crossbeam::channel::bounded(armhil::runtime::command::CAPACITY);
    let opts = RunOptions {
        duration_s: Some(2.0),
        control: Some(rx),
        schedule: vec![(
            1.0,
            armhil::runtime::command::parse_command("fault wrist_pitch:hang@0").expect("parse"),
        )],
        ..RunOptions::default()
    };
    tx.send(ControlCommand::Fault(
        armhil::faults::parse_cli_fault("base_yaw:slow(9)@0.5..0.7").expect("fault"),
    ))
    .expect("send");
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let hang = r
        .events
        .iter()
        .find(|e| e.kind == "controller_hang")
        .expect("hang declared");
    assert_eq!(hang.joint, "wrist_pitch");
    assert!((hang.t - 1.003).abs() < 1e-9, "{}", hang.t);
    assert!(joint(&r, "base_yaw").deadline_misses > 0, "slow cycles");
    assert_eq!(r.faults.len(), 2);
    assert!(r.faults.iter().all(|f| f.detection_latency_s.is_some()));
    assert!(
        r.joints.iter().all(|j| j.state == JointHealth::Ok),
        "{}",
        r.table()
    );
}

#[test]
fn expectations_that_do_not_hold_fail_the_run_and_say_why() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = scenario(
        dir.path(),
        "wrong",
        "scenes/arm6.ron",
        r#"    duration_s: 3.0,
    faults: [(at: 1.0, joint: "wrist_pitch", kind: Hang)],
    expect: [
        JointState(joint: "wrist_pitch", state: Faulted, within_ms: 50, after: 1.0),
        Recovered(joint: "wrist_pitch", within_ms: 100),
        Tracking(joints: Only(["wrist_pitch"]), rms_below: 0.0001),
    ],"#,
    );
    let r = run(&Scene::load(&p).expect("scenario"));
    assert!(!r.passed);
    let v: Vec<(bool, &str)> = r
        .expectations
        .iter()
        .map(|v| (v.passed, v.detail.as_str()))
        .collect();
    assert!(!v[0].0 && v[0].1.contains("RESTARTING"), "{v:?}");
    assert!(v[1].0, "restarted and recovered: {v:?}");
    assert!(!v[2].0 && v[2].1.contains("wrist_pitch"), "{v:?}");
    // A scenario naming a missing joint or an impossible window is refused.
    let bad = scenario(
        dir.path(),
        "bad",
        "scenes/arm6.ron",
        r#"    expect: [Recovered(joint: "elbow", within_ms: -1)],"#,
    );
    let e = Scene::load(&bad).expect_err("refused").to_string();
    assert!(
        e.contains("expect[0].joint") && e.contains("expect[0].within_ms"),
        "{e}"
    );
}

#[test]
fn armhil_test_runs_scenes_in_parallel_writes_junit_and_exits_1_on_failure() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).expect("mkdir");
    for name in ["panic", "hang", "power_loss"] {
        scenario(
            &suite,
            name,
            "scenes/arm6.ron",
            &std::fs::read_to_string(root().join(format!("scenes/faults/{name}.ron")))
                .expect("read")
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .skip_while(|l| !l.contains("duration_s"))
                .take_while(|l| l.trim() != ")")
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    let junit = dir.path().join("junit.xml");
    let run_suite = || {
        armhil()
            .arg("test")
            .arg(&suite)
            .arg("--junit")
            .arg(&junit)
            .output()
            .expect("spawn")
    };
    let recordings = dir.path().join("rec");
    let out = armhil()
        .arg("test")
        .arg(&suite)
        .arg("--junit")
        .arg(&junit)
        .arg("--record")
        .arg(&recordings)
        .output()
        .expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("3 scenes: 3 passed, 0 failed"), "{text}");
    for name in ["panic", "hang", "power_loss"] {
        let rec = armhil::recording::read(&recordings.join(format!("{name}.mcap")))
            .expect("one recording per scene");
        assert!(rec.events.iter().any(|e| e.kind == "fault_onset"), "{name}");
    }
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert_eq!(xml.matches("<testsuite ").count(), 3, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 15, "{xml}");
    assert!(xml.contains(r#"failures="0""#));
    // One failing scenario: exit 1, its failure in the table and the XML.
    scenario(
        &suite,
        "zz_fails",
        "scenes/arm6.ron",
        r#"    duration_s: 2.0,
    faults: [(at: 1.0, joint: "elbow_pitch", kind: Panic)],
    expect: [NoDeadlineMisses(joints: All), Tracking(joints: All, rms_below: 0.000001)],"#,
    );
    let out = run_suite();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("zz_fails.ron") && text.contains("FAIL"),
        "{text}"
    );
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("Tracking(All rms &lt; 0.000001)"), "{xml}");
    // A malformed scene: exit 2, nothing runs, the JUnit file is not rewritten.
    std::fs::write(
        suite.join("broken.ron"),
        "Scenario(extends: \"nowhere.ron\")",
    )
    .expect("write");
    std::fs::remove_file(&junit).expect("rm");
    let out = run_suite();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere.ron"));
    assert!(
        !junit.exists()
            || std::fs::read_to_string(&junit)
                .unwrap_or_default()
                .is_empty()
    );
}

/// 200 seeds of random fault schedules, checked against the invariants: zero
/// violations. Then a seed made to fail (a tracking bound no run can meet) prints a
/// replay command that reproduces its schedule.
#[test]
fn fuzz_faults_200_seeds_hold_every_invariant_and_failures_replay() {
    let _g = shared();
    let out = armhil()
        .args([
            "fuzz-faults",
            "scenes/arm6.ron",
            "--seeds",
            "1..200",
            "--duration",
            "5",
        ])
        .output()
        .expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("200 seeds (1..=200)") && text.contains("0 seeds with violations"),
        "{text}"
    );
    assert!(
        text.contains("healthy joints' deadline misses during faults: 0"),
        "{text}"
    );
    // An arm whose every joint e-stops the whole arm when it fails (policy StopAll)
    // cannot contain a controller fault: the healthy joints are held and fall off
    // their trajectories. Some of these seeds fail, and say how to replay.
    let dir = tempfile::tempdir().expect("tempdir");
    let drives = ARM6_JOINTS
        .map(|j| format!("{j:?}: (safe_state: StopAll)"))
        .join(", ");
    let p = scenario(
        dir.path(),
        "stop_all",
        "scenes/arm6.ron",
        &format!("    duration_s: 5.0,\n    drives: {{{drives}}},"),
    );
    let out = armhil()
        .arg("fuzz-faults")
        .arg(&p)
        .args(["--seeds", "1..12"])
        .output()
        .expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("tracking rms"), "{text}");
    assert!(text.contains("replay: armhil fuzz-faults "), "{text}");
    let replay = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("or: "))
        .expect("a replay command");
    // `armhil run FILE --headless --seed N --fault 'SPEC' ...`
    let mut words = replay.split(" --");
    let head = words.next().expect("head");
    let file = head.strip_prefix("armhil run ").expect("armhil run");
    let args: Vec<String> = words
        .flat_map(|a| {
            let (k, v) = a.split_once(' ').unwrap_or((a, ""));
            let mut out = vec![format!("--{k}")];
            if !v.is_empty() {
                out.push(v.trim_matches('\'').to_string());
            }
            out
        })
        .collect();
    let faults = args.iter().filter(|a| *a == "--fault").count();
    assert!(faults >= 1, "{args:?}");
    let out = armhil()
        .args(["run", file])
        .args(&args)
        .output()
        .expect("spawn");
    let run = String::from_utf8_lossy(&out.stdout);
    assert_eq!(run.matches("fault_onset").count(), faults, "{run}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the replayed run fails as well: {run}"
    );
}

#[test]
fn a_malformed_fault_in_a_scene_names_the_file_field_and_range() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let p = scenario(
        dir.path(),
        "bad_fault",
        "scenes/arm6.ron",
        r#"    faults: [(at: 1.0, joint: "elbow_pitch", kind: LinkDrop(p: 1.5)), (at: -1.0, joint: "elbow_pitch", kind: Slow(ms: 20000))],"#,
    );
    let out = armhil().arg("run").arg(&p).output().expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    for want in [
        "bad_fault.ron",
        "faults[0].kind.p: 1.5 is out of range: expected 0 ..= 1",
        "faults[1].at",
        "faults[1].kind.ms",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
}
