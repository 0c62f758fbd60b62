//! Screenshot mode, exit and frame statistics. `--screenshot FILE --exit-after S`:
//! after S wall-clock seconds the window is captured to a PNG and the app exits once
//! the file is written. Every frame's duration is kept for the p50/p99 in the
//! outcome (BENCHMARKS.md). `--stall-frame-ms` makes each frame that much slower on
//! purpose, to show the run does not care.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::view::window::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use super::{GuiOptions, Outcome};
use crate::app::live::LiveSession;

/// Frame-time figures, ms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameStats {
    pub frames: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What the app should do and when.
#[derive(Resource)]
pub struct ShotPlan {
    screenshot: Option<PathBuf>,
    exit_after: Option<Duration>,
    stall: Duration,
    started: Option<Instant>,
    requested: Option<Instant>,
    captured: Arc<AtomicBool>,
    last_frame: Option<Instant>,
    frame_ms: Vec<f64>,
}

/// Longest wait for the renderer to deliver a requested screenshot.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(30);

impl ShotPlan {
    pub fn new(o: &GuiOptions) -> Self {
        Self {
            screenshot: o.screenshot.clone(),
            exit_after: o.exit_after.map(Duration::from_secs_f64),
            stall: Duration::from_millis(o.stall_frame_ms),
            started: None,
            requested: None,
            captured: Arc::new(AtomicBool::new(false)),
            last_frame: None,
            frame_ms: Vec::new(),
        }
    }

    fn stats(&self) -> FrameStats {
        let mut v = self.frame_ms.clone();
        v.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        FrameStats {
            frames: v.len() as u64,
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            max_ms: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// Once per frame, last: frame time, the deliberate stall, screenshot and exit.
pub fn frame(
    mut commands: Commands,
    mut plan: ResMut<ShotPlan>,
    outcome: Res<Outcome>,
    mut exit: MessageWriter<AppExit>,
) {
    let now = Instant::now();
    let started = *plan.started.get_or_insert(now);
    if let Some(last) = plan.last_frame {
        plan.frame_ms.push((now - last).as_secs_f64() * 1e3);
    }
    plan.last_frame = Some(now);
    if !plan.stall.is_zero() {
        std::thread::sleep(plan.stall);
    }
    let Some(after) = plan.exit_after else { return };
    if now - started < after {
        return;
    }
    let Some(path) = plan.screenshot.clone() else {
        exit.write(AppExit::Success);
        return;
    };
    match plan.requested {
        None => {
            plan.requested = Some(now);
            // Success means a fresh file: never report an old one.
            let _ = std::fs::remove_file(&path);
            let flag = plan.captured.clone();
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(path))
                .observe(move |_: On<ScreenshotCaptured>| flag.store(true, Ordering::Relaxed));
        }
        Some(asked) => {
            // The observer saving the file has run by the frame after the capture.
            if plan.captured.load(Ordering::Relaxed) {
                let written = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
                if !written && let Ok(mut o) = outcome.0.lock() {
                    o.screenshot_error = Some(format!(
                        "{}: the screenshot could not be written",
                        path.display()
                    ));
                }
                exit.write(AppExit::Success);
            } else if now - asked > CAPTURE_TIMEOUT {
                if let Ok(mut o) = outcome.0.lock() {
                    o.screenshot_error = Some(format!(
                        "no frame was captured within {CAPTURE_TIMEOUT:?} (is a GPU or software Vulkan available?)"
                    ));
                }
                exit.write(AppExit::Success);
            }
        }
    }
}

/// When the app exits (window closed or `exit_after`): stop the run and hand its
/// report and the frame figures over.
pub fn on_exit(
    mut exits: MessageReader<AppExit>,
    mut session: ResMut<LiveSession>,
    plan: Res<ShotPlan>,
    outcome: Res<Outcome>,
) {
    if exits.read().next().is_none() {
        return;
    }
    session.0.stop();
    if let Ok(mut o) = outcome.0.lock() {
        o.report = session.0.snapshot.report.clone();
        o.run_error = session.0.snapshot.error.clone();
        o.frames = plan.stats();
    }
}
