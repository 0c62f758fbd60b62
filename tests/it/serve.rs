//! `armhil serve`: the simulated SO-101 as a servo bus for host software no one here
//! wrote — Feetech's and ROBOTIS' official SDKs and LeRobot's SO-101 follower (from
//! PyPI, unmodified) — plus the served joint's firmware against the plant on a run of
//! its own (exact, no threads), EEPROM kept between runs, and bad input.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use armhil::hardware::protocol::sts;
use armhil::hardware::served::ServedJoint;
use armhil::hardware::transport::Transport;
use armhil::hardware::transport::serial::SerialTransport;
use armhil::hardware::virtual_servo::ServedLink;
use armhil::hardware::virtual_servo::table;
use armhil::runtime::{self, RunOptions};
use armhil::servo::firmware::{Drive, Flags};

/// `armhil serve scenes/so101.ron` in the background, on a link in a temp dir.
struct Serve {
    child: Killed,
    link: PathBuf,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let link = dir.join("so101");
        let mut child = armhil()
            .args(["serve", "scenes/so101.ron", "--headless", "--link"])
            .arg(&link)
            .arg("--eeprom")
            .arg(dir.join("eeprom.json"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn armhil serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut path = String::new();
        stdout.read_line(&mut path).expect("device path");
        let path = path.trim().to_string();
        if !path.starts_with("/dev/pts/") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("armhil serve printed {path:?}; stderr: {err}");
        }
        assert_eq!(
            std::fs::read_link(&link).expect("link").to_string_lossy(),
            path
        );
        Self {
            child: Killed::new(child),
            link,
            stdout,
        }
    }

    fn link(&self) -> String {
        self.link.display().to_string()
    }

    /// Ends the run (SIGTERM when it is still serving) and returns its stdout.
    fn finish(mut self) -> (Option<i32>, String) {
        self.child.terminate();
        let mut out = String::new();
        let _ = self.stdout.read_to_string(&mut out);
        (self.child.end(), out)
    }
}

/// SO-101 joint `i` served as STS ID i + 1, at rest at 0 (tick 2048), for runs with
/// no bus thread (the test sets its registers' drive itself).
fn served_joint(i: usize) -> ServedJoint {
    ServedJoint {
        joint: i,
        id: i as u8 + 1,
        label: format!("served:sts:{}", i + 1),
        link: ServedLink::new(2048.0),
        zero_actual: 2048.0,
        ticks_per_unit: 4096.0 / std::f64::consts::TAU,
        proxy: None,
    }
}

#[test]
fn official_feetech_sdk_drives_the_served_so101() {
    // A host flat out against a real-time bus, with the SDK's own reply timeouts:
    // alone on the machine, so no other test's load makes a reply late.
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(dir.path(), &["--duration", "60"]);
    let out = run_python("served_sdk.py", &["sts", &s.link(), "1000000"]);
    assert!(
        out.contains("ping ok [1, 2, 3, 4, 5, 6] model 777"),
        "{out}"
    );
    let (code, text) = s.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("served:sts:1") && text.contains("served bus:"),
        "{text}"
    );
    assert!(
        !dir.path().join("so101").exists(),
        "the link is removed at the end"
    );
}

#[test]
fn official_dynamixel_sdk_drives_the_served_so101() {
    // A host flat out against a real-time bus, with the SDK's own reply timeouts:
    // alone on the machine, so no other test's load makes a reply late.
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(dir.path(), &["--duration", "60", "--protocol", "dxl"]);
    let out = run_python("served_sdk.py", &["dxl", &s.link(), "1000000"]);
    assert!(
        out.contains("ping ok [1, 2, 3, 4, 5, 6] model 1020"),
        "{out}"
    );
    let (code, text) = s.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("served:dxl:6"), "{text}");
}

/// LeRobot 0.6 (PyPI, `--no-deps`, plus the packages its motors path imports) under
/// Python >= 3.12; torch, imported for type names only, is stood in for when absent.
fn lerobot() -> (PathBuf, std::ffi::OsString) {
    let py = python312();
    let deps = python_packages_for(
        &py,
        "pylerobot",
        "lerobot.robots.so_follower, scservo_sdk, deepdiff",
        &[
            &["--no-deps", "lerobot==0.6.1"],
            &[
                "feetech-servo-sdk==1.0.0",
                "pyserial==3.5",
                "draccus==0.11.6",
                "numpy==2.5.5",
                "tqdm==4.70.1",
                "huggingface_hub==2.4.0",
                "deepdiff==9.1.0",
            ],
        ],
    );
    let path = python_path(&[&deps, &torch_stub(&py)]);
    (py, path)
}

#[test]
fn lerobot_so101_follower_connects_reaches_a_pose_and_reconnects_without_a_prompt() {
    // A host flat out against a real-time bus, with the SDK's own reply timeouts:
    // alone on the machine, so no other test's load makes a reply late.
    let _g = exclusive();
    let (py, pythonpath) = lerobot();
    let dir = tempfile::tempdir().expect("tempdir");
    let calib = dir.path().join("calibration");
    let file = calib.join("armhil_test.json");
    let file_arg = file.display().to_string();
    let s = Serve::start(
        dir.path(),
        &["--duration", "60", "--lerobot-calibration", &file_arg],
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("calibration file"))
            .expect("json");
    assert_eq!(written["gripper"]["id"], 6, "{written}");
    // -1.91986 rad at 4096 ticks/rev below 2048.
    assert_eq!(written["shoulder_pan"]["range_min"], 796, "{written}");
    let out = Command::new(&py)
        .arg(root().join("tests/it/python/lerobot_so101.py"))
        .args([&s.link(), &calib.display().to_string(), "armhil_test"])
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::null())
        .output()
        .expect("python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("PASS"), "{text}");
    let (code, report) = s.finish();
    assert_eq!(code, Some(0), "{report}");
    // LeRobot configured the servos with torque off (Lock 0): its P coefficient 16 is
    // kept in EEPROM for the next run.
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("eeprom.json")).expect("eeprom"),
    )
    .expect("json");
    assert_eq!(
        kept["servos"]["shoulder_pan"][table::sts::P_GAIN as usize],
        16
    );
    assert_eq!(
        kept["servos"]["gripper"][table::sts::MAX_TORQUE as usize],
        500 % 256
    );
}

/// One STS instruction to servo `id` on `port`; the status reply, if any.
fn sts_call(port: &mut SerialTransport, id: u8, ins: sts::Instruction) -> Option<sts::Status> {
    port.write_all(&ins.encode(id).expect("encode"), Duration::from_millis(200))
        .expect("write");
    let mut d = sts::Decoder::new();
    let mut buf = [0u8; 64];
    for _ in 0..40 {
        let n = port.read(&mut buf, Duration::from_millis(5)).expect("read");
        d.push(&buf[..n]);
        if let Some(Ok(f)) = d.next_frame() {
            return sts::Status::from_frame(&f).ok();
        }
    }
    None
}

fn sts_write(port: &mut SerialTransport, id: u8, addr: u8, data: &[u8]) {
    let st = sts_call(
        port,
        id,
        sts::Instruction::Write {
            addr,
            data: data.to_vec(),
        },
    )
    .expect("write acknowledged");
    assert_eq!(st.error, 0);
}

fn sts_read(port: &mut SerialTransport, id: u8, addr: u8, len: u8) -> Vec<u8> {
    sts_call(port, id, sts::Instruction::Read { addr, len })
        .expect("read answered")
        .params
}

#[test]
fn eeprom_writes_are_kept_between_serve_runs_only_while_unlocked() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(dir.path(), &["--duration", "60"]);
    let mut port = SerialTransport::open(&s.link(), 1_000_000).expect("open");
    // Locked (the factory state): the return delay takes effect but is not kept.
    sts_write(&mut port, 1, table::sts::RETURN_DELAY, &[100]);
    assert_eq!(sts_read(&mut port, 1, table::sts::RETURN_DELAY, 1), [100]);
    // Unlocked: a new ID and P coefficient are kept.
    sts_write(&mut port, 2, table::sts::LOCK, &[0]);
    sts_write(&mut port, 2, table::sts::P_GAIN, &[20]);
    sts_write(&mut port, 2, table::sts::ID, &[12]);
    assert!(sts_call(&mut port, 2, sts::Instruction::Ping).is_none());
    assert!(sts_call(&mut port, 12, sts::Instruction::Ping).is_some());
    drop(port);
    let (code, text) = s.finish();
    assert_eq!(code, Some(0), "{text}");

    let s = Serve::start(dir.path(), &["--duration", "60"]);
    let mut port = SerialTransport::open(&s.link(), 1_000_000).expect("open");
    assert_eq!(
        sts_read(&mut port, 1, table::sts::RETURN_DELAY, 1),
        [0],
        "a locked write is lost at power-off"
    );
    assert!(sts_call(&mut port, 2, sts::Instruction::Ping).is_none());
    assert_eq!(sts_read(&mut port, 12, table::sts::P_GAIN, 1), [20]);
    assert_eq!(
        sts_read(&mut port, 12, table::sts::MODEL, 2),
        777u16.to_le_bytes()
    );
    drop(port);
    let (code, text) = s.finish();
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn serve_without_a_duration_runs_until_sigterm_and_finishes_its_report() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.json");
    let s = Serve::start(dir.path(), &["--report", &report.display().to_string()]);
    std::thread::sleep(Duration::from_millis(800));
    let (code, text) = s.finish();
    assert_eq!(code, Some(0), "{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(r["joints"][5]["backend"], "served:sts:6", "{r}");
    let t = r["sim_time_s"].as_f64().expect("sim time");
    assert!(t > 0.5 && t < 60.0, "ended by SIGTERM at {t} s");
}

#[test]
fn serve_refuses_bad_input_with_exit_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_eeprom = dir.path().join("bad.json");
    std::fs::write(&bad_eeprom, "{\"protocol\": \"dxl\", \"servos\": {}}").expect("write");
    let bad = bad_eeprom.display().to_string();
    for (args, says) in [
        (vec!["--ids", "elbow=1"], "serve.ids.elbow"),
        (vec!["--ids", "gripper=1,wrist_roll=1"], "also"),
        (vec!["--ids", "gripper=300"], "0..=252"),
        (vec!["--baud", "12345"], "expected one of"),
        (vec!["--eeprom", &bad], "field protocol"),
    ] {
        let out = armhil()
            .args(["serve", "scenes/so101.ron", "--headless", "--duration", "1"])
            .args(&args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing started");
    }
}

/// The served joint's firmware against the plant, on a lockstep run (simulated time,
/// no bus thread): the registers' drive moves the joint, the servo reports the
/// physics, torque off lets gravity take it, and faults reach the host's view.
#[test]
fn a_served_joint_follows_its_registers_and_reports_the_physics_exactly() {
    let scene = scene("scenes/so101.ron");
    let links: Vec<ServedJoint> = (0..6).map(served_joint).collect();
    let on = |goal: f64, enables: u32| Drive {
        torque_on: true,
        enables,
        goal,
        p: 32.0,
        ..Drive::off(2048.0)
    };
    // shoulder_pan (vertical axis, no gravity) to +300 ticks; shoulder_lift held at
    // 2048; elbow torque off; the gripper's servo loses power half-way.
    links[0].link.drive.set(on(2348.0, 1));
    links[1].link.drive.set(on(2048.0, 1));
    links[5].link.drive.set(on(2048.0, 1));
    let mut s = scene.clone();
    s.duration_s = 2.0;
    s.faults
        .push(armhil::faults::parse_cli_fault("gripper:power_loss@1.0..3.0").expect("fault"));
    s.faults.push(
        armhil::faults::parse_cli_fault("wrist_flex:servo_error(overheat)@1.0..3.0")
            .expect("fault"),
    );
    let opts = RunOptions {
        served: links.clone(),
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let p: Vec<_> = links.iter().map(|l| l.link.present.get()).collect();
    // Within the gear's backlash (±0.5° = ±5.7 ticks) plus what friction holds.
    assert!((p[0].pos - 2348.0).abs() <= 12.0, "pan at {}", p[0].pos);
    assert!(p[0].torque_on, "{:?}", p[0]);
    assert!(
        (p[1].pos - 2048.0).abs() <= 40.0,
        "lift held at {}",
        p[1].pos
    );
    assert!(
        p[1].load.abs() > 0.05,
        "holding the arm costs torque: {}",
        p[1].load
    );
    assert!(!p[2].torque_on);
    assert!(
        (p[2].pos - 2048.0).abs() > 100.0,
        "limp elbow fell: {}",
        p[2].pos
    );
    assert!(!p[5].powered, "no power: the gripper's servo is silent");
    assert!(p[3].flags.has(Flags::OVERHEAT), "{:?}", p[3].flags);
    assert_eq!(joint(&r, "shoulder_pan").backend, "served:sts:1");
    // Deterministic: the same run gives the same readings.
    let again: Vec<ServedJoint> = links
        .iter()
        .map(|l| ServedJoint {
            link: ServedLink::new(2048.0),
            ..l.clone()
        })
        .collect();
    again[0].link.drive.set(on(2348.0, 1));
    again[1].link.drive.set(on(2048.0, 1));
    again[5].link.drive.set(on(2048.0, 1));
    let opts = RunOptions {
        served: again.clone(),
        ..RunOptions::default()
    };
    runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    for (a, b) in links.iter().zip(&again) {
        assert_eq!(a.link.present.get(), b.link.present.get());
    }
}

#[test]
fn physics_never_waits_on_the_bus_thread_even_while_it_holds_the_registers() {
    // A bus thread stalled in the middle of copying joint 0's registers and reading
    // holds both cells (a scripted stall) for as long as it likes: the physics of a
    // real-time run must keep every 1 ms slot regardless, answering from what it had.
    let scene = scene("scenes/so101.ron");
    let links: Vec<ServedJoint> = (0..6).map(served_joint).collect();
    let (held_tx, held_rx) = crossbeam::channel::bounded::<()>(1);
    let (done_tx, done_rx) = crossbeam::channel::bounded::<()>(1);
    let stalled = links[0].link.clone();
    let holder = std::thread::spawn(move || {
        let drive = stalled.drive.hold();
        let present = stalled.present.hold();
        let _ = held_tx.send(());
        // Released when the run has ended, or (a physics thread that waited) at last.
        let waited = done_rx.recv_timeout(Duration::from_secs(20)).is_err();
        drop((drive, present));
        waited
    });
    held_rx.recv().expect("holding");
    let mut s = scene.clone();
    s.duration_s = 1.0;
    let opts = RunOptions {
        executor: armhil::runtime::Executor::Realtime,
        clock: Some(std::sync::Arc::new(armhil::sys::clock::ManualClock::new())),
        served: links.clone(),
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let _ = done_tx.send(());
    assert!(
        !holder.join().expect("holder"),
        "physics waited for the stalled bus"
    );
    assert_eq!(r.steps, 1000);
    assert_eq!(r.missed_steps, Some(0));
    assert_eq!(r.step_lateness_us.as_ref().map(|l| l.max), Some(0.0));
    // The other servos' readings went on being published; joint 0's waits for the
    // bus to let go (its cell still holds the power-on reading).
    assert_eq!(
        links[0].link.present.get(),
        ServedLink::new(2048.0).present.get()
    );
    assert_ne!(
        links[1].link.present.get(),
        ServedLink::new(2048.0).present.get()
    );
}

/// Runs a tests/it/python SCRIPT with the official SDKs; returns its output (it must
/// print PASS).
fn host(script: &str, args: &[&str]) -> String {
    run_python(script, args)
}

#[test]
fn faults_reach_the_host_and_its_reactions_are_judged() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    // The SO-101 with faults toward the host and expectations on its reactions.
    let text = std::fs::read_to_string(root().join("scenes/so101.ron")).expect("scene");
    let extra = r#"    faults: [
        (joint: "gripper", kind: ServoError(bit: Overheat), at: 1.0, until: 1.5),
        (joint: "wrist_roll", kind: PowerLoss, at: 1.0, until: 1.5),
        (joint: "elbow_flex", kind: LinkCorrupt(p: 0.2), at: 1.0, until: 1.5),
        (joint: "wrist_flex", kind: WrongId(id: 9), at: 1.0, until: 1.5),
    ],
    expect: [
        HostTorqueOff(joint: "gripper", within_ms: 300),
        HostStopsWriting(joint: "wrist_roll", within_ms: 1500),
        HostTorqueOff(joint: "wrist_flex", within_ms: 300),
        HostStopsWriting(joint: "wrist_roll", within_ms: 30),
    ],
    serve: ("#;
    let scene = dir.path().join("so101_faults.ron");
    std::fs::write(&scene, text.replacen("    serve: (", extra, 1)).expect("write scene");
    let report = dir.path().join("report.json");
    let link = dir.path().join("so101");
    let mut child = armhil()
        .arg("serve")
        .arg(&scene)
        .args(["--headless", "--duration", "5", "--link"])
        .arg(&link)
        .arg("--eeprom")
        .arg(dir.path().join("eeprom.json"))
        .arg("--report")
        .arg(&report)
        .arg("--record")
        .arg(dir.path().join("run.mcap"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("path");
    assert!(first.starts_with("/dev/pts/"), "{first}");
    let out = host("served_host.py", &[&link.display().to_string(), "3.0"]);
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    // Two expectations are meant to fail: wrist_flex never raised an error bit, and
    // this host writes to a silent servo until three reads in a row have failed,
    // each after the SDK's 34 ms timeout, so for longer than 30 ms.
    assert_eq!(status.code(), Some(1), "{rest}");
    // What the host saw: the overheat bit on the gripper (and turned its torque off),
    // a silent wrist_roll, corrupted replies from the elbow, wrong-ID replies from
    // the wrist_flex; nothing wrong with the shoulder.
    let count = |line: &str, id: u32| -> u32 {
        let l = out.lines().find(|l| l.starts_with(line)).expect("counts");
        let key = format!("{id}: ");
        let at = l.find(&key).expect("id") + key.len();
        l[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|v| v.parse().ok())
            .expect("number")
    };
    assert!(count("errors", 6) > 0, "{out}");
    assert!(out.contains("torque off [6]"), "{out}");
    for id in [3, 4, 5] {
        assert!(count("fails", id) > 0, "servo {id}: {out}");
    }
    assert_eq!(count("fails", 1) + count("fails", 2), 0, "{out}");
    let r: armhil::report::Report =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let v: Vec<(bool, &str)> = r
        .expectations
        .iter()
        .map(|v| (v.passed, v.detail.as_str()))
        .collect();
    assert!(v[0].0 && v[1].0, "{v:?}");
    assert!(!v[2].0 && v[2].1.contains("never raised"), "{v:?}");
    assert!(!v[3].0 && v[3].1.contains("still written"), "{v:?}");
    assert!(r.faults.iter().all(|f| f.toward_host), "{:?}", r.faults);
    let s = r.served.as_ref().expect("served figures");
    assert!(
        s.by_instruction["read"] > 100 && s.by_instruction["write"] > 100,
        "{s:?}"
    );
    let gripper = s
        .joints
        .iter()
        .find(|j| j.joint == "gripper")
        .expect("gripper");
    assert_eq!(gripper.torque_off_at.len(), 1, "{gripper:?}");
    assert!(
        r.events
            .iter()
            .any(|e| e.joint == "gripper" && e.detail.contains("error bits 0x04 (overheat)")),
        "the servo's status is in the event log"
    );
    // Every host request is recorded, with its own schema.
    let rec = armhil::recording::read(&dir.path().join("run.mcap")).expect("recording");
    let ch = rec
        .channels
        .iter()
        .find(|c| c.topic == "/bus/served")
        .expect("/bus/served");
    assert_eq!(ch.schema, "armhil.ServedSample");
    assert_eq!(ch.messages, s.requests, "{ch:?}");
    assert_eq!(ch.gaps, 0);
}

#[test]
fn an_unplugged_served_bus_hangs_up_and_comes_back_under_the_same_link() {
    let _g = shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Serve::start(
        dir.path(),
        &["--duration", "4", "--fault", "shoulder_pan:unplug@1.5..2.1"],
    );
    let out = host("served_unplug.py", &[&s.link(), "3.5"]);
    assert!(out.contains("port lost"), "{out}");
    let (code, text) = s.finish();
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_proxied_joint_is_a_real_servo_on_another_port_and_its_twin_follows_it() {
    // Three processes on two pty buses with the host flat out: alone on the machine,
    // so no other test's load makes the real servo's replies late.
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    // The "real" servo: an emulated STS3215 with ID 7 on its own pty.
    let real = dir.path().join("real");
    let mut servo = Killed::new(
        armhil()
            .args(["virtual-servo", "--protocol", "sts", "--ids", "7", "--link"])
            .arg(&real)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("virtual-servo"),
    );
    let mut line = String::new();
    BufReader::new(servo.child().stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("path");
    let report = dir.path().join("report.json");
    let proxy = format!("elbow_flex=serial:{}:sts:7", real.display());
    let s = Serve::start(
        dir.path(),
        &[
            "--duration",
            "60",
            "--proxy",
            &proxy,
            "--report",
            &report.display().to_string(),
        ],
    );
    // The official SDK sees one bus of six STS3215s: ID 3 is the real one (its
    // model read, goal written and position read through the proxy, under ID 3).
    let out = run_python("served_sdk.py", &["sts", &s.link(), "1000000"]);
    assert!(
        out.contains("ping ok [1, 2, 3, 4, 5, 6] model 777"),
        "{out}"
    );
    let (code, text) = s.finish();
    drop(servo);
    assert_eq!(code, Some(0), "{text}");
    let r: armhil::report::Report =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let elbow = joint(&r, "elbow_flex");
    assert_eq!(
        elbow.backend,
        format!("proxy:serial:{}:sts:7", real.display())
    );
    // The real servo went to 2148 (100 ticks = 0.153 rad past centre); the twin
    // followed it there.
    assert!(
        (0.13..0.25).contains(&elbow.max_pos_rad),
        "the twin followed to {}",
        elbow.max_pos_rad
    );
    let served = r.served.as_ref().expect("served");
    assert!(served.by_instruction["sync_read"] > 100, "{served:?}");
}

#[test]
fn a_proxy_on_another_protocol_or_a_missing_port_is_refused_with_exit_2() {
    for (proxy, says) in [
        (
            "elbow_flex=serial:/dev/null:dxl:7",
            "a proxied servo must too",
        ),
        ("elbow=serial:/dev/ttyUSB9:sts:7", "no actuated joint named"),
        (
            "elbow_flex=serial:/nonexistent/tty:sts:7",
            "--proxy elbow_flex",
        ),
    ] {
        let out = armhil()
            .args([
                "serve",
                "scenes/so101.ron",
                "--headless",
                "--duration",
                "1",
                "--proxy",
                proxy,
            ])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{proxy}: {err}");
        assert!(err.contains(says), "{proxy}: {err}");
    }
}

/// Overload from real torque only, on a lockstep run: a served joint pushing against a
/// jam for the protection time trips it (error bit, torque off, an event), while a
/// free move of 1600 ticks on another joint does not.
#[test]
fn a_jammed_served_joint_trips_overload_and_a_free_move_never_does() {
    let scene = scene("scenes/so101.ron");
    let (pan, roll) = (served_joint(0), served_joint(4));
    let on = |goal: f64| Drive {
        torque_on: true,
        enables: 1,
        goal,
        ..Drive::off(2048.0)
    };
    pan.link.drive.set(on(2448.0));
    // wrist_roll: a 1600-tick move (it takes ~0.6 s at full speed).
    roll.link.drive.set(on(3648.0));
    let mut s = scene.clone();
    s.duration_s = 3.0;
    s.faults
        .push(armhil::faults::parse_cli_fault("shoulder_pan:jam@0.0..3.0").expect("fault"));
    let opts = RunOptions {
        served: vec![pan.clone(), roll.clone()],
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let p = pan.link.present.get();
    assert!(p.flags.has(Flags::OVERLOAD), "{p:?}");
    assert!(
        !p.torque_on,
        "overload unloads the motor (Unloading Condition 44)"
    );
    assert!(
        (p.pos - 2048.0).abs() <= 8.0,
        "jammed where it was: {}",
        p.pos
    );
    let trip = r
        .events
        .iter()
        .find(|e| e.joint == "shoulder_pan" && e.detail.contains("overload"))
        .expect("overload event");
    // Protection Time 2 s at Overload Torque 80 %, counted from the first step of the
    // push (t = 0): the 2000th 1 ms step, stamped t = 1.999 s.
    assert!((trip.t - 1.999).abs() < 1e-9, "tripped at {}", trip.t);
    let q = roll.link.present.get();
    assert!(!q.flags.has(Flags::OVERLOAD) && q.torque_on, "{q:?}");
    assert!(
        (q.pos - 3648.0).abs() <= 12.0,
        "the free move arrived: {}",
        q.pos
    );
}

#[test]
fn the_so101_scene_shows_its_meshes_when_they_are_there_and_boxes_otherwise() {
    // Beside the checkout: ../shared/models/so101/assets has the 17 STL files its
    // URDF places on the seven links.
    let s = scene("scenes/so101.ron");
    let meshes: usize = s.arm.links.iter().map(|l| l.meshes.len()).sum();
    assert_eq!(meshes, 17);
    assert!(
        s.arm
            .links
            .iter()
            .all(|l| l.meshes.iter().all(|m| m.0.is_file()))
    );
    // The same scene elsewhere: the files are not there, the scene is still valid and
    // shows its boxes.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("so101.ron");
    std::fs::copy(root().join("scenes/so101.ron"), &copy).expect("copy");
    let s = armhil::scene::Scene::load(&copy).expect("valid without the meshes");
    assert!(
        s.arm
            .links
            .iter()
            .all(|l| l.meshes.is_empty() && l.shape.is_some())
    );
}

/// Controller faults act on a served servo's own firmware (lockstep, exact): a panic
/// resets it (silent while it boots, then torque off), a hang silences it with its
/// output frozen, a slow firmware answers late.
#[test]
fn controller_faults_on_a_served_joint_reset_hang_or_slow_its_firmware() {
    let scene = scene("scenes/so101.ron");
    let links: Vec<ServedJoint> = (0..6).map(served_joint).collect();
    for l in &links {
        l.link.drive.set(Drive {
            torque_on: true,
            enables: 1,
            ..Drive::off(2048.0)
        });
    }
    let mut s = scene.clone();
    s.duration_s = 2.0;
    for f in [
        "shoulder_pan:panic@1.0",
        "elbow_flex:hang@1.0..1.5",
        "wrist_flex:slow(5)@1.0..3.0",
    ] {
        s.faults
            .push(armhil::faults::parse_cli_fault(f).expect("fault"));
    }
    let opts = RunOptions {
        served: links.clone(),
        ..RunOptions::default()
    };
    let r = runtime::run(&s, &opts, &mut |_, _| {}).expect("run");
    let power: Vec<(f64, &str, &str)> = r
        .events
        .iter()
        .filter(|e| e.kind == "servo_power")
        .map(|e| (e.t, e.joint.as_str(), e.detail.as_str()))
        .collect();
    let at = |j: &str, d: &str| {
        power
            .iter()
            .find(|(_, jj, dd)| *jj == j && dd.contains(d))
            .map(|p| p.0)
    };
    assert_eq!(at("shoulder_pan", "firmware reset"), Some(1.0), "{power:?}");
    let back = at("shoulder_pan", "answers again").expect("back");
    assert!((back - 1.05).abs() < 1e-9, "{power:?}");
    let pan = links[0].link.present.get();
    assert_eq!(pan.boots, 1);
    assert!(
        !pan.torque_on && pan.powered,
        "reset: torque off, answering: {pan:?}"
    );
    assert_eq!(at("elbow_flex", "firmware hung"), Some(1.0), "{power:?}");
    assert_eq!(at("elbow_flex", "answers again"), Some(1.5), "{power:?}");
    assert!(
        links[2].link.present.get().torque_on,
        "a hang is not a reset"
    );
    assert_eq!(
        links[3].link.faults.get(),
        vec![armhil::faults::FaultKind::LinkLatency {
            ms: 5.0,
            jitter_ms: 0.0
        }],
        "a slow firmware answers 5 ms late"
    );
}

/// A Dynamixel bus with one servo proxied to a "real" one (an emulated bus behind an
/// in-memory wire, ID 7): Fast Sync Read, Bulk Read and Bulk Write are split and merged
/// like sync reads and writes.
#[test]
fn the_proxy_splits_fast_sync_and_bulk_instructions_too() {
    use armhil::hardware::protocol::dxl;
    use armhil::hardware::transport::memory::MemoryTransport;
    use armhil::hardware::virtual_servo::proxy::Proxy;
    use armhil::hardware::virtual_servo::table::{Protocol, Table};
    use armhil::hardware::virtual_servo::{Body, VirtualBus, VirtualServo, serve};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let _g = shared();
    let (host_end, mut servo_end) = MemoryTransport::pair();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let real = std::thread::spawn(move || {
        let mut bus = VirtualBus::with_positions(Protocol::Dxl, &[(7, 1000.0)], 1_000_000);
        let clock = armhil::sys::clock::WallClock::new();
        let _ = serve(&mut bus, &mut servo_end, &stop2, &clock);
    });
    let servos = vec![
        VirtualServo::new(
            Table::new(Protocol::Dxl, 1, 2048.0),
            Body::Served(ServedLink::new(2048.0)),
        ),
        VirtualServo::new(
            Table::new(Protocol::Dxl, 3, 2048.0),
            Body::Proxy(Proxy::new(Box::new(host_end), 7, Protocol::Dxl)),
        ),
    ];
    let mut bus = VirtualBus::with_servos(Protocol::Dxl, servos, 1_000_000);
    let pos = armhil::hardware::virtual_servo::table::dxl::PRESENT_POSITION;
    // Fast Sync Read of 3 (the real one) and 1: one packet, blocks in the host's order.
    let fsr = dxl::Instruction::FastSyncRead {
        addr: pos,
        len: 4,
        ids: vec![3, 1],
    };
    let r = bus.receive(&fsr.encode(dxl::BROADCAST).expect("enc"));
    assert_eq!(r.len(), 1);
    let mut d = dxl::Decoder::new();
    d.push(&r[0].bytes);
    let f = d.next_frame().expect("frame").expect("valid");
    let blocks = dxl::parse_fast_sync_reply(&f, 4).expect("blocks");
    assert_eq!(blocks.iter().map(|b| b.id).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(
        blocks[0].data,
        1000i32.to_le_bytes(),
        "the real servo's position"
    );
    assert_eq!(blocks[1].data, 2048i32.to_le_bytes());
    // Bulk Read: its replies in its order, the real one under ID 3.
    let br = dxl::Instruction::BulkRead {
        reads: vec![(3, pos, 4), (1, pos, 4)],
    };
    let r = bus.receive(&br.encode(dxl::BROADCAST).expect("enc"));
    let ids: Vec<u8> = r
        .iter()
        .map(|x| {
            let mut d = dxl::Decoder::new();
            d.push(&x.bytes);
            dxl::Status::from_frame(&d.next_frame().expect("frame").expect("valid"))
                .expect("status")
                .id
        })
        .collect();
    assert_eq!(ids, [3, 1]);
    // Bulk Write: torque on and a goal reach the real servo; it moves there.
    let tq = armhil::hardware::virtual_servo::table::dxl::TORQUE_ENABLE;
    let goal = armhil::hardware::virtual_servo::table::dxl::GOAL_POSITION;
    let bw = dxl::Instruction::BulkWrite {
        writes: vec![(3, tq, vec![1])],
    };
    assert!(
        bus.receive(&bw.encode(dxl::BROADCAST).expect("enc"))
            .is_empty()
    );
    let bw = dxl::Instruction::BulkWrite {
        writes: vec![(3, goal, 1500i32.to_le_bytes().to_vec())],
    };
    assert!(
        bus.receive(&bw.encode(dxl::BROADCAST).expect("enc"))
            .is_empty()
    );
    std::thread::sleep(Duration::from_millis(600));
    let rd = dxl::Instruction::Read { addr: pos, len: 4 };
    let r = bus.receive(&rd.encode(3).expect("enc"));
    let mut d = dxl::Decoder::new();
    d.push(&r[0].bytes);
    let st =
        dxl::Status::from_frame(&d.next_frame().expect("frame").expect("valid")).expect("status");
    let at = i32::from_le_bytes([st.params[0], st.params[1], st.params[2], st.params[3]]);
    assert_eq!(st.id, 3);
    assert!((at - 1500).abs() <= 10, "the real servo went to {at}");
    stop.store(true, Ordering::Relaxed);
    let _ = real.join();
}
