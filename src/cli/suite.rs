//! `armhil test` (many scenes, their expectations, a pass/fail table and JUnit XML)
//! and `armhil fuzz-faults` (seeded random fault schedules checked against
//! invariants). Both validate every input before running anything and spread runs
//! across cores; both exit 1 if anything failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use armhil::batch;
use armhil::campaign::merge::Header;
use armhil::campaign::{self, Doc, FuzzDoc, SceneOutcome, SeedOutcome, TestDoc};
use armhil::faults::fuzz::{self, FuzzConfig};
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
    #[command(flatten)]
    zenoh: super::zenoh::ZenohArgs,
    #[command(flatten)]
    campaign: CampaignArgs,
}

/// Sharding and machine-readable output, shared by `test` and `fuzz-faults`.
#[derive(clap::Args)]
pub struct CampaignArgs {
    /// Run one shard of the campaign: K/N (1 <= K <= N), or auto[/N] to take the
    /// index (and total) from the scheduler (Kubernetes JOB_COMPLETION_INDEX, Slurm
    /// array, GitLab parallel, Bazel test sharding). Items go to shards by a stable
    /// hash; `armhil merge` joins the shards' outputs.
    #[arg(long, value_name = "K/N|auto[/N]", value_parser = super::shard::arg)]
    shard: Option<armhil::campaign::ShardArg>,
    /// Validate the arguments and inputs, print the shard plan, run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write every item's outcome as JSON to FILE (what `armhil merge` reads).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
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
    #[command(flatten)]
    zenoh: super::zenoh::ZenohArgs,
    #[command(flatten)]
    campaign: CampaignArgs,
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
fn run_caught(scene: &Scene, opts: &RunOptions) -> Result<Report, String> {
    run_with(scene, opts.clone())
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
    // Everything is validated before anything runs, every shard's scenes included.
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        match Scene::load(f) {
            Ok(s) => all.push(s),
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
    let (shard, from) = super::shard::resolve(a.campaign.shard)?;
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    // The plan: every scene's name and text (the same in every shard of one campaign).
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect();
    let parts: Vec<&str> = names
        .iter()
        .zip(&texts)
        .flat_map(|(n, t)| [n.as_str(), t.as_str()])
        .collect();
    let header = Header {
        version: env!("CARGO_PKG_VERSION").into(),
        shard,
        plan: campaign::doc::plan(&parts),
        items_total: files.len(),
    };
    let mine: Vec<usize> = (0..files.len())
        .filter(|&k| shard.owns(&names[k]))
        .collect();
    if a.campaign.dry_run {
        println!(
            "shard {shard} ({from}): {} of {} scenes, plan {}",
            mine.len(),
            files.len(),
            header.plan
        );
        for &k in &mine {
            println!("  {}", names[k]);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(j) = &a.junit {
        writable(j, "--junit")?;
    }
    if let Some(j) = &a.campaign.json {
        writable(j, "--json")?;
    }
    if let Some(d) = &a.reports {
        std::fs::create_dir_all(d)
            .map_err(|e| BadInput(format!("--reports {}: cannot create: {e}", d.display())))?;
    }
    if let Some(d) = &a.record {
        std::fs::create_dir_all(d)
            .map_err(|e| BadInput(format!("--record {}: cannot create: {e}", d.display())))?;
    }
    let scenes: Vec<&Scene> = mine.iter().map(|&k| &all[k]).collect();
    let pb = bar(scenes.len() as u64);
    // Lockstep scenes run in parallel; scenes with serial joints run in real time and
    // get the machine to themselves, one after the other, afterwards; so do scenes
    // with external controllers (a service's keys serve one run at a time), on one
    // Zenoh session.
    let alone = |s: &Scene| s.needs_realtime() || s.has_external();
    let lock: Vec<usize> = (0..scenes.len()).filter(|&k| !alone(scenes[k])).collect();
    let rt: Vec<usize> = (0..scenes.len()).filter(|&k| alone(scenes[k])).collect();
    let base = a
        .zenoh
        .run_options(scenes.iter().any(|s| s.has_external()))?;
    let mut results: Vec<Option<Result<Report, String>>> =
        (0..scenes.len()).map(|_| None).collect();
    let opts_for = |k: usize, rt: Option<i32>| RunOptions {
        rt_priority: rt,
        record: a.record.as_ref().map(|d| {
            let stem = files[mine[k]]
                .file_stem()
                .map_or("scene".into(), |s| s.to_string_lossy());
            armhil::telemetry::recorder::to_file(&d.join(format!("{stem}.mcap")))
        }),
        ..base.clone()
    };
    let done = batch::parallel_map(
        &lock,
        a.jobs,
        |&k| run_with(scenes[k], opts_for(k, None)),
        |_, _| pb.inc(1),
    );
    for (k, r) in lock.iter().zip(done) {
        results[*k] = Some(r);
    }
    for k in rt {
        let prio = a.rt_priority.filter(|_| scenes[k].needs_realtime());
        results[k] = Some(run_with(scenes[k], opts_for(k, prio)));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let results: Vec<Result<Report, String>> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".into())))
        .collect();
    let width = mine
        .iter()
        .map(|&k| names[k].len())
        .max()
        .unwrap_or(10)
        .max(10);
    if shard.total > 1 {
        println!(
            "shard {shard} ({from}): {} of {} scenes",
            mine.len(),
            files.len()
        );
    }
    println!(
        "{:<width$} {:<6} {:>7} {:>9} {:>8}  first failure",
        "scene", "result", "expect", "sim (s)", "wall (s)"
    );
    let mut failed = 0;
    let mut suites = Vec::new();
    let mut outcomes = Vec::new();
    for ((&k, scene), res) in mine.iter().zip(&scenes).zip(&results) {
        let name = &names[k];
        let o = outcome(k, name, scene, res);
        failed += usize::from(o.result != "PASS");
        let expect = if o.result == "ERROR" || scene.expect.is_empty() {
            "-".to_string()
        } else {
            format!("{}/{}", o.expectations_passed, o.expectations_total)
        };
        let (sim, wall) = match res {
            Ok(r) => (
                format!("{:.2}", r.sim_time_s),
                format!("{:.2}", r.wall_time_s),
            ),
            Err(_) => ("-".into(), "-".into()),
        };
        println!(
            "{name:<width$} {:<6} {expect:>7} {sim:>9} {wall:>8}  {}",
            o.result, o.first_failure
        );
        if let (Some(d), Ok(r)) = (&a.reports, res) {
            let stem = files[k]
                .file_stem()
                .map_or("scene".into(), |s| s.to_string_lossy());
            let p = d.join(format!("{stem}.json"));
            std::fs::write(&p, r.to_json())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))?;
        }
        outcomes.push(o);
        suites.push(SuiteResult {
            index: k,
            file: name.clone(),
            outcome: res.as_ref().map_err(Clone::clone),
        });
    }
    println!(
        "{} scenes: {} passed, {failed} failed",
        scenes.len(),
        scenes.len() - failed
    );
    if let Some(j) = &a.junit {
        std::fs::write(j, junit::document(&suites, &header.junit_name()))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", j.display()))?;
        println!("junit: {}", j.display());
    }
    if let Some(j) = &a.campaign.json {
        let doc = Doc::Test(TestDoc {
            format: campaign::doc::TEST_FORMAT.into(),
            armhil_version: header.version.clone(),
            shard,
            plan: header.plan.clone(),
            items_total: header.items_total,
            scenes: outcomes,
        });
        std::fs::write(j, doc.to_json())
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", j.display()))?;
        println!("json: {}", j.display());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Scene `k`'s outcome for the table and the JSON document.
fn outcome(k: usize, name: &str, scene: &Scene, res: &Result<Report, String>) -> SceneOutcome {
    match res {
        Ok(r) => {
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
            SceneOutcome {
                index: k,
                file: name.to_string(),
                result: if r.passed { "PASS" } else { "FAIL" }.into(),
                expectations_passed: r.expectations.iter().filter(|v| v.passed).count(),
                expectations_total: scene.expect.len().max(r.expectations.len()),
                sim_time_s: r.sim_time_s,
                wall_time_s: r.wall_time_s,
                first_failure: first,
            }
        }
        Err(e) => SceneOutcome {
            index: k,
            file: name.to_string(),
            result: "ERROR".into(),
            expectations_passed: 0,
            expectations_total: scene.expect.len(),
            sim_time_s: 0.0,
            wall_time_s: 0.0,
            first_failure: e.clone(),
        },
    }
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
    let (shard, from) = super::shard::resolve(a.campaign.shard)?;
    let file = a.scene.display().to_string();
    // The plan: the scene's name and text and every setting that decides the
    // schedules and verdicts (the same in every shard of one campaign).
    let text = std::fs::read_to_string(&a.scene).unwrap_or_default();
    let settings = format!(
        "{first}..={last} max_faults {} margin {} duration {}",
        a.max_faults, a.margin, scene.duration_s
    );
    let plan = campaign::doc::plan(&[&file, &text, &settings]);
    let seeds: Vec<u64> = (first..=last)
        .filter(|s| shard.owns(&s.to_string()))
        .collect();
    let total = (last - first + 1) as usize;
    if a.campaign.dry_run {
        let shown: Vec<String> = seeds.iter().take(12).map(u64::to_string).collect();
        let more = if seeds.len() > 12 { ", ..." } else { "" };
        println!(
            "shard {shard} ({from}): {} of {total} seeds of {file}, plan {plan}: {}{more}",
            seeds.len(),
            shown.join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(j) = &a.campaign.json {
        writable(j, "--json")?;
    }
    scene.faults.clear();
    scene.expect.clear();
    let cfg = FuzzConfig {
        max_faults: a.max_faults,
        margin_rad: a.margin,
    };
    // External controllers serve one run at a time: seeds one after another, on one
    // Zenoh session.
    let external = scene.has_external();
    let opts = a.zenoh.run_options(external)?;
    let jobs = if external {
        eprintln!("note: the scene has external controllers: seeds run one at a time");
        1
    } else {
        a.jobs
    };
    let baseline =
        run_caught(&scene, &opts).map_err(|e| anyhow::anyhow!("fault-free baseline run: {e}"))?;
    let pb = bar(seeds.len() as u64);
    let bad = AtomicUsize::new(0);
    let outcomes = batch::parallel_map(
        &seeds,
        jobs,
        |&seed| seed_outcome(&scene, &file, seed, &cfg, &baseline, &opts),
        |_, o: &SeedOutcome| {
            if !o.violations.is_empty() {
                bad.fetch_add(1, Ordering::Relaxed);
            }
            pb.set_message(format!("{} failing", bad.load(Ordering::Relaxed)));
            pb.inc(1);
        },
    );
    pb.finish_and_clear();
    let doc = FuzzDoc {
        format: campaign::doc::FUZZ_FORMAT.into(),
        armhil_version: env!("CARGO_PKG_VERSION").into(),
        shard,
        plan,
        scene: file,
        first_seed: first,
        last_seed: last,
        items_total: total,
        outcomes,
    };
    print!("{}", campaign::fuzz::summary(&doc, Some(20)));
    let passed = doc.outcomes.iter().all(|o| o.violations.is_empty());
    if let Some(j) = &a.campaign.json {
        std::fs::write(j, Doc::Fuzz(doc).to_json())
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", j.display()))?;
        println!("json: {}", j.display());
    }
    println!("{}", if passed { "PASSED" } else { "FAILED" });
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One seed: its schedule drawn, run, and judged against the invariants.
fn seed_outcome(
    scene: &Scene,
    file: &str,
    seed: u64,
    cfg: &FuzzConfig,
    baseline: &Report,
    opts: &RunOptions,
) -> SeedOutcome {
    let faults = fuzz::draw(scene, seed, cfg);
    let mut s = scene.clone();
    s.seed = seed;
    s.faults = faults.clone();
    let replay = fuzz::replay_command(file, seed, &faults);
    let (violations, detections, recoveries, healthy_misses) = match run_caught(&s, opts) {
        Ok(r) => {
            let v = fuzz::violations(&s, &faults, &r, baseline, cfg);
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
}
