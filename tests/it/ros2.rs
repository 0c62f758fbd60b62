//! ROS 2 over Zenoh (`--ros2`), tested from the ROS side with clients no one here
//! wrote: PyPI `eclipse-zenoh` for the transport and PyPI `rosbags` (ROS 2 Jazzy's
//! message definitions and CDR codec) for the messages, on the keys
//! zenoh-bridge-ros2dds uses (tests/it/python/ros2_client.py). And commanded joints on
//! the runtime, exactly, in lockstep.

use std::process::{Command, Stdio};

use armhil::report::{JointHealth, Report};
use armhil::runtime::commanded::{Target, Targets};
use armhil::runtime::{self, RunOptions};

use crate::common::*;

fn ros_python() -> std::path::PathBuf {
    python_packages(
        "pyros2",
        "zenoh, rosbags",
        &["eclipse-zenoh==1.10.2", "rosbags==0.11.9"],
    )
}

#[test]
fn the_ros_side_sees_joint_states_and_clock_and_its_commands_move_a_supervised_joint() {
    let _g = exclusive();
    let py = ros_python();
    let dir = tempfile::tempdir().expect("tmp");
    let report = dir.path().join("r.json");
    let port = free_port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let run = armhil()
        .args([
            "run",
            "scenes/arm6.ron",
            "--headless",
            "--ros2",
            "--ros2-wait",
        ])
        .args(["--zenoh-listen", &endpoint, "--duration", "5"])
        // Supervision applies to a joint commanded from ROS as to any other.
        .args(["--fault", "elbow_pitch:panic@3"])
        .arg("--report")
        .arg(&report)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("armhil");
    let run = Killed::new(run);
    let client = Command::new("python3")
        .arg(root().join("tests/it/python/ros2_client.py"))
        .args(["--connect", &endpoint, "--joint", "elbow_pitch"])
        .args(["--position", "-0.3", "--from", "1.0"])
        .env("PYTHONPATH", &py)
        .output()
        .expect("python3");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let out = run.output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&client.stdout).expect("client JSON");
    let r: Report =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");

    // What the ROS side saw (the run waited for it): the arm's joints, stamped with
    // simulated time every 20 ms from 0 to the end without a gap, each stamp also on
    // /clock.
    let names: Vec<&str> = seen["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(names, ARM6_JOINTS);
    let ms = |k: &str| -> Vec<i64> {
        seen[k]
            .as_array()
            .expect(k)
            .iter()
            .filter_map(|v| v.as_f64())
            .map(|v| v.round() as i64)
            .collect()
    };
    let (stamps, clock) = (ms("stamps_ms"), ms("clock_ms"));
    let every_20ms: Vec<i64> = (0..250).map(|k| k * 20).collect();
    assert_eq!(stamps, every_20ms);
    assert_eq!(clock, every_20ms);
    assert_eq!(seen["effort_len"], 6);
    // The commanded joint ends where ROS put it, after a panic and a restart.
    let elbow = seen["joint_final"].as_f64().expect("elbow");
    assert!((elbow + 0.3).abs() < 0.005, "elbow at {elbow}");

    let ros = r.ros2.as_ref().expect("ros2 in the report");
    assert_eq!(
        (
            ros.joint_states_key.as_str(),
            ros.clock_key.as_str(),
            ros.commands_key.as_str()
        ),
        ("joint_states", "clock", "joint_commands")
    );
    assert_eq!(
        (
            ros.joint_states,
            ros.joint_states_unheard,
            ros.clock,
            ros.clock_unheard
        ),
        (250, 0, 250, 0)
    );
    assert_eq!(ros.dropped, 0);
    // One message that is not CDR, one of the wrong shape, one unknown joint: the
    // rest each commanded the elbow once.
    assert_eq!((ros.malformed, ros.wrong_length), (1, 1));
    assert_eq!(ros.unknown_joints, vec!["nope".to_string()]);
    assert!(ros.commands > 50, "{} commands", ros.commands);
    assert_eq!(ros.applied, ros.commands - 3);
    let commanded: Vec<_> = r.events.iter().filter(|e| e.kind == "commanded").collect();
    assert_eq!(commanded.len(), 1);
    assert_eq!(commanded[0].joint, "elbow_pitch");
    let e = joint(&r, "elbow_pitch");
    assert_eq!((e.state, e.restarts), (JointHealth::Ok, 1));
    assert_eq!(e.commanded_by.as_deref(), Some("ROS 2 /joint_commands"));
    assert!(r.joints.iter().filter(|j| j.commanded_by.is_some()).count() == 1);
    others_kept_their_deadlines(&r, "elbow_pitch");
}

#[test]
fn ros2_names_are_checked() {
    for (args, what) in [
        (
            vec!["--ros2", "--ros2-commands", "/1bad"],
            "--ros2-commands",
        ),
        (vec!["--ros2-namespace", "arm1"], "--ros2"),
    ] {
        let out = armhil()
            .args(["run", "scenes/arm6.ron", "--headless"])
            .args(&args)
            .output()
            .expect("armhil");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
}

/// Targets set before a lockstep run: the same run every time.
fn commanded_run(targets: &[(&str, Target)]) -> Report {
    let s = scene("scenes/arm6.ron");
    let cell = Targets::new("test", s.joints.iter().map(|j| j.name.clone()).collect());
    for (name, t) in targets {
        cell.set(cell.index(name).expect("joint"), *t);
    }
    let opts = RunOptions {
        duration_s: Some(3.0),
        targets: Some(cell),
        ..RunOptions::default()
    };
    runtime::run(&s, &opts, &mut |_, _| {}).expect("run")
}

#[test]
fn a_commanded_position_is_walked_onto_and_held_within_limits() {
    let _g = shared();
    let pos = |p| Target {
        pos: Some(p),
        ..Default::default()
    };
    // The elbow from 0.8 rad down to 0.4; the wrist asked beyond its upper limit:
    // held at the limit.
    let r = commanded_run(&[("elbow_pitch", pos(0.4)), ("wrist_pitch", pos(50.0))]);
    let e = joint(&r, "elbow_pitch");
    assert!((e.min_pos_rad - 0.4).abs() < 0.01, "{e:?}");
    let w = joint(&r, "wrist_pitch");
    let wl = scene("scenes/arm6.ron")
        .joints
        .iter()
        .find(|j| j.name == "wrist_pitch")
        .map(|j| j.limits.1)
        .expect("wrist");
    assert!(
        w.max_pos_rad <= wl + 0.01 && w.max_pos_rad > wl - 0.05,
        "{w:?} limit {wl}"
    );
    let ev: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.kind == "commanded")
        .map(|e| (e.t, e.joint.as_str()))
        .collect();
    assert_eq!(ev, vec![(0.0, "elbow_pitch"), (0.0, "wrist_pitch")]);
    // The same again: lockstep with targets given is deterministic.
    let again = commanded_run(&[("elbow_pitch", pos(0.4)), ("wrist_pitch", pos(50.0))]);
    assert_eq!(joint(&again, "elbow_pitch"), e);
}

#[test]
fn an_effort_alone_is_the_joints_torque() {
    let _g = shared();
    let r = commanded_run(&[(
        "wrist_roll",
        Target {
            effort: Some(0.3),
            ..Default::default()
        },
    )]);
    let w = joint(&r, "wrist_roll");
    // The controller is bypassed: the servo delivers the effort asked, no more,
    // and the joint turns that way.
    assert!((w.peak_torque_nm - 0.3).abs() < 1e-9, "{w:?}");
    assert!(w.max_pos_rad > 0.5, "{w:?}");
    assert_eq!(w.state, JointHealth::Ok);
}

#[test]
fn with_nobody_subscribed_nothing_is_published() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tmp");
    let report = dir.path().join("r.json");
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let out = armhil()
        .args([
            "run",
            "scenes/arm6.ron",
            "--headless",
            "--ros2",
            "--speed",
            "max",
        ])
        .args(["--zenoh-listen", &endpoint, "--duration", "1", "--report"])
        .arg(&report)
        .output()
        .expect("armhil");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let ros = r.ros2.expect("ros2");
    assert_eq!(
        (
            ros.joint_states,
            ros.joint_states_unheard,
            ros.clock,
            ros.clock_unheard
        ),
        (0, 50, 0, 50)
    );
    assert_eq!((ros.commands, ros.applied), (0, 0));
}
