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

/// Joint `joint`'s events of kind `kind`, in order.
pub fn events<'a>(
    r: &'a armhil::report::Report,
    joint: &str,
    kind: &str,
) -> Vec<&'a armhil::report::Event> {
    r.events
        .iter()
        .filter(|e| e.joint == joint && e.kind == kind)
        .collect()
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
    python_packages_for(Path::new("python3"), dir, import, &[packages])
}

/// Like [`python_packages`] for interpreter `python`, installing each group of
/// `groups` in turn (a group starting with `--no-deps` without its dependencies).
pub fn python_packages_for(python: &Path, dir: &str, import: &str, groups: &[&[&str]]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir);
    let have = std::process::Command::new(python)
        .args(["-c", &format!("import {import}")])
        .env("PYTHONPATH", python_path(&[&dir, &torch_stub(python)]))
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        for packages in groups {
            let st = std::process::Command::new(python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--upgrade",
                    "--target",
                ])
                .arg(&dir)
                .args(*packages)
                .status()
                .expect("python -m pip");
            assert!(st.success(), "installing {packages:?} from PyPI failed");
        }
    }
    dir
}

/// A PYTHONPATH of these directories.
pub fn python_path(dirs: &[&Path]) -> std::ffi::OsString {
    std::env::join_paths(dirs.iter().filter(|d| !d.as_os_str().is_empty())).unwrap_or_default()
}

/// The stand-in for torch's type names (tests/it/python/torch_stub) when `python`
/// has no torch; empty when it has.
pub fn torch_stub(python: &Path) -> PathBuf {
    let has = std::process::Command::new(python)
        .args(["-c", "import torch"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        PathBuf::new()
    } else {
        root().join("tests/it/python/torch_stub")
    }
}

/// A Python >= 3.12 (LeRobot 0.6 needs it): `python3.12` on PATH, else pyenv's.
pub fn python312() -> PathBuf {
    let works = |p: &Path| {
        std::process::Command::new(p)
            .args(["-c", "import sys; assert sys.version_info >= (3, 12)"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut candidates = vec![PathBuf::from("python3.12"), PathBuf::from("python3")];
    if let Some(home) = std::env::var_os("HOME")
        && let Ok(rd) = std::fs::read_dir(Path::new(&home).join(".pyenv/versions"))
    {
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        // 3.12 first (the version LeRobot 0.6 is tested with), then newer ones.
        v.sort_by_key(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("3.12"))
        });
        candidates.extend(v.into_iter().map(|p| p.join("bin/python3")));
    }
    candidates
        .into_iter()
        .find(|p| works(p))
        .expect("LeRobot 0.6 needs Python >= 3.12: install python3.12")
}

/// Where the official servo SDKs are installed for the tests (from PyPI, once).
pub fn python_sdks() -> PathBuf {
    python_packages(
        "pydeps",
        "scservo_sdk, dynamixel_sdk",
        &[
            "dynamixel-sdk==4.1.0",
            "feetech-servo-sdk==1.0.0",
            "pyserial==3.5",
        ],
    )
}

/// Runs tests/it/python/SCRIPT with the official SDKs; asserts it printed PASS.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/it/python").join(script))
        .args(args)
        .env("PYTHONPATH", python_sdks())
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("PASS"),
        "{script} failed:\n{text}"
    );
    text
}

/// A child process that is sent SIGTERM and reaped when dropped, so a test failing
/// midway leaves nothing running; [`Killed::end`] does the same and returns how it
/// exited (reaped once: its PID is never signalled again).
pub struct Killed(Option<std::process::Child>);

impl Killed {
    pub fn new(child: std::process::Child) -> Self {
        Self(Some(child))
    }

    pub fn child(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("a running child")
    }

    /// Sends SIGTERM (the process finishes its report and exits).
    pub fn terminate(&mut self) {
        if let Some(c) = &self.0 {
            // SAFETY: signalling our own child process, not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
    }

    /// Waits for it to end by itself: its status and output.
    #[cfg_attr(not(feature = "ros2"), allow(dead_code))]
    pub fn output(mut self) -> std::process::Output {
        self.0
            .take()
            .expect("a running child")
            .wait_with_output()
            .expect("wait")
    }

    /// SIGTERM, then waits for it: its exit code.
    pub fn end(mut self) -> Option<i32> {
        self.terminate();
        self.0
            .take()
            .and_then(|mut c| c.wait().ok())
            .and_then(|s| s.code())
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.terminate();
        if let Some(mut c) = self.0.take() {
            let _ = c.wait();
        }
    }
}

/// A TCP port on 127.0.0.1 free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// scenes/arm6.ron's joints, in scene order.
pub const ARM6_JOINTS: [&str; 6] = [
    "base_yaw",
    "shoulder_pitch",
    "elbow_pitch",
    "wrist_roll",
    "wrist_pitch",
    "flange_roll",
];

/// Every joint but `except` ended OK and kept every deadline.
pub fn others_kept_their_deadlines(r: &armhil::report::Report, except: &str) {
    for j in r.joints.iter().filter(|j| j.name != except) {
        assert_eq!(
            (j.state, j.deadline_misses),
            (armhil::report::JointHealth::Ok, 0),
            "{}",
            j.name
        );
    }
}
