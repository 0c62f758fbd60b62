//! `armhil test` (many scenes, their expectations, a pass/fail table and JUnit XML)
//! and `armhil fuzz-faults` (seeded random fault schedules checked against
//! invariants). Both validate every input before running anything and spread runs
//! across cores; both exit 1 if anything failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use armhil::batch;
use armhil::faults::fuzz::{self, FuzzConfig};
use armhil::faults::{FaultKind, FaultSpec};
use armhil::report::Report;
use armhil::runtime::{self, RunOptions};
use armhil::scene::Scene;
use armhil::telemetry::junit::{self, SuiteResult};

use super::{BadInput, writable};

#[derive(clap::Args)]
pub struct TestArgs {
    /// Scene files, or directories searched (recursively) for *.ron scenes.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Parallel runs (0 = one per core).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Write each scene's JSON report into DIR.
    #[arg(long, value_name = "DIR")]
    reports: Option<PathBuf>,
    /// Record each scene's run into DIR/<scene>.mcap.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Scenes with serial joints (run in real time): SCHED_FIFO priority for physics,
    /// one below for services, buses and emulated servos (1..=99; needs root or
    /// CAP_SYS_NICE), so that other load on the machine cannot fake link faults.
    #[arg(long, value_name = "N")]
    rt_priority: Option<i32>,
}

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// The scene to fault (its own faults and expectations are ignored).
    scene: PathBuf,
    /// Seeds: `N` or an inclusive range `A..B`, at most 10,000,000 seeds.
    #[arg(long, default_value = "1..100")]
    seeds: String,
    /// Parallel runs (0 = one per core).
    #[arg(long, default_value_t = 0)]
    jobs: usize,
    /// Faults per schedule: 1..=N (1..=8).
    #[arg(long, default_value_t = 3)]
    max_faults: usize,
    /// Tracking bound slack for healthy joints, rad (0 < x <= 1).
    #[arg(long, default_value_t = 0.03)]
    margin: f64,
    /// Simulated seconds per run (default: the scene's duration).
    #[arg(long)]
    duration: Option<f64>,
    /// Write every seed's schedule, verdict and figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Every *.ron under `p` (or `p` itself), sorted.
fn scene_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), BadInput> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| BadInput(format!("{}: cannot list: {e}", p.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "ron") {
                scene_files(&e, out)?;
            }
        }
        Ok(())
    } else if p.exists() {
        out.push(p.to_path_buf());
        Ok(())
    } else {
        Err(BadInput(format!(
            "{}: no such file or directory",
            p.display()
        )))
    }
}

fn bar(len: u64) -> ProgressBar {
    let b = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    b.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} {msg} (ETA {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

/// A run that catches a panic escaping the runtime (that is a bug: it is reported,
/// not propagated).
fn run_caught(scene: &Scene) -> Result<Report, String> {
    run_with(scene, RunOptions::default())
}

fn run_with(scene: &Scene, opts: RunOptions) -> Result<Report, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime::run(scene, &opts, &mut |_, _| {})
    })) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("I/O error: {e}")),
        Err(p) => Err(format!(
            "panic escaped the runtime: {}",
            armhil::runtime::service::panic_message(&p)
        )),
    }
}

pub fn test(a: TestArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for p in &a.paths {
        scene_files(p, &mut files)?;
    }
    // A file named twice (directly and through its directory) runs once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if files.is_empty() {
        return Err(BadInput("no *.ron scenes found in the given paths".into()).into());
    }
    // Everything is validated before anything runs.
    let mut scenes = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        match Scene::load(f) {
            Ok(s) => scenes.push(s),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(BadInput(problems.join("\n")).into());
    }
    if let Some(p) = a.rt_priority
        && !(1..=99).contains(&p)
    {
        return Err(BadInput(format!(
            "--rt-priority: {p} is out of range: expected 1 ..= 99"
        ))
        .into());
    }
    if let Some(j) = &a.junit {
        writable(j, "--junit")?;
    }
    if let Some(d) = &a.reports {
        std::fs::create_dir_all(d)
            .map_err(|e| BadInput(format!("--reports {}: cannot create: {e}", d.display())))?;
    }
    if let Some(d) = &a.record {
        std::fs::create_dir_all(d)
            .map_err(|e| BadInput(format!("--record {}: cannot create: {e}", d.display())))?;
    }
    let pb = bar(scenes.len() as u64);
    // Lockstep scenes run in parallel; scenes with serial joints run in real time and
    // get the machine to themselves, one after the other, afterwards.
    let realtime = |s: &Scene| s.needs_realtime();
    let lock: Vec<usize> = (0..scenes.len())
        .filter(|&k| !realtime(&scenes[k]))
        .collect();
    let rt: Vec<usize> = (0..scenes.len())
        .filter(|&k| realtime(&scenes[k]))
        .collect();
    let mut results: Vec<Option<Result<Report, String>>> =
        (0..scenes.len()).map(|_| None).collect();
    let opts_for = |k: usize, rt: Option<i32>| RunOptions {
        rt_priority: rt,
        record: a.record.as_ref().map(|d| {
            let stem = files[k]
                .file_stem()
                .map_or("scene".into(), |s| s.to_string_lossy());
            armhil::telemetry::recorder::to_file(&d.join(format!("{stem}.mcap")))
        }),
        ..RunOptions::default()
    };
    let done = batch::parallel_map(
        &lock,
        a.jobs,
        |&k| run_with(&scenes[k], opts_for(k, None)),
        |_, _| pb.inc(1),
    );
    for (k, r) in lock.iter().zip(done) {
        results[*k] = Some(r);
    }
    for k in rt {
        results[k] = Some(run_with(&scenes[k], opts_for(k, a.rt_priority)));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let results: Vec<Result<Report, String>> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".into())))
        .collect();
    let width = files
        .iter()
        .map(|f| f.display().to_string().len())
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "{:<width$} {:<6} {:>7} {:>9} {:>8}  first failure",
        "scene", "result", "expect", "sim (s)", "wall (s)"
    );
    let mut failed = 0;
    let mut suites = Vec::new();
    for ((file, scene), res) in files.iter().zip(&scenes).zip(&results) {
        let name = file.display().to_string();
        match res {
            Ok(r) => {
                let ok = r.expectations.iter().filter(|v| v.passed).count();
                let first = r
                    .expectations
                    .iter()
                    .find(|v| !v.passed)
                    .map(|v| format!("{}: {}", v.expectation, v.detail))
                    .or_else(|| r.aborted.clone())
                    .or_else(|| {
                        (!r.passed).then(|| {
                            r.joints
                                .iter()
                                .filter(|j| j.state != armhil::report::JointHealth::Ok)
                                .map(|j| format!("{} ended {}", j.name, j.state.as_str()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                    })
                    .unwrap_or_default();
                failed += usize::from(!r.passed);
                println!(
                    "{name:<width$} {:<6} {:>7} {:>9.2} {:>8.2}  {first}",
                    if r.passed { "PASS" } else { "FAIL" },
                    if scene.expect.is_empty() {
                        "-".to_string()
                    } else {
                        format!("{ok}/{}", r.expectations.len())
                    },
                    r.sim_time_s,
                    r.wall_time_s
                );
                if let Some(d) = &a.reports {
                    let stem = file
                        .file_stem()
                        .map_or("scene".into(), |s| s.to_string_lossy());
                    let p = d.join(format!("{stem}.json"));
                    std::fs::write(&p, r.to_json())
                        .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
                }
            }
            Err(e) => {
                failed += 1;
                println!(
                    "{name:<width$} {:<6} {:>7} {:>9} {:>8}  {e}",
                    "ERROR", "-", "-", "-"
                );
            }
        }
        suites.push(SuiteResult {
            file: name,
            outcome: res.as_ref().map_err(Clone::clone),
        });
    }
    println!(
        "{} scenes: {} passed, {failed} failed",
        scenes.len(),
        scenes.len() - failed
    );
    if let Some(j) = &a.junit {
        std::fs::write(j, junit::document(&suites))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", j.display()))?;
        println!("junit: {}", j.display());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Parses `N` or `A..B` (inclusive).
fn parse_seeds(s: &str) -> Result<(u64, u64), BadInput> {
    let bad = || {
        BadInput(format!(
            "--seeds {s:?}: expected N or A..B with A <= B (at most 10000000 seeds)"
        ))
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let n: u64 = s.trim().parse().map_err(|_| bad())?;
            (n, n)
        }
    };
    if a > b || b - a >= 10_000_000 {
        return Err(bad());
    }
    Ok((a, b))
}

/// One seed's outcome.
#[derive(serde::Serialize)]
struct SeedOutcome {
    seed: u64,
    faults: Vec<FaultSpec>,
    violations: Vec<String>,
    /// (kind, detection latency in control periods) of every detected fault.
    detections: Vec<(String, f64)>,
    /// (kind, recovery s) of every fault that ended and recovered.
    recoveries: Vec<(String, f64)>,
    /// Deadline misses of joints without a fault.
    healthy_misses: u64,
    replay: String,
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

pub fn fuzz(a: FuzzArgs) -> anyhow::Result<ExitCode> {
    let (first, last) = parse_seeds(&a.seeds)?;
    if !(1..=8).contains(&a.max_faults) {
        return Err(BadInput(format!(
            "--max-faults: {} is out of range: expected 1 ..= 8",
            a.max_faults
        ))
        .into());
    }
    if !(a.margin > 0.0 && a.margin <= 1.0) {
        return Err(BadInput(format!(
            "--margin: {} is out of range: expected (0, 1] rad",
            a.margin
        ))
        .into());
    }
    let mut scene = Scene::load(&a.scene)?;
    if let Some(d) = a.duration {
        if !(1.0..=3600.0).contains(&d) {
            return Err(BadInput(format!(
                "--duration: {d} is out of range: expected 1 ..= 3600 s"
            ))
            .into());
        }
        scene.duration_s = d;
    }
    if scene.needs_realtime() {
        return Err(BadInput(format!(
            "{}: fuzz-faults runs lockstep and needs simulated joints only (this scene has serial backends)",
            a.scene.display()
        ))
        .into());
    }
    if let Some(j) = &a.json {
        writable(j, "--json")?;
    }
    scene.faults.clear();
    scene.expect.clear();
    let cfg = FuzzConfig {
        max_faults: a.max_faults,
        margin_rad: a.margin,
    };
    let baseline =
        run_caught(&scene).map_err(|e| anyhow::anyhow!("fault-free baseline run: {e}"))?;
    let seeds: Vec<u64> = (first..=last).collect();
    let file = a.scene.display().to_string();
    let pb = bar(seeds.len() as u64);
    let bad = AtomicUsize::new(0);
    let outcomes = batch::parallel_map(
        &seeds,
        a.jobs,
        |&seed| {
            let faults = fuzz::draw(&scene, seed, &cfg);
            let mut s = scene.clone();
            s.seed = seed;
            s.faults = faults.clone();
            let replay = fuzz::replay_command(&file, seed, &faults);
            let (violations, detections, recoveries, healthy_misses) = match run_caught(&s) {
                Ok(r) => {
                    let v = fuzz::violations(&s, &faults, &r, &baseline, &cfg);
                    let periods = |name: &str| {
                        r.joints
                            .iter()
                            .find(|j| j.name == name)
                            .map_or(1.0, |j| 1.0 / j.rate_hz)
                    };
                    let d = r
                        .faults
                        .iter()
                        .filter_map(|f| {
                            f.detection_latency_s
                                .map(|l| (f.kind.clone(), l / periods(&f.joint)))
                        })
                        .collect();
                    let rec = r
                        .faults
                        .iter()
                        .filter_map(|f| f.recovery_s.map(|x| (f.kind.clone(), x)))
                        .collect();
                    let misses = r
                        .joints
                        .iter()
                        .filter(|j| !faults.iter().any(|f| f.joint == j.name))
                        .map(|j| j.deadline_misses)
                        .sum();
                    (v, d, rec, misses)
                }
                Err(e) => (vec![e], Vec::new(), Vec::new(), 0),
            };
            SeedOutcome {
                seed,
                faults,
                violations,
                detections,
                recoveries,
                healthy_misses,
                replay,
            }
        },
        |_, o: &SeedOutcome| {
            if !o.violations.is_empty() {
                bad.fetch_add(1, Ordering::Relaxed);
            }
            pb.set_message(format!("{} failing", bad.load(Ordering::Relaxed)));
            pb.inc(1);
        },
    );
    pb.finish_and_clear();
    let failing: Vec<&SeedOutcome> = outcomes
        .iter()
        .filter(|o| !o.violations.is_empty())
        .collect();
    let faults_total: usize = outcomes.iter().map(|o| o.faults.len()).sum();
    println!(
        "fuzz-faults {}: {} seeds ({first}..={last}), {faults_total} faults, {} seeds with violations, {} violations",
        file,
        outcomes.len(),
        failing.len(),
        failing.iter().map(|o| o.violations.len()).sum::<usize>()
    );
    println!(
        "healthy joints' deadline misses during faults: {}",
        outcomes.iter().map(|o| o.healthy_misses).sum::<u64>()
    );
    println!(
        "{:<16} {:>7} {:>9} {:>9} {:>9} {:>13} {:>13}",
        "kind", "faults", "det p50", "det p99", "det max", "recovery p50", "recovery max"
    );
    println!(
        "{:<16} {:>7} {:>9} {:>9} {:>9} {:>13} {:>13}",
        "", "", "(T)", "(T)", "(T)", "(ms)", "(ms)"
    );
    let kinds = [
        FaultKind::Panic,
        FaultKind::Hang,
        FaultKind::Slow { ms: 0.0 },
        FaultKind::EncoderStuck,
        FaultKind::EncoderNoise { sigma_rad: 0.0 },
        FaultKind::EncoderOffset { rad: 0.0 },
        FaultKind::TorqueSag { factor: 0.0 },
        FaultKind::ServoError {
            bit: armhil::faults::ServoErrorBit::Overload,
        },
        FaultKind::PowerLoss,
        FaultKind::Jam,
        FaultKind::Abort,
        FaultKind::Crash,
    ];
    for k in kinds {
        let name = k.name();
        let n = outcomes
            .iter()
            .flat_map(|o| &o.faults)
            .filter(|f| f.kind.name() == name)
            .count();
        // Jams are drawn only on scenes with a world, aborts and crashes only on
        // services in their own processes.
        if n == 0 && matches!(k, FaultKind::Jam | FaultKind::Abort | FaultKind::Crash) {
            continue;
        }
        let mut det: Vec<f64> = outcomes
            .iter()
            .flat_map(|o| &o.detections)
            .filter(|(kk, _)| kk == name)
            .map(|(_, l)| *l)
            .collect();
        let mut rec: Vec<f64> = outcomes
            .iter()
            .flat_map(|o| &o.recoveries)
            .filter(|(kk, _)| kk == name)
            .map(|(_, r)| r * 1e3)
            .collect();
        println!(
            "{name:<16} {n:>7} {:>9.2} {:>9.2} {:>9.2} {:>13.1} {:>13.1}",
            pct(&mut det, 0.5),
            pct(&mut det, 0.99),
            pct(&mut det, 1.0),
            pct(&mut rec, 0.5),
            pct(&mut rec, 1.0)
        );
    }
    for o in failing.iter().take(20) {
        println!("seed {} FAILED:", o.seed);
        for v in &o.violations {
            println!("  - {v}");
        }
        println!("  replay: armhil fuzz-faults {file} --seeds {}", o.seed);
        println!("      or: {}", o.replay);
    }
    if failing.len() > 20 {
        println!("... and {} more failing seeds", failing.len() - 20);
    }
    if let Some(j) = &a.json {
        let text = serde_json::to_string_pretty(&outcomes)?;
        std::fs::write(j, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", j.display()))?;
        println!("json: {}", j.display());
    }
    println!(
        "{}",
        if failing.is_empty() {
            "PASSED"
        } else {
            "FAILED"
        }
    );
    Ok(if failing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
