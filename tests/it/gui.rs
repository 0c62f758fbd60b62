//! The GUI in screenshot mode under Xvfb with software Vulkan (Debian's `xvfb` and
//! `mesa-vulkan-drivers`, which the test command installs): it renders, writes a PNG
//! and exits 0, and the image shows the arm and the panels, not a blank frame.

use std::path::Path;
use std::process::Output;

use crate::common::*;

/// An RGB image.
struct Rgb {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Rgb {
    fn load(p: &Path) -> Rgb {
        let file = std::fs::File::open(p).expect("screenshot written");
        let mut dec = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .expect("a PNG");
        let mut buf = vec![0; dec.output_buffer_size().expect("size")];
        let info = dec.next_frame(&mut buf).expect("decode");
        let ch = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected PNG colour type {other:?}"),
        };
        let (w, h) = (info.width as usize, info.height as usize);
        let mut px = Vec::with_capacity(w * h * 3);
        for k in 0..w * h {
            px.extend_from_slice(&buf[k * ch..k * ch + 3]);
        }
        Rgb { w, h, px }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let k = (y * self.w + x) * 3;
        [self.px[k], self.px[k + 1], self.px[k + 2]]
    }

    /// Fraction of pixels in the rectangle for which `f` holds.
    fn share(
        &self,
        x0: usize,
        y0: usize,
        x1: usize,
        y1: usize,
        f: impl Fn([u8; 3]) -> bool,
    ) -> f64 {
        let mut n = 0;
        let mut hit = 0;
        for y in y0..y1.min(self.h) {
            for x in x0..x1.min(self.w) {
                n += 1;
                if f(self.at(x, y)) {
                    hit += 1;
                }
            }
        }
        hit as f64 / n.max(1) as f64
    }
}

/// `armhil gui ARGS --screenshot OUT` under a fresh Xvfb server.
fn screenshot(args: &[&str], out: &Path) -> Output {
    screenshot_of("gui", args, out)
}

/// `armhil COMMAND ARGS --screenshot OUT` (gui or replay) under a fresh Xvfb server.
fn screenshot_of(command: &str, args: &[&str], out: &Path) -> Output {
    let xvfb = Path::new("/usr/bin/xvfb-run");
    assert!(
        xvfb.exists(),
        "xvfb-run is missing: the test command installs Debian's xvfb and mesa-vulkan-drivers"
    );
    std::process::Command::new(xvfb)
        .current_dir(root())
        .args([
            "-a",
            "-s",
            "-screen 0 1280x720x24",
            env!("CARGO_BIN_EXE_armhil"),
            command,
        ])
        .args(args)
        .arg("--screenshot")
        .arg(out)
        .args(["--exit-after", "4"])
        .output()
        .expect("spawn xvfb-run")
}

/// The arm's links in the OK colour, lit: clearly green.
fn greenish(p: [u8; 3]) -> bool {
    let [r, g, b] = p.map(i32::from);
    g > r + 30 && g > b + 20 && g > 60
}

/// The egui panels' fill (dark theme) and the 3D view's background.
fn panel(p: [u8; 3]) -> bool {
    let [r, g, b] = p.map(i32::from);
    (r - g).abs() <= 3 && (g - b).abs() <= 3 && (20..=40).contains(&r)
}

fn check_layout(img: &Rgb, what: &str) {
    assert_eq!((img.w, img.h), (1280, 720), "{what}: window size");
    // 3D view: left of the 440 px plots panel, between the 38 px bar and the 222 px
    // table. The arm shows in the OK colour.
    let arm = img.share(0, 40, 835, 495, greenish);
    assert!(arm > 0.003, "{what}: no arm in the 3D view ({arm})");
    // ... rendered by the 3D camera (its clear colour around the arm).
    let bg = img.share(0, 40, 835, 495, |p| {
        let [r, g, b] = p.map(i32::from);
        (r - 41).abs() <= 3 && (g - 46).abs() <= 3 && (b - 56).abs() <= 3
    });
    assert!(bg > 0.5, "{what}: 3D view background share {bg}");
    let distinct: std::collections::HashSet<[u8; 3]> = (0..img.h)
        .step_by(3)
        .flat_map(|y| (0..img.w).step_by(3).map(move |x| (x, y)))
        .map(|(x, y)| img.at(x, y))
        .collect();
    assert!(
        distinct.len() > 200,
        "{what}: {} colours: a blank frame?",
        distinct.len()
    );
    // Panels: the right column and the bottom strip are mostly panel fill (text and
    // plot lines on top).
    let right = img.share(850, 45, 1280, 495, panel);
    let bottom = img.share(0, 505, 1280, 720, panel);
    assert!(right > 0.4, "{what}: right panel fill {right}");
    assert!(bottom > 0.4, "{what}: bottom panel fill {bottom}");
    // Text in the panels: bright pixels.
    let text = img.share(0, 505, 1280, 720, |p| p.iter().all(|&c| c > 150));
    assert!(text > 0.005, "{what}: no text in the joint table ({text})");
}

#[test]
fn screenshot_of_arm6_shows_the_arm_and_the_panels() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("arm6.png");
    let rec = dir.path().join("gui.mcap");
    let rec_arg = rec.to_str().expect("utf-8");
    let o = screenshot(&["scenes/arm6.ron", "--record", rec_arg], &out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    check_layout(&Rgb::load(&out), "arm6");
    // The run went on behind the window, reports, and was recorded (`--record` on
    // the GUI): every joint, every control period until the window closed.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("screenshot:"), "{stdout}");
    let r = armhil::recording::read(&rec).expect("recording readable");
    assert!(r.truncated.is_none(), "{:?}", r.truncated);
    assert_eq!(r.joints.len(), 6);
    let wrist = &r.joints["wrist_roll"];
    assert!(
        wrist.len() > 2000,
        "{} samples of a 1 kHz joint",
        wrist.len()
    );
    assert!(r.channels.iter().all(|c| c.gaps == 0), "{:?}", r.channels);
}

#[test]
fn screenshot_of_the_so101_shows_its_stl_meshes() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = dir.path().join("so101.ron");
    let text = format!(
        r#"(name: "so101", seed: 1, duration_s: 30.0, arm: Urdf(path: "{}"),
        servos: {{ "s": (gear_ratio: 345, stall_torque_nm: 3.35, no_load_speed_rad_s: 4.8, rotor_inertia_kgm2: 2.35e-7,
                       damping_nm_s_per_rad: 0.6, friction_nm: 0.052, encoder_ticks_per_rev: 4096) }},
        default_drive: (servo: "s", rate_hz: 500, controller: Pid(kp: 20.0, kd: 0.5, gravity_compensation: true)))"#,
        so101_urdf().display()
    );
    std::fs::write(&scene, text).expect("write");
    let out = dir.path().join("so101.png");
    let o = screenshot(&[scene.to_str().expect("utf-8")], &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "stderr: {stderr}");
    // Every link drawn from its STL meshes, none fell back to a shape.
    let loaded: usize = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gui: link meshes: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no mesh count: {stderr}"));
    assert!(loaded >= 10, "{loaded} meshes: {stderr}");
    assert!(!stderr.contains("not a readable STL"), "{stderr}");
    check_layout(&Rgb::load(&out), "so101");
}

/// Left drag orbits and the wheel zooms the 3D view (real X events from xdotool):
/// zoomed in, the arm fills far more of the view than at the default camera. The
/// e-stop's key (Esc) latches the e-stop.
#[test]
fn the_mouse_orbits_and_zooms_the_view_and_esc_latches_the_estop() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let before = dir.path().join("before.png");
    let after = dir.path().join("after.png");
    let report = dir.path().join("r.json");
    default_view(&before);
    // Drag across the view, scroll up three notches, press Esc.
    with_input(
        "xdotool mousemove 400 260 mousedown 1; \
         for x in 430 460 490 520 550; do xdotool mousemove $x 250; sleep 0.1; done; \
         xdotool mouseup 1; sleep 0.2; xdotool click 4 click 4 click 4; sleep 0.3; \
         xdotool search --name 'armhil: arm6' windowfocus --sync; xdotool key Escape",
        &after,
        &report,
    );
    let a = Rgb::load(&before).share(0, 40, 835, 495, greenish);
    let b = Rgb::load(&after).share(0, 40, 835, 495, greenish);
    assert!(
        b > 2.0 * a,
        "arm share {a} at the default camera, {b} after zooming in"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let estop = r["events"].as_array().expect("events").iter().any(|e| {
        e["kind"] == "estop" && e["detail"].as_str().is_some_and(|d| d.contains("operator"))
    });
    assert!(estop, "Esc did not latch the e-stop: {}", r["events"]);
}

/// A screenshot of arm6 at the default camera, for comparison.
fn default_view(out: &Path) {
    let o = screenshot(&["scenes/arm6.ron"], out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// In one X session: the GUI on arm6, and once its window is up, `xdotool` commands;
/// the GUI takes its screenshot at 6 s and writes its report.
fn with_input(xdotool: &str, out: &Path, report: &Path) {
    assert!(
        Path::new("/usr/bin/xdotool").exists(),
        "xdotool is missing: the test command installs it"
    );
    let script = format!(
        "{bin} gui scenes/arm6.ron --exit-after 6 --screenshot {out} --report {report} & \
         xdotool search --sync --name 'armhil: arm6' >/dev/null; sleep 1; {xdotool}; wait",
        bin = env!("CARGO_BIN_EXE_armhil"),
        out = out.display(),
        report = report.display()
    );
    let o = std::process::Command::new("/usr/bin/xvfb-run")
        .current_dir(root())
        .args(["-a", "-s", "-screen 0 1280x720x24", "sh", "-c", &script])
        .output()
        .expect("xvfb-run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Right drag pans: the arm follows the pointer across the view.
#[test]
fn right_drag_pans_the_view() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let before = dir.path().join("before.png");
    let after = dir.path().join("after.png");
    default_view(&before);
    with_input(
        "xdotool mousemove 300 260 mousedown 3; \
         for x in 340 380 420 460 500; do xdotool mousemove $x 260; sleep 0.1; done; \
         xdotool mouseup 3",
        &after,
        &dir.path().join("r.json"),
    );
    let cx = |p: &Path| {
        let img = Rgb::load(p);
        let (mut sum, mut n) = (0usize, 0usize);
        for y in 40..495 {
            for x in 0..835 {
                if greenish(img.at(x, y)) {
                    sum += x;
                    n += 1;
                }
            }
        }
        assert!(n > 100, "{}: no arm", p.display());
        sum as f64 / n as f64
    };
    let (a, b) = (cx(&before), cx(&after));
    assert!(
        b > a + 60.0,
        "arm centre x {a} before, {b} after a 200 px right drag"
    );
}

/// A joint in trouble shows in its state's colour, in the view and in the table; the
/// joint axes and link frames can be drawn over the arm.
#[test]
fn a_degraded_joint_is_coloured_and_axes_and_frames_draw() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("degraded.png");
    let o = screenshot(
        &[
            "scenes/arm6.ron",
            "--fault",
            "elbow_pitch:servo_error(overheat)@0.5..20",
            "--show-axes",
            "--show-frames",
        ],
        &out,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let img = Rgb::load(&out);
    // DEGRADED amber (240, 178, 50), lit: red high, green middling, blue low.
    let amber = |p: [u8; 3]| {
        let [r, g, b] = p.map(i32::from);
        r > 120 && g > r * 45 / 100 && g < r * 90 / 100 && b < g * 60 / 100
    };
    let in_view = img.share(100, 40, 835, 495, amber);
    assert!(in_view > 0.001, "no DEGRADED link in the view ({in_view})");
    let in_table = img.share(0, 505, 860, 720, amber);
    assert!(
        in_table > 0.0005,
        "no DEGRADED chip in the table ({in_table})"
    );
    // Link frames: their x axes are pure red gizmo lines over the view.
    let x_axes = img.share(100, 40, 835, 495, |p| {
        let [r, g, b] = p.map(i32::from);
        r > 200 && g < 40 && b < 40
    });
    assert!(x_axes > 0.0002, "no link frames drawn ({x_axes})");
}

/// `armhil replay`: the GUI on a recording, at a chosen instant.
#[test]
fn screenshot_of_a_replay_shows_the_recorded_arm() {
    let _g = exclusive();
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("r.mcap");
    let o = armhil()
        .args([
            "run",
            "scenes/arm6.ron",
            "--headless",
            "--duration",
            "3",
            "--record",
        ])
        .arg(&rec)
        .output()
        .expect("record");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = dir.path().join("replay.png");
    let xvfb = screenshot_of(
        "replay",
        &[rec.to_str().expect("utf-8"), "--at", "2.0"],
        &out,
    );
    assert_eq!(
        xvfb.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&xvfb.stderr)
    );
    check_layout(&Rgb::load(&out), "replay");
}

#[test]
fn gui_refuses_bad_options_with_exit_2() {
    let _g = shared();
    for (args, needle) in [
        (vec!["gui", "scenes/arm6.ron", "--speed", "50"], "--speed"),
        (
            vec!["gui", "scenes/arm6.ron", "--exit-after", "0"],
            "--exit-after",
        ),
        (
            vec!["gui", "scenes/arm6.ron", "--screenshot", "x.jpg"],
            "--screenshot",
        ),
    ] {
        let o = armhil()
            .env("DISPLAY", ":99")
            .args(&args)
            .output()
            .expect("spawn");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(needle),
            "{args:?}"
        );
    }
    // A recording that is not one: exit 2, before any window.
    let o = armhil()
        .env("DISPLAY", ":99")
        .args(["replay", "Cargo.toml"])
        .output()
        .expect("spawn");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Cargo.toml"));
    // Without a display the GUI says so and starts nothing.
    let o = armhil()
        .args(["gui", "scenes/arm6.ron"])
        .output()
        .expect("spawn");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no display"));
}
