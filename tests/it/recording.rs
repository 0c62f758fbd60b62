//! Recording (MCAP): round trip through record, inspect and export; no sequence gaps
//! across a faulted run; a killed process leaves a readable file; Ctrl-C finalizes
//! it; bad and truncated files are refused with exit 2.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use armhil::recording;
use armhil::report::JointHealth;
use armhil::runtime::{self, RunOptions};
use armhil::scene::Scene;

#[test]
fn a_faulted_run_records_every_control_period_and_reads_back_without_gaps() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hang.mcap");
    let s = scene("scenes/faults/hang.ron");
    let opts = RunOptions {
        record: Some(armhil::telemetry::recorder::to_file(&file)),
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let rec_report = r.recording.as_ref().expect("recorded");
    assert!(
        rec_report.channels.iter().all(|c| c.2 == 0),
        "no drops: {rec_report:?}"
    );
    let rec = recording::read(&file).expect("read");
    assert!(rec.truncated.is_none());
    assert_eq!(rec.scene.as_ref().map(|s| s.0.as_str()), Some("hang"));
    for c in &rec.channels {
        assert_eq!(c.gaps, 0, "{}", c.topic);
    }
    // One sample per control period of each joint (4 s), whatever drove it: base_yaw
    // at 250 Hz, the wrists at 1 kHz, hung and restarting periods included.
    assert_eq!(rec.joints["base_yaw"].len(), 1000);
    assert_eq!(rec.joints["wrist_roll"].len(), 4000);
    let wp = &rec.joints["wrist_pitch"];
    assert_eq!(wp.len(), 4000);
    // The written messages are exactly those counted by the recorder.
    for (topic, written, _) in &rec_report.channels {
        let read = rec
            .channels
            .iter()
            .find(|c| &c.topic == topic)
            .map_or(0, |c| c.messages);
        assert_eq!(read, *written, "{topic}");
    }
    // The event log, and the states the samples carry, match the report.
    assert_eq!(rec.events, r.events);
    let restarting = wp
        .iter()
        .filter(|s| s.state == JointHealth::Restarting)
        .count();
    assert_eq!(restarting, 20, "20 ms held while restarting");
    assert_eq!(wp.last().map(|s| s.state), Some(JointHealth::Ok));
    // Export: one CSV per joint, a header with units, one row per sample.
    let out = armhil()
        .arg("export")
        .arg(&file)
        .arg("--csv")
        .arg(dir.path().join("csv"))
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(0));
    let csv = std::fs::read_to_string(dir.path().join("csv/wrist_pitch.csv")).expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "t_s,setpoint_rad,setpoint_vel_rad_s,measured_rad,measured_vel_rad_s,command_nm,torque_nm,error_rad,state"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), wp.len());
    let first: f64 = rows[100][3].parse().expect("number");
    assert_eq!(first, wp[100].measured, "values exported exactly");
    // Inspect prints the channels and counts.
    let out = armhil().arg("inspect").arg(&file).output().expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("/joints/wrist_roll") && text.contains("4000"),
        "{text}"
    );
    assert!(text.contains("controller_hang"), "{text}");
}

/// Starts a real-time run that records, and returns it once it has really started.
fn start_recording(file: &std::path::Path, seconds: &str) -> std::process::Child {
    let child = armhil()
        .args([
            "run",
            "scenes/arm6.ron",
            "--realtime",
            "--duration",
            seconds,
            "--record",
        ])
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(2500));
    child
}

#[test]
fn a_killed_process_leaves_a_file_readable_up_to_its_last_chunk() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("killed.mcap");
    let mut child = start_recording(&file, "30");
    child.kill().expect("kill -9");
    let _ = child.wait();
    let rec = recording::read(&file).expect("readable");
    let n = rec.joints.get("wrist_roll").map_or(0, Vec::len);
    assert!(n >= 500, "at least the first second survived: {n} samples");
    for c in &rec.channels {
        assert_eq!(c.gaps, 0, "{}", c.topic);
    }
    let out = armhil().arg("inspect").arg(&file).output().expect("spawn");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn ctrl_c_ends_the_run_cleanly_and_finalizes_the_recording() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("interrupted.mcap");
    let child = start_recording(&file, "30");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("recording:"), "{text}");
    let sim: f64 = BufReader::new(&out.stdout[..])
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split(" s simulated")
                .next()
                .and_then(|h| h.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .expect("a summary line");
    assert!(sim < 10.0, "stopped early, at {sim} s");
    let rec = recording::read(&file).expect("read");
    assert!(rec.truncated.is_none(), "finalized: {:?}", rec.truncated);
}

#[test]
fn a_bad_or_truncated_recording_is_refused_with_exit_2() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.mcap");
    std::fs::write(&junk, b"this is not an mcap file").expect("write");
    let good = dir.path().join("good.mcap");
    let s = scene("scenes/arm6.ron");
    let opts = RunOptions {
        duration_s: Some(0.5),
        record: Some(armhil::telemetry::recorder::to_file(&good)),
        ..RunOptions::default()
    };
    runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let bytes = std::fs::read(&good).expect("read");
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..12]).expect("write");
    for (f, what) in [
        (junk, "not an MCAP file"),
        (cut, "not an MCAP file"),
        (dir.path().join("missing.mcap"), "cannot read"),
    ] {
        for cmd in ["inspect", "export"] {
            let mut c = armhil();
            c.arg(cmd).arg(&f);
            if cmd == "export" {
                c.arg("--csv").arg(dir.path().join("out"));
            }
            let out = c.output().expect("spawn");
            assert_eq!(out.status.code(), Some(2), "{cmd} {}", f.display());
            let e = String::from_utf8_lossy(&out.stderr);
            assert!(
                e.contains(what) && e.contains(&*f.display().to_string()),
                "{e}"
            );
        }
    }
}

/// A joint driven by a recording replays it exactly, and the replay is deterministic.
#[test]
fn a_recorded_joint_replays_its_trace_exactly_and_deterministically() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = dir.path().join("bench.mcap");
    let s = scene("scenes/sts3215_arm.ron");
    let opts = RunOptions {
        duration_s: Some(2.0),
        record: Some(armhil::telemetry::recorder::to_file(&bench)),
        ..RunOptions::default()
    };
    runtime::run(&s, &opts, &mut |_, _| {}).expect("record");
    let p = scenario(
        dir.path(),
        "replay",
        "scenes/sts3215_arm.ron",
        &format!(
            "    duration_s: 2.0,\n    drives: {{\"elbow_flex\": (backend: Recorded(file: {:?}))}},",
            bench.display().to_string()
        ),
    );
    let replay = Scene::load(&p).expect("scenario");
    let again = dir.path().join("again.mcap");
    let run = |record: Option<std::path::PathBuf>| {
        let o = RunOptions {
            record: record.as_deref().map(armhil::telemetry::recorder::to_file),
            ..RunOptions::default()
        };
        runtime::run(&replay, &o, &mut |_, _| {}).expect("replay")
    };
    let a = run(Some(again.clone()));
    let b = run(None);
    let mut a2 = a.clone();
    a2.recording = None;
    assert_eq!(a2.deterministic_json(), b.deterministic_json());
    assert!(joint(&a, "elbow_flex").backend.starts_with("recorded:"));
    // What the replay saw of the joint is what the bench recorded, sample for sample.
    let orig = recording::read(&bench).expect("read");
    let rep = recording::read(&again).expect("read");
    let (o, r) = (&orig.joints["elbow_flex"], &rep.joints["elbow_flex"]);
    assert_eq!(o.len(), r.len());
    for (x, y) in o.iter().zip(r) {
        assert_eq!((x.t, x.measured), (y.t, y.measured));
    }
    // A missing recorded joint is refused, naming the field.
    let bad = scenario(
        dir.path(),
        "bad",
        "scenes/sts3215_arm.ron",
        &format!(
            "    drives: {{\"elbow_flex\": (backend: Recorded(file: {:?}, joint: \"nope\"))}},",
            bench.display().to_string()
        ),
    );
    let e = Scene::load(&bad).expect_err("refused").to_string();
    assert!(e.contains("backend.joint") && e.contains("nope"), "{e}");
}

/// A port first used by a swap while running gets its own `/bus/<port>` channel from
/// then on: nothing is dropped for want of a channel.
#[test]
fn a_bus_opened_by_a_runtime_swap_is_recorded_on_its_own_channel() {
    use armhil::runtime::Executor;
    use armhil::runtime::command::parse_command;
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("swap.mcap");
    let s = scene("scenes/sts3215_arm.ron");
    let opts = RunOptions {
        executor: Executor::Realtime,
        rt_priority: Some(20),
        duration_s: Some(1.5),
        record: Some(armhil::telemetry::recorder::to_file(&file)),
        schedule: vec![(
            0.3,
            parse_command("swap shoulder_pan serial:virtual:late:sts:1").expect("parse"),
        )],
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let rec_report = r.recording.clone().expect("recording");
    let bus = rec_report
        .channels
        .iter()
        .find(|c| c.0 == "/bus/virtual:late")
        .unwrap_or_else(|| panic!("no bus channel: {:?}", rec_report.channels));
    // About 500 transactions a second for 1.2 s, none dropped.
    assert!(bus.1 > 300, "{bus:?}");
    assert_eq!(bus.2, 0, "{bus:?}");
    let rec = recording::read(&file).expect("read");
    let c = rec
        .channels
        .iter()
        .find(|c| c.topic == "/bus/virtual:late")
        .expect("channel in the file");
    assert_eq!((c.messages, c.gaps), (bus.1, 0));
    assert!(c.first_s >= 0.3, "first bus record at {}", c.first_s);
}

/// The joint channels' protobuf schema and messages decode with Google's own protobuf
/// library (from PyPI), as Foxglove decodes them: same fields, same values.
#[test]
fn joint_samples_decode_with_the_official_protobuf_library() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.mcap");
    let opts = RunOptions {
        duration_s: Some(0.2),
        record: Some(armhil::telemetry::recorder::to_file(&file)),
        ..RunOptions::default()
    };
    runtime::run(&scene("scenes/arm6.ron"), &opts, &mut |_, _| {}).expect("run");
    let bytes = std::fs::read(&file).expect("read");
    let mut schema = None;
    let mut bodies = Vec::new();
    for m in mcap::MessageStream::new(&bytes).expect("mcap") {
        let m = m.expect("message");
        if m.channel.topic == "/joints/elbow_pitch" && bodies.len() < 5 {
            assert_eq!(m.channel.message_encoding, "protobuf");
            let s = m.channel.schema.as_ref().expect("schema");
            assert_eq!(
                (s.name.as_str(), s.encoding.as_str()),
                ("armhil.JointSample", "protobuf")
            );
            schema = Some(s.data.to_vec());
            bodies.push(m.data.to_vec());
        }
    }
    let schema_path = dir.path().join("schema.bin");
    std::fs::write(&schema_path, schema.expect("a joint channel")).expect("write");
    let mut args = vec![schema_path.display().to_string()];
    for (k, b) in bodies.iter().enumerate() {
        let p = dir.path().join(format!("m{k}.bin"));
        std::fs::write(&p, b).expect("write");
        args.push(p.display().to_string());
    }
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/it/python/decode_protobuf.py"))
        .args(&args)
        .env("PYTHONPATH", python_protobuf())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), bodies.len());
    for (line, body) in lines.iter().zip(&bodies) {
        let ours = armhil::recording::proto::decode_joint_sample(body).expect("decode");
        let theirs: serde_json::Value = serde_json::from_str(line).expect("json");
        for (k, v) in [
            ("t", ours.t),
            ("setpoint", ours.setpoint),
            ("measured", ours.measured),
            ("measured_vel", ours.measured_vel),
            ("torque", ours.torque),
            ("error", ours.error),
        ] {
            assert_eq!(theirs[k].as_f64(), Some(v), "{k}: {line}");
        }
        assert_eq!(theirs["state"].as_str(), Some(ours.state.as_str()));
    }
}

/// Google's protobuf package for Python, installed from PyPI into the build
/// directory once.
fn python_protobuf() -> std::path::PathBuf {
    python_packages("pyproto", "google.protobuf", &["protobuf==7.36.2"])
}
