//! `--live`: a run served to clients of Foxglove's WebSocket protocol, here a client
//! written from the protocol's documentation with PyPI `websockets` and `protobuf`
//! (tests/it/python/foxglove_client.py): it sees the arm (`/joint_states`, `/tf`,
//! `/arm/shapes`) in Foxglove's schemas at simulated log times, steers the run
//! through parameters and published commands (bad ones refused to it with a
//! reason; services too), and a client that reads nothing never holds the run up.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// A child killed (SIGKILL) and reaped on drop unless it was waited for: a stopped
/// client holds a SIGTERM until it is continued.
struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// PyPI `websockets` and `protobuf`, once.
fn client_packages() -> std::path::PathBuf {
    python_packages(
        "pyfoxglove",
        "websockets, google.protobuf",
        &["websockets==15.0.1", "protobuf==7.36.2"],
    )
}

/// The client in `mode` against the server on `port` (and its extra arguments).
fn client(mode: &str, port: u16, args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg(root().join("tests/it/python/foxglove_client.py"))
        .args([mode, &port.to_string()])
        .args(args)
        .env("PYTHONPATH", client_packages());
    c
}

/// The JSON object a client printed before PASS.
fn outcome(out: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("PASS"),
        "client failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON in {text}"))
}

/// `armhil run` headless with `--live` on `port` (paced at 1x), its report in `dir`.
fn live_run(dir: &std::path::Path, port: u16, duration: &str) -> Kill {
    Kill(
        armhil()
            .args([
                "run",
                "scenes/arm6.ron",
                "--headless",
                "--duration",
                duration,
            ])
            .args(["--live", &format!("127.0.0.1:{port}"), "--report"])
            .arg(dir.join("report.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("armhil run --live"),
    )
}

fn report(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report JSON")
}

#[test]
fn a_foxglove_client_sees_the_arm_at_simulated_time_and_steers_the_run() {
    let _g = exclusive();
    client_packages();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut run = live_run(dir.path(), port, "8");
    let seen = outcome(
        &client("steer", port, &["elbow_pitch"])
            .output()
            .expect("client"),
    );
    let status = run.0.wait().expect("armhil");
    assert!(status.code().is_some(), "{status:?}");
    let r = report(dir.path());

    // The arm in Foxglove's schemas: every joint, every link's frame under `world`,
    // a shape for every link on its frame.
    let joints = ARM6_JOINTS;
    let links = [
        "base",
        "turret",
        "upper_arm",
        "forearm",
        "wrist1",
        "wrist2",
        "flange",
    ];
    assert_eq!(seen["joint_states_names"], serde_json::json!(joints));
    assert_eq!(seen["tf_frames"], serde_json::json!(links));
    assert_eq!(seen["tf_parent"], "world");
    assert_eq!(seen["shape_frames"], serde_json::json!(links));
    assert!(seen["shape_primitives"].as_u64() >= Some(7), "{seen}");
    // Log time is simulated time: each message's log time is its own stamp, on the
    // 50 Hz grid of simulated time.
    let times: Vec<u64> = serde_json::from_value(seen["log_times_ns"].clone()).expect("times");
    let stamps: Vec<u64> = serde_json::from_value(seen["stamps_ns"].clone()).expect("stamps");
    assert!(times.len() >= 5);
    for (t, s) in times.iter().zip(&stamps) {
        assert!(t.abs_diff(*s) <= 1, "log time {t} vs stamp {s}");
        let off = t % 20_000_000;
        assert!(
            off.min(20_000_000 - off) <= 1,
            "{t} is not on the 20 ms grid"
        );
    }

    // Parameters: the scene's gains, then the one set.
    let kp = seen["parameters"]["elbow_pitch.kp"]
        .as_f64()
        .expect("elbow_pitch.kp");
    assert!(kp > 0.0, "{seen}");
    assert_eq!(seen["parameters"]["speed"], 1.0);
    assert_eq!(
        seen["after_set"],
        serde_json::json!({"elbow_pitch.kp": 55.5})
    );
    // What was refused came back to the client with its reason.
    let errors = seen["errors"].to_string();
    for why in [
        "warp.factor: no such parameter",
        "not JSON",
        "launch rockets",
    ] {
        assert!(errors.contains(why), "{why:?} not in {errors}");
    }

    // The run took exactly the good ones, through its one control channel.
    let events = r["events"].as_array().expect("events");
    let has = |joint: &str, kind: &str, detail: &str| {
        events.iter().any(|e| {
            e["joint"] == joint
                && e["kind"] == kind
                && e["detail"].as_str().is_some_and(|d| d.contains(detail))
        })
    };
    assert!(has("elbow_pitch", "gains", "kp 55.5"), "{events:?}");
    assert!(
        has("elbow_pitch", "fault_onset", "encoder_offset"),
        "{events:?}"
    );
    assert!(
        has("wrist_roll", "fault_onset", "encoder_offset"),
        "{events:?}"
    );
    // Services: one per command kind, answered with what was taken or why not.
    assert_eq!(
        seen["services"],
        serde_json::json!(["/armhil/command", "/armhil/estop", "/armhil/reset"])
    );
    assert_eq!(
        seen["answers"]["1"],
        serde_json::json!({"accepted": "fault wrist_roll:encoder_offset(0.05)@0"})
    );
    assert!(
        seen["answers"]["2"]["failed"]
            .as_str()
            .is_some_and(|m| m.contains("\"warp 9\"")),
        "{}",
        seen["answers"]
    );
    assert!(
        r["estop"]
            .as_str()
            .is_some_and(|e| e.contains("operator e-stop")),
        "{}",
        r["estop"]
    );
    let live = &r["live"];
    assert_eq!(live["address"], format!("ws://127.0.0.1:{port}"));
    assert_eq!(live["commands"], 4, "{live}");
    assert_eq!(live["refused"], 4, "{live}");
    assert_eq!(live["clients"], 1, "{live}");
    // The events reached the client as Foxglove log lines.
    let logs = seen["log_messages"].to_string();
    assert!(logs.contains("gains: kp 55.5"), "{logs}");
}

#[test]
fn a_client_that_reads_nothing_never_holds_the_run_up() {
    let _g = exclusive();
    client_packages();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut run = live_run(dir.path(), port, "6");
    // One client subscribes to every channel and stops itself (SIGSTOP); another
    // reads /joint_states to the end.
    let mut stalled = Kill(
        client("stall", port, &[])
            .stdout(Stdio::piped())
            .spawn()
            .expect("stalled client"),
    );
    let mut line = String::new();
    BufReader::new(stalled.0.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("stalled client's first line");
    assert_eq!(line.trim(), "subscribed");
    let watcher = client("watch", port, &[]).output().expect("watcher");
    // The run ended while the stalled client was still stopped: it never waited
    // for it.
    let status = run.0.wait().expect("armhil");
    assert_eq!(status.code(), Some(0), "{status:?}");
    let watched = outcome(&watcher);
    let r = report(dir.path());
    assert_eq!(r["steps"], 6000, "{}", r["steps"]);
    assert_eq!(r["live"]["clients"], 2, "{}", r["live"]);
    // The watcher got the run to its last 20 ms.
    let last = watched["last_ns"].as_u64().expect("last_ns");
    assert!(last >= 5_980_000_000, "last /joint_states at {last} ns");
    // Continued, the stalled client reads what its queue kept and sees the end.
    let _ = Command::new("kill")
        .args(["-CONT", &stalled.0.id().to_string()])
        .status();
    assert!(stalled.0.wait().expect("stalled client").success());
}

#[test]
fn live_listens_beyond_loopback_only_when_told_to_and_refuses_bad_addresses() {
    for (args, why) in [
        (vec!["--live", "0.0.0.0:8765"], "--live-remote"),
        (vec!["--live", "example.org:80"], "expected HOST:PORT"),
        (vec!["--live-remote"], "--live"),
    ] {
        let o = armhil()
            .args(["run", "scenes/arm6.ron", "--headless", "--duration", "0.1"])
            .args(&args)
            .output()
            .expect("armhil");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

#[test]
fn a_urdf_arm_serves_its_urdf_and_meshes_and_nothing_else() {
    let _g = shared();
    client_packages();
    let urdf = so101_urdf();
    let mesh = urdf.with_file_name("assets").join("base_so101_v2.stl");
    let port = free_port();
    let _run = Kill(
        armhil()
            .args(["run", "--headless", "--duration", "30", "--live"])
            .arg(port.to_string())
            .arg(&urdf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("armhil run --live"),
    );
    let got = outcome(
        &client(
            "assets",
            port,
            &[
                "package://armhil/robot.urdf",
                "package://so101/assets/base_so101_v2.stl",
                "package://so101/assets/../../../../etc/passwd",
                "/etc/hostname",
            ],
        )
        .output()
        .expect("client"),
    );
    let sha = |p: &std::path::Path| {
        let o = Command::new("sha256sum")
            .arg(p)
            .output()
            .expect("sha256sum");
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let urdf_got = &got["package://armhil/robot.urdf"];
    assert_eq!(urdf_got["status"], 0, "{got}");
    assert_eq!(urdf_got["sha256"], sha(&urdf), "{got}");
    let mesh_got = &got["package://so101/assets/base_so101_v2.stl"];
    assert_eq!(mesh_got["status"], 0, "{got}");
    assert_eq!(mesh_got["sha256"], sha(&mesh), "{got}");
    for uri in [
        "package://so101/assets/../../../../etc/passwd",
        "/etc/hostname",
    ] {
        assert_eq!(got[uri]["status"], 1, "{got}");
        assert!(
            got[uri]["error"]
                .as_str()
                .is_some_and(|e| e.contains("not an asset of this scene")),
            "{got}"
        );
    }
}
