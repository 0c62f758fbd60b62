//! Shared helpers. Real-time tests need the machine to themselves (2 cores): they take
//! the exclusive lock, every other heavy test a shared one.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use armhil::scene::{Scene, SceneError};

static MACHINE: RwLock<()> = RwLock::new(());

pub fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scene(rel: &str) -> Scene {
    Scene::load(&root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn parse(text: &str) -> Result<Scene, SceneError> {
    Scene::from_ron_str(Path::new("test.ron"), text)
}

/// The SO-101's URDF in ../shared (beside the checkout). Tests that use it fail
/// here, loudly, when it is missing, rather than testing nothing.
pub fn so101_urdf() -> PathBuf {
    let p = root().join("../shared/models/so101/so101_new_calib.urdf");
    assert!(
        p.is_file(),
        "{} is missing: the SO-101 model is expected in ../shared/models/so101 beside the checkout",
        p.display()
    );
    p
}

/// A one-joint pendulum: 0.3 m, 1 kg link on a pitch joint. `extra` is spliced into
/// the scene's top level; `drive` is the joint's drive.
pub fn pendulum(initial: f64, drive: &str, extra: &str) -> String {
    format!(
        r#"(
    seed: 3,
    duration_s: 3.0,
    arm: Inline(base: "base", links: [
        (name: "base", mass_kg: 1.0, shape: Box(size: (0.1, 0.1, 0.1))),
        (name: "arm", mass_kg: 1.0, com: (0, 0, 0.15), shape: Box(size: (0.03, 0.03, 0.3)), shape_origin: (xyz: (0, 0, 0.15))),
    ], joints: [
        (name: "pitch", kind: Revolute, parent: "base", child: "arm", origin: (xyz: (0, 0, 0.1)),
         axis: (0, 1, 0), limits: (lower: -2.0, upper: 2.0), initial: {initial}),
    ]),
    servos: {{
        "s": (gear_ratio: 200, stall_torque_nm: 20.0, no_load_speed_rad_s: 6.0, rotor_inertia_kgm2: 5e-7,
              damping_nm_s_per_rad: 0.1, friction_nm: 0.02, encoder_ticks_per_rev: 4096),
    }},
    drives: {{ "pitch": {drive} }},
    {extra}
)"#
    )
}

/// A PD(+gravity) drive for the pendulum. Tests step it by up to 1 rad, far beyond
/// the default following-error limit, so the limit is opened up.
pub const PD_DRIVE: &str = r#"(servo: "s", rate_hz: 500, controller: Pid(kp: 60.0, kd: 4.0, gravity_compensation: true),
    supervision: (following_error_rad: 3.0))"#;

/// Writes a scenario extending `base` (relative to the repository) with `body` (the
/// scenario's other fields) into `dir`, and returns its path.
pub fn scenario(dir: &Path, name: &str, base: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.ron"));
    let text = format!(
        "Scenario(\n    extends: {:?},\n{body}\n)\n",
        root().join(base).display().to_string()
    );
    std::fs::write(&p, text).expect("write scenario");
    p
}

/// arm6 with `faults` (RON list items) added to its timeline.
pub fn arm6_with_faults(faults: &str) -> Scene {
    let text = std::fs::read_to_string(root().join("scenes/arm6.ron")).expect("read");
    let text = text.replacen(
        "seed: 42,",
        &format!("seed: 42,\n    faults: [{faults}],"),
        1,
    );
    parse(&text).expect("scene")
}

/// Joint report by name.
pub fn joint<'a>(r: &'a armhil::report::Report, name: &str) -> &'a armhil::report::JointReport {
    r.joints
        .iter()
        .find(|j| j.name == name)
        .unwrap_or_else(|| panic!("no joint {name}"))
}

/// The `armhil` binary, run from the repository root, never opening a window (a
/// developer's DISPLAY would otherwise make `armhil run` open the GUI).
pub fn armhil() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_armhil"));
    c.current_dir(root())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY");
    c
}

/// Python packages from PyPI, installed once into the build directory (`dir` under
/// it) unless `import` already works there; returns the directory for PYTHONPATH.
pub fn python_packages(dir: &str, import: &str, packages: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir);
    let have = std::process::Command::new("python3")
        .args(["-c", &format!("import {import}")])
        .env("PYTHONPATH", &dir)
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let st = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .args(packages)
            .status()
            .expect("python3 -m pip");
        assert!(st.success(), "installing {packages:?} from PyPI failed");
    }
    dir
}
