//! The `armhil` binary: exit codes, the report file, `check`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn armhil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_armhil"));
    c.current_dir(root());
    c
}

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
            "seed: 42,\n    faults: [(at: 0.5, joint: \"base_yaw\", kind: Panic)],",
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
    let out = armhil()
        .arg("run")
        .arg(&p)
        .args(["--headless"])
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
