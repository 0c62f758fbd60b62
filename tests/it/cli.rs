//! The `armhil` binary: exit codes, the report file, `check`.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn run_writes_a_report_with_the_documented_fields_and_exits_0() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("r.json");
    let out = armhil()
        .args([
            "run",
            "scenes/arm6.ron",
            "--headless",
            "--duration",
            "2",
            "--seed",
            "9",
            "--report",
        ])
        .arg(&report)
        .output()
        .expect("spawn");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("shoulder_pitch") && stdout.contains("PASSED"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    for k in [
        "scene",
        "seed",
        "steps",
        "sim_time_s",
        "wall_time_s",
        "real_time_factor",
        "passed",
        "joints",
        "events",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["seed"], 9);
    assert_eq!(v["steps"], 2000);
    assert_eq!(v["passed"], true);
    let j = &v["joints"][0];
    for k in [
        "name",
        "state",
        "rms_error_rad",
        "max_error_rad",
        "peak_torque_nm",
        "saturated_fraction",
        "deadline_misses",
    ] {
        assert!(j.get(k).is_some(), "joint missing {k}");
    }
    assert_eq!(j["state"], "OK");
}

#[test]
fn bad_scene_exits_2_naming_file_and_field() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron"))
        .expect("read")
        .replacen("mass_kg: 1.2,", "mass_kg: -3,", 1);
    let p = dir.path().join("bad.ron");
    std::fs::write(&p, text).expect("write");
    let report = dir.path().join("r.json");
    for cmd in ["run", "check"] {
        let mut c = armhil();
        c.arg(cmd).arg(&p);
        if cmd == "run" {
            c.arg("--report").arg(&report);
        }
        let out = c.output().expect("spawn");
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.ron")
                && err.contains("arm.links[1].mass_kg")
                && err.contains("expected > 0"),
            "{err}"
        );
    }
    assert!(!report.exists(), "nothing may start on bad input");
}

#[test]
fn missing_scene_file_and_bad_flags_exit_2() {
    let _g = shared();
    let out = armhil()
        .args(["run", "scenes/nope.ron"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.ron"));
    let out = armhil()
        .args(["run", "scenes/arm6.ron", "--duration=-1"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration"));
    let out = armhil().args(["run"]).output().expect("spawn");
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap usage errors are bad input too"
    );
}

#[test]
fn faulted_joint_exits_1() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron"))
        .expect("read")
        .replacen(
            "seed: 42,",
            "seed: 42,\n    faults: [(at: 0.5, until: 1.0, joint: \"base_yaw\", kind: Panic)],",
            1,
        );
    let p = dir.path().join("f.ron");
    std::fs::write(&p, text).expect("write");
    let out = armhil()
        .arg("run")
        .arg(&p)
        .args(["--headless", "--duration", "1"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAULTED") && stdout.contains("FAILED"),
        "{stdout}"
    );
}

#[test]
fn hung_controller_exits_1_within_5_s_naming_the_joint() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron"))
        .expect("read")
        .replacen(
            "seed: 42,",
            "seed: 42,\n    faults: [(at: 0.5, joint: \"elbow_pitch\", kind: Hang)],",
            1,
        );
    let p = dir.path().join("h.ron");
    std::fs::write(&p, text).expect("write");
    let t0 = Instant::now();
    // A real hang (not played out on simulated time): only the wall-clock watchdog
    // can end it.
    let out = armhil()
        .arg("run")
        .arg(&p)
        .args(["--headless", "--real-controller-faults"])
        .output()
        .expect("spawn");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("elbow_pitch") && all.contains("hung"), "{all}");
}

#[test]
fn check_prints_joints_limits_servos_and_controllers() {
    let _g = shared();
    let out = armhil()
        .args(["check", "scenes/sts3215_arm.ron"])
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    for want in [
        "shoulder_pan",
        "gripper",
        "sts3215",
        "3.350",
        "0.0280",
        "4096",
        "0.50°",
        "pid",
        "500Hz",
        "-1.920..1.920",
    ] {
        assert!(s.contains(want), "missing {want:?} in:\n{s}");
    }
}

#[test]
fn urdf_can_be_run_directly() {
    let _g = shared();
    let out = armhil()
        .arg("run")
        .arg(so101_urdf())
        .args(["--headless", "--duration", "1"])
        .output()
        .expect("spawn");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every kind of bad scene: exit 2 from both `check` and `run`, and a message naming
/// the file and the offending field.
#[test]
fn each_kind_of_bad_scene_exits_2_with_its_own_message() {
    let _g = shared();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "unknown field",
            "seed: 42,",
            "seed: 42, sed: 1,",
            "Unexpected field named `sed`",
        ),
        ("missing field", "    seed: 42,\n", "", "seed"),
        (
            "mass <= 0",
            "mass_kg: 1.2,",
            "mass_kg: 0.0,",
            "arm.links[1].mass_kg",
        ),
        (
            "min > max",
            "limits: (lower: -1.9, upper: 1.9)",
            "limits: (lower: 1.9, upper: -1.9)",
            "arm.joints[1].limits",
        ),
        (
            "zero gear ratio",
            "gear_ratio: 353.5",
            "gear_ratio: 0.0",
            "servos[\"xm430\"].gear_ratio",
        ),
        (
            "rate above physics",
            "rate_hz: 250,",
            "rate_hz: 2000,",
            "drives[\"base_yaw\"].rate_hz",
        ),
        (
            "duplicate joint",
            "(name: \"elbow_pitch\",",
            "(name: \"shoulder_pitch\",",
            "duplicate joint name",
        ),
        (
            "unknown trajectory joint",
            "Sine(joint: \"wrist_roll\"",
            "Sine(joint: \"wrist_rool\"",
            "trajectory[1].joint",
        ),
        (
            "NaN",
            "duration_s: 10.0,",
            "duration_s: NaN,",
            "duration_s: NaN",
        ),
    ];
    let base = std::fs::read_to_string(root().join("scenes/arm6.ron")).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut messages = std::collections::BTreeSet::new();
    for (kind, from, to, want) in cases {
        assert!(base.contains(from), "{kind}: setup");
        let p = dir.path().join(format!("{}.ron", kind.replace(' ', "_")));
        std::fs::write(&p, base.replacen(from, to, 1)).expect("write");
        for cmd in ["check", "run"] {
            let out = armhil().arg(cmd).arg(&p).output().expect("spawn");
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert_eq!(out.status.code(), Some(2), "{kind} ({cmd}): {err}");
            assert!(
                err.contains(&p.display().to_string()),
                "{kind}: file not named: {err}"
            );
            assert!(err.contains(want), "{kind}: {want:?} not in {err}");
            messages.insert(err);
        }
    }
    // `check` and `run` print the same message; each kind its own.
    assert_eq!(messages.len(), cases.len(), "{messages:#?}");
}

#[test]
fn ports_lists_serial_ports_or_says_there_are_none() {
    let _g = shared();
    let out = armhil().arg("ports").output().expect("spawn");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<String> = armhil::hardware::transport::serial::list_ports()
        .expect("scan")
        .into_iter()
        .map(|p| p.path)
        .collect();
    if listed.is_empty() {
        assert!(s.contains("no serial ports found"), "{s}");
    } else {
        assert!(s.starts_with("path"), "{s}");
        for p in listed {
            assert!(s.contains(&p), "{p} missing from:\n{s}");
        }
    }
}
